"""Full `b24-1c backfill` (every flow of config.example.yaml) at two sizes: time, 1C requests and 1C emulator CPU
per order, and the ratio of the larger size to the smaller (linear reads: 1.0). Prints; asserts nothing.

.venv/bin/python benchmarks/bench_backfill_1c.py [--sizes 1000 5000] [--by-reference]

`--by-reference` makes the money facts look documents up by the orders' references 40 at a time (`any()` filters
over the rows, what every run did before the whole read) to show the quadratic cost.
"""

from __future__ import annotations

import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import ROOT, SandboxSpec, figure, header, parser, remote_sandbox

from connector.app import Connector
from connector.config import load_config
from connector.flows import facts


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


def run(n: int, seed: int, root: Path) -> dict[str, float]:
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
    return out


def main() -> None:
    p = parser(__doc__ or "", 0)
    p.add_argument("--sizes", type=int, nargs=2, default=[1000, 5000], help="the two sizes (orders)")
    p.add_argument("--by-reference", action="store_true", help="money facts by 40-order any() lookups")
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    args = p.parse_args()
    if args.by_reference:
        facts.WHOLE_READ_FROM = 10**12
    small, large = (run(n, args.seed, args.root) for n in args.sizes)
    header(f"{large['orders']:,} / {small['orders']:,} orders, per order (1.0 = linear)")
    for key, label in (
        ("ms_per_order", "backfill time per order"),
        ("onec_requests_per_order", "1C requests per order"),
        ("onec_cpu_ms_per_order", "1C emulator CPU per order"),
        ("connector_cpu_ms_per_order", "connector CPU per order"),
    ):
        figure(label, large[key] / small[key] if small[key] else 0.0, "×")
    figure(
        "1C emulator CPU / connector CPU at the larger",
        large["onec_cpu_ms_per_order"] / large["connector_cpu_ms_per_order"],
        "",
    )


if __name__ == "__main__":
    main()
