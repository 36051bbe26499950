"""The orders flow in real time against a portal across the internet: each request takes 0.5 s of network latency
and 0.3 s of server time (emulator settings), standard plan. With one request in flight a client sends at most
1 / 0.8 s = 1.25 requests/s against the 2/s drain (about 62 % of the request ceiling); with `sync.in_flight` > 1
the pacer, not the latency, sets the pace. Prints requests answered / (burst + 2 × seconds), 429s and 503s, per
setting. Asserts nothing.

.venv/bin/python benchmarks/bench_in_flight.py [--n 2000] [--in-flight 1 4] [--latency 0.5] [--server-time 0.3]
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_backfill_1c import env_for
from common import ROOT, SandboxSpec, figure, header, parser, ratio, remote_sandbox

from connector.app import Connector
from connector.config import load_config

GOAL = 0.90


class Timeline:
    """When each Bitrix24 request of the client was in flight (perf_counter seconds): where the run sent nothing."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    def install(self) -> Callable[[], None]:
        from connector.bitrix24.client import Bitrix24Client

        real = Bitrix24Client._send
        timeline = self

        def timed(client: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return real(client, *args, **kwargs)
            finally:
                with timeline.lock:
                    timeline.spans.append((started, time.perf_counter()))

        Bitrix24Client._send = timed  # type: ignore[method-assign]

        def undo() -> None:
            Bitrix24Client._send = real  # type: ignore[method-assign]

        return undo

    def quiet(self, start: float, end: float) -> float:
        """Seconds in [start, end] with no request waiting or in flight."""
        covered, reach = 0.0, start
        for a, b in sorted(self.spans):
            a, b = max(a, reach), min(b, end)
            if b > a:
                covered += b - a
                reach = b
        return (end - start) - covered

    def idle(self, start: float, end: float) -> tuple[float, float, float]:
        """(before the first request, with none in flight between requests, after the last reply) in seconds."""
        spans = sorted(self.spans)
        if not spans:
            return end - start, 0.0, 0.0
        gaps, reach = 0.0, spans[0][1]
        for a, b in spans[1:]:
            if a > reach:
                gaps += a - reach
            reach = max(reach, b)
        return spans[0][0] - start, gaps, end - reach


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
            timeline = Timeline()
            undo = timeline.install()
            with Connector(config) as conn:  # a fresh client: its pacer starts empty, as the portal's bucket
                runner = conn.runner("orders")
                started = time.perf_counter()
                report = runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
                ended = time.perf_counter()
                seconds = ended - started
            undo()
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
        first, gaps, last = timeline.idle(started, ended)
        figure(
            "no request waiting or in flight: before the first / between / after the last",
            f"{first:.1f} / {gaps:.1f} / {last:.1f} s",
        )
        figure("load average (1 min) at the end", f"{os.getloadavg()[0]:.1f}")
        ratio(
            "of the request ceiling (burst + rate × s)",
            answered / ceiling,
            f"≥ {GOAL:.0%}",
            answered / ceiling >= GOAL,
        )


if __name__ == "__main__":
    main()
