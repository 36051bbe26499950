"""Requests a full backfill (every flow of config.example.yaml, `b24-1c backfill` minus its progress bar) sends to
Bitrix24 against the minimum the data requires: ceil(C / 50), C = the write commands sent (adds, updates, row
sets, payment steps...) + one lookup command per 50 objects created (each create is looked up by key first).
Goal: at most 1.05 × the minimum. Limits off by default, so the figure is about requests, not time; with
`--plan standard` the portal and the connector's pacer keep the standard plan (50 burst, 2 req/s, real time) and the
run also prints its share of the request ceiling over its wall time (goal: at least 95 %); setup runs in a client of
its own before, as `b24-1c setup` does, and both buckets are empty when the backfill starts. Asserts nothing.

.venv/bin/python benchmarks/bench_requests.py [--n 1000] [--plan off|standard] [--lookup-per-request]
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_backfill_1c import env_for
from bench_in_flight import Timeline
from common import ROOT, SandboxSpec, figure, header, parser, ratio, remote_sandbox

from connector.app import Connector
from connector.config import load_config
from connector.engine.runner import hand_over

GOAL = 1.05
WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay", ".complete", ".bind", ".unbind")


def tally(before: list[Any], after: list[Any]) -> tuple[int, int, int, Counter[str]]:
    """(top-level requests, write commands, creates, commands by method) between two call-log counts."""
    delta: Counter[tuple[str, bool, int]] = Counter({(m, b, s): n for m, b, s, n in after})
    delta.subtract({(m, b, s): n for m, b, s, n in before})
    requests = sum(n for (_, batch, _), n in delta.items() if not batch)
    by_method: Counter[str] = Counter()
    for (method, _in_batch, _), n in delta.items():
        if method != "batch":
            by_method[method] += n
    writes = sum(n for m, n in by_method.items() if m.endswith(WRITES))
    creates = sum(n for m, n in by_method.items() if m.endswith(".add"))
    return requests, writes, creates, by_method


def refused(before: list[Any], after: list[Any]) -> tuple[int, int]:
    """Top-level requests the portal answered 503 (request intensity) and 429 (operating time) in between."""
    delta: Counter[int] = Counter({s: 0 for s in (503, 429)})
    for sign, rows in ((-1, before), (1, after)):
        for _, batch, status, n in rows:
            if not batch and status in delta:
                delta[status] += sign * n
    return delta[503], delta[429]


def main() -> None:
    p = parser(__doc__ or "", 1000)
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    p.add_argument(
        "--plan", choices=["off", "standard"], default="off", help="the portal's limits (real time)"
    )
    p.add_argument(
        "--no-hand-over",
        action="store_true",
        help="no flow's first page read while the flow before it writes (engine/runner.py hand_over)",
    )
    p.add_argument(
        "--no-rides",
        action="store_true",
        help="no read rides in a write batch (bitrix24/rides.py): every read round is a request of its own",
    )
    p.add_argument(
        "--lookup-per-request",
        action="store_true",
        help="look deals up one crm.deal.list request per 50 keys, as before (shows the orders flow's excess)",
    )
    args = p.parse_args()
    if args.lookup_per_request:
        from connector.flows.orders.target import DealWriter

        def one_request_each(
            self: DealWriter,
            parts: list[list[str]],
            filters: list[dict[str, Any]],
            field: str,
            select: list[str],
        ) -> list[list[dict[str, Any]]]:
            cols = ["ID", *dict.fromkeys(f for f in [field, *select] if f != "ID")]
            return [
                [r for page in self.client.list_keyset("crm.deal.list", f, cols) for r in page]
                for f in filters
            ]

        DealWriter._lists = one_request_each  # type: ignore[method-assign]
    spec = SandboxSpec(orders=args.n, seed=args.seed, rate_limit=args.plan, keep_calls=True)
    with remote_sandbox(spec) as box, tempfile.TemporaryDirectory() as tmp:
        env = {**env_for(box, Path(tmp) / "ledger.sqlite3"), "B24_PLAN": args.plan}
        config = load_config(args.root / "config.example.yaml", env=env)
        with Connector(config) as conn:  # `b24-1c setup`, then `b24-1c backfill` in a process of its own
            conn.setup()
        # The backfill starts from an empty bucket, as the ceiling assumes: the portal's, and the pacer's of a fresh
        # client (setup's pacer still counts setup's requests: reused, it waited for room the portal had).
        box.ask("empty_bucket")
        paced = (0.0, 0.0)
        with Connector(config) as conn:
            timeline = Timeline()
            undo = timeline.install()
            started = time.perf_counter()
            before = box.ask("counts")
            per_flow: list[tuple[str, int, int, int]] = []
            windows: list[tuple[str, float, float]] = []
            conn.bitrix24.rides.enabled = not args.no_rides
            runners = [(name, conn.runner(name)) for name in conn.flows(None)]
            since = [datetime(2017, 1, 1, tzinfo=runner.tz) for _, runner in runners]
            if not args.no_hand_over:  # as `b24-1c backfill` does (engine/runner.py hand_over)
                hand_over([(r, s, None) for (_, r), s in zip(runners, since, strict=True)], restart=False)
            for (name, runner), first in zip(runners, since, strict=True):
                start = box.ask("counts")
                t0 = time.perf_counter()
                runner.backfill(first, None)
                windows.append((name, t0, time.perf_counter()))
                sent, writes, creates, _ = tally(start, box.ask("counts"))
                per_flow.append((name, sent, writes, creates))
            after = box.ask("counts")
            ended = time.perf_counter()
            seconds = ended - started
            undo()
            pacer = conn.bitrix24.pacer
            if pacer is not None:  # what the client's own bucket says at the end (it drains to now)
                pacer.bucket.delay(conn.clock.monotonic())
                paced = (pacer.waited, pacer.bucket.level)
    requests, writes, creates, by_method = tally(before, after)
    minimum = math.ceil((writes + math.ceil(creates / 50)) / 50)
    header("per flow: requests / write commands / creates / minimum for the flow alone")
    for name, sent, w, c in per_flow:
        alone = math.ceil((w + math.ceil(c / 50)) / 50)
        figure(name, f"{sent} / {w:,} / {c:,} / {alone}")
    header(f"full backfill, {args.n:,} orders, every configured flow")
    figure("requests sent (top level)", requests)
    figure("write commands / of them creates", f"{writes:,} / {creates:,}")
    figure("minimum requests ceil((writes + creates/50) / 50)", minimum)
    figure("requests / minimum", requests / minimum, "×")
    ratio(
        "minimum / requests", minimum / requests, f"requests ≤ {GOAL} × minimum", requests <= GOAL * minimum
    )
    if args.plan != "off":
        ceiling = box.burst + box.rate * seconds
        header(f"{args.plan} plan, real time (load average {os.getloadavg()[0]:.1f})")
        figure("seconds", seconds, "s")
        first, gaps, last = timeline.idle(started, ended)
        figure("the pacer: waited for room / its bucket at the end", f"{paced[0]:.1f} s / {paced[1]:.1f}")
        no_room, no_time = refused(before, after)
        figure("answered 503 / 429 (the ratio is fair only with none)", f"{no_room} / {no_time}")
        figure(
            "no request waiting or in flight: before the first / between / after the last",
            f"{first:.1f} / {gaps:.1f} / {last:.1f} s",
        )
        ratio("requests / (burst + rate × seconds)", requests / ceiling, "≥ 95 %", requests / ceiling >= 0.95)
        header("per flow: seconds / of them with no request waiting or in flight")
        for name, t0, t1 in windows:
            figure(name, f"{t1 - t0:.1f} / {timeline.quiet(t0, t1):.1f} s")
    header("commands by method (batch sub-commands and plain calls)")
    for method, n in by_method.most_common():
        figure(method, n)


if __name__ == "__main__":
    main()
