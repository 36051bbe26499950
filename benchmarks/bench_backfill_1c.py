"""Full `b24-1c backfill` (every flow of config.example.yaml) at two sizes: time, 1C requests and 1C emulator CPU
per order, and the ratio of the larger size to the smaller (linear reads: 1.0). Prints; asserts nothing.

.venv/bin/python benchmarks/bench_backfill_1c.py [--sizes 1000 5000] [--by-reference] [--no-index] [--queries]

`--by-reference` makes the money facts look documents up by the orders' references 40 at a time (`any()` filters
over the rows, what every run did before the whole read) to show the quadratic cost. `--no-index` turns the 1C
emulator's indexes off (`B24_1C_ONEC_INDEXES=off`: every read scans the whole set, as before issue 13 goal 3).
`--queries` prints the 1C requests by kind of query with the emulator CPU each kind took.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import ROOT, SandboxSpec, figure, header, parser, remote_sandbox

from connector.app import Connector
from connector.config import load_config
from connector.flows import facts

GROWTH = 1.2  # goal 3: per-order 1C requests and emulator CPU at the larger size within 1.2 × the smaller's


def env_for(box: Any, ledger: Path) -> dict[str, str]:
    from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER

    ws = box.odata_url.replace("/odata/standard.odata/", "/ws/CrmExchange.1cws")
    return {
        "B24_WEBHOOK_URL": box.webhook_url,
        "ONEC_ODATA_URL": box.odata_url,
        "ONEC_USER": ONEC_USER,
        "ONEC_PASSWORD": ONEC_PASSWORD,
        "ONEC_SOAP_URL": ws + "?wsdl",
        "ONEC_SOAP_ENDPOINT": ws,
        "ONEC_TIMEZONE": "Europe/Moscow",
        "B24_PLAN": "off",
        "B24_1C_LEDGER": str(ledger),
        "B24_1C_LOG_LEVEL": "WARNING",
    }


def run(n: int, seed: int, root: Path, queries: bool = False) -> dict[str, float]:
    spec = SandboxSpec(orders=n, seed=seed, rate_limit="off", keep_calls=False)
    with remote_sandbox(spec) as box, tempfile.TemporaryDirectory() as tmp:
        config = load_config(root / "config.example.yaml", env=env_for(box, Path(tmp) / "ledger.sqlite3"))
        with Connector(config) as conn:
            conn.setup()
            start_1c = box.ask("onec")
            started, cpu = time.perf_counter(), time.process_time()
            for name in conn.flows(None):
                runner = conn.runner(name)
                runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            end_1c = box.ask("onec")
    requests = end_1c["requests"] - start_1c["requests"]
    onec_cpu = end_1c["cpu"] - start_1c["cpu"]
    out = {
        "orders": n,
        "seconds": seconds,
        "ms_per_order": seconds / n * 1000,
        "onec_requests_per_order": requests / n,
        "onec_cpu_ms_per_order": onec_cpu / n * 1000,
        "connector_cpu_ms_per_order": cpu / n * 1000,
    }
    header(f"{n:,} orders ({spec.rate_limit} limits, dataset {box.generated:.1f} s)")
    figure("backfill wall time", seconds, "s")
    figure("per order", out["ms_per_order"], "ms")
    figure("1C requests", requests)
    figure("1C requests per order", out["onec_requests_per_order"])
    figure("1C emulator CPU per order", out["onec_cpu_ms_per_order"], "ms")
    figure("connector CPU per order", out["connector_cpu_ms_per_order"], "ms")
    if queries:
        print_queries(start_1c["shapes"], end_1c["shapes"])
    return out


def print_queries(before: dict[str, list[float]], after: dict[str, list[float]]) -> None:
    """The backfill's 1C requests by kind of query (literals blanked), most emulator CPU first."""
    rows = []
    for shape, (requests, cpu) in after.items():
        was = before.get(shape, [0, 0.0])
        if requests > was[0]:
            rows.append((cpu - was[1], int(requests - was[0]), shape))
    header("1C queries of the backfill (emulator CPU, requests, query)")
    for cpu, requests, shape in sorted(rows, reverse=True):
        print(f"   {cpu * 1000:9.1f} ms {requests:6,}  {shape}")


def main() -> None:
    p = parser(__doc__ or "", 0)
    p.add_argument("--sizes", type=int, nargs=2, default=[1000, 5000], help="the two sizes (orders)")
    p.add_argument("--by-reference", action="store_true", help="money facts by 40-order any() lookups")
    p.add_argument("--no-index", action="store_true", help="the 1C emulator without its indexes (scans)")
    p.add_argument("--queries", action="store_true", help="print the 1C requests by kind of query")
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    args = p.parse_args()
    if args.by_reference:
        facts.WHOLE_READ_FROM = 10**12
    if args.no_index:  # read by the emulator's child process, forked below
        os.environ["B24_1C_ONEC_INDEXES"] = "off"
    small, large = (run(n, args.seed, args.root, args.queries) for n in args.sizes)
    header(f"{large['orders']:,} / {small['orders']:,} orders, per order (1.0 = linear)")
    for key, label, goal in (
        ("ms_per_order", "backfill time per order", None),
        ("onec_requests_per_order", "1C requests per order", GROWTH),
        ("onec_cpu_ms_per_order", "1C emulator CPU per order", GROWTH),
        ("connector_cpu_ms_per_order", "connector CPU per order", None),
    ):
        judge(label, large[key] / small[key] if small[key] else 0.0, goal)
    judge(
        "1C emulator CPU / connector CPU at the larger",
        large["onec_cpu_ms_per_order"] / large["connector_cpu_ms_per_order"],
        1.0,
    )


def judge(label: str, value: float, goal: float | None) -> None:
    """A figure and, where issue 13 goal 3 sets one, its ratio to the goal (met when at most 1.0)."""
    if goal is None:
        figure(label, value, "×")
    else:
        verdict = "met" if value <= goal else "MISSED"
        print(f"   {label:<44} {value:.3f} ×   (goal ≤ {goal}: {value / goal:.2f} of it, {verdict})")


if __name__ == "__main__":
    main()
