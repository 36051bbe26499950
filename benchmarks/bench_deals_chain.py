"""Deals started in Bitrix24 → posted 1C orders, one incremental cycle of `deals_to_orders` through the chain
executor (connector/engine/chain.py), per `sync.in_flight` setting. Printed: requests to each system, how many
write-backs went per Bitrix24 request (one `crm.deal.update` per deal before the chain executor: N requests for N
deals), and the cycle's time with a fixed 1C latency per request (1C steps run `in_flight` at once, bounded by the
OData client's `onec.max_connections`). Asserts nothing.

.venv/bin/python benchmarks/bench_deals_chain.py [--n 120] [--in-flight 1 2] [--onec-latency 0.02]
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, parser  # noqa: E402

from connector.app import Connector  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.logs import configure  # noqa: E402

FLOWS = ["counterparties", "deals_to_orders"]


def main() -> None:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    p = parser(__doc__ or "", 120)
    p.add_argument("--in-flight", type=int, nargs="+", default=[1, 2], help="sync.in_flight values to run")
    p.add_argument("--onec-latency", type=float, default=0.02, help="seconds 1C takes per request")
    args = p.parse_args()
    configure("ERROR", "console")
    base = None
    for in_flight in args.in_flight:
        options = SandboxOptions(orders=12, seed=args.seed, rate_limit="off")
        with Sandbox(options) as box, tempfile.TemporaryDirectory() as tmp:
            env = {**box.env(), "B24_1C_LEDGER": str(Path(tmp) / "ledger.sqlite3")}
            config = load_config(ROOT / "config.example.yaml", env=env)
            config.flows = FLOWS
            config.sync.in_flight = in_flight
            with Connector(config) as conn:
                conn.setup()
                runner = conn.runner("counterparties")
                runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
                company = next(
                    link.target_id
                    for link in conn.ledger.links(
                        "counterparties", conn.ledger.keys("counterparties")
                    ).values()
                    if link.target_id.isdigit()
                )
                product = box.dataset.products[1]
                for n in range(args.n):
                    fields = {"TITLE": f"Цепочка {n}", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
                    deal = conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result
                    row = {
                        "PRODUCT_NAME": product["Description"],
                        "PRICE": product["price"],
                        "QUANTITY": 2,
                    }
                    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
                box.onec_app.knobs.latency = args.onec_latency
                b24_before, onec_before = len(box.portal.calls), len(box.onec_app.log)
                started = time.perf_counter()
                report = conn.runner("deals_to_orders").incremental(30)
                seconds = time.perf_counter() - started
                calls = list(box.portal.calls)[b24_before:]
                onec = Counter(r.method for r in list(box.onec_app.log)[onec_before:])
        top = Counter(c.method for c in calls if not c.batch)
        inside = Counter(c.method for c in calls if c.batch)
        write_backs = inside["crm.deal.update"] + top["crm.deal.update"]
        carrying = sum(
            1 for c in calls if not c.batch and c.method == "batch" and "crm.deal.update" in str(c.params)
        )
        header(
            f"deals_to_orders, {args.n} new deals, in_flight={in_flight}, 1C {args.onec_latency} s a request"
        )
        figure("orders created / failed", f"{report.created} / {report.failed}")
        figure("Bitrix24 requests", sum(top.values()))
        figure("  write-backs (crm.deal.update commands)", write_backs)
        figure("  requests carrying them", carrying + top["crm.deal.update"])
        figure("  write-backs per request", write_backs / max(1, carrying + top["crm.deal.update"]))
        figure("  before the chain executor (one request each)", write_backs)
        figure("1C requests", sum(onec.values()), f"({dict(onec)})")
        figure("cycle", seconds, "s")
        base = base or seconds
        figure("cycle / first setting's", seconds / base)


if __name__ == "__main__":
    main()
