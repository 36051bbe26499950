"""The orders flow in real time against a portal across the internet: each request takes 0.5 s of network latency
and 0.3 s of server time (emulator settings), standard plan. With one request in flight a client sends at most
1 / 0.8 s = 1.25 requests/s against the 2/s drain (about 62 % of the request ceiling); with `sync.in_flight` > 1
the pacer, not the latency, sets the pace. Prints requests answered / (burst + 2 × seconds), 429s and 503s, per
setting. Asserts nothing.

.venv/bin/python benchmarks/bench_in_flight.py [--n 2000] [--in-flight 1 4] [--latency 0.5] [--server-time 0.3]
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path

from bench_backfill_1c import env_for
from common import ROOT, SandboxSpec, figure, header, parser, ratio, remote_sandbox

from connector.app import Connector
from connector.config import load_config

GOAL = 0.90


def main() -> None:
    p = parser(__doc__ or "", 2000)
    p.add_argument("--in-flight", type=int, nargs="+", default=[1, 4], help="sync.in_flight values to run")
    p.add_argument("--latency", type=float, default=0.5, help="network round trip per request, seconds")
    p.add_argument(
        "--server-time", type=float, default=0.3, help="time inside the portal per request, seconds"
    )
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    args = p.parse_args()
    for in_flight in args.in_flight:
        spec = SandboxSpec(orders=args.n, seed=args.seed, rate_limit="standard", keep_calls=True)
        with remote_sandbox(spec) as box, tempfile.TemporaryDirectory() as tmp:
            env = {**env_for(box, Path(tmp) / "ledger.sqlite3"), "B24_PLAN": "standard"}
            config = load_config(args.root / "config.example.yaml", env=env)
            config.sync.in_flight = in_flight
            with Connector(config) as conn:  # companies first (orders point at them), without latency
                conn.setup()
                runner = conn.runner("counterparties")
                runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
            box.ask("settings", {"latency": args.latency, "server_time": args.server_time})
            box.ask("empty_bucket")
            before = box.ask("calls")
            with Connector(config) as conn:  # a fresh client: its pacer starts empty, as the portal's bucket
                runner = conn.runner("orders")
                started = time.perf_counter()
                report = runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
                seconds = time.perf_counter() - started
            after = box.ask("calls")
        answered = after["ok"] - before["ok"]
        ceiling = box.burst + box.rate * seconds
        header(
            f"orders flow, {args.n:,} orders, in_flight={in_flight}, latency {args.latency} s + "
            f"server {args.server_time} s per request"
        )
        figure("orders created / updated / failed", f"{report.created} / {report.updated} / {report.failed}")
        figure("seconds", seconds, "s")
        figure("requests answered (200)", answered)
        figure("503 / 429", f"{after['503'] - before['503']} / {after['429'] - before['429']}")
        figure("requests/s achieved vs allowed", f"{answered / seconds:.2f} vs {box.rate:.2f}")
        ratio(
            "of the request ceiling (burst + rate × s)",
            answered / ceiling,
            f"≥ {GOAL:.0%}",
            answered / ceiling >= GOAL,
        )


if __name__ == "__main__":
    main()
