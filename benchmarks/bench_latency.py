"""Near-real-time (issue 13 goal 5): seconds from a change on one side to the other side showing it, with the daemon
(`Daemon`, APScheduler, every flow of config.example.yaml) on the shipped schedule (config `schedule:`, by default
schedules/default.yaml), in real time, against the sandbox in this process.

After a backfill of every flow, a writer makes one change on each side every `--gap` seconds, `--changes` times:
- 1C: alternately a new posted customer order (shown when its deal exists) and a posted bank receipt on an order
  already synced (shown when the deal's UF_CRM_1C_PAID_AMOUNT changes);
- Bitrix24: a deal started in the CRM (made before the daemon starts, at stage NEW) moved to EXECUTING, a stage the
  deals → orders flow watches (shown when 1C holds its order, posted).
A watcher polls both emulators' stores every 0.25 s. Printed per direction: changes, shown, median, 95th percentile
and max seconds, and the 95th percentile's ratio to the goal (60 s; a change never shown counts as missed). Run with
an old schedule (`--schedule`, e.g. every flow at 5m) to see the goal missed. Asserts nothing.

.venv/bin/python benchmarks/bench_latency.py [--n 300] [--changes 50] [--gap 2] [--schedule FILE] [--plan]
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, parser  # noqa: E402

from connector import daemon as daemon_module  # noqa: E402
from connector.app import Connector  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.logs import configure  # noqa: E402
from connector.schedule import load_schedule  # noqa: E402

GOAL = 60.0
ORDER = "Document_ЗаказКлиента"
PAID = "UF_CRM_1C_PAID_AMOUNT"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


class Watch:
    """Changes made (what to look for, when) and when each was first seen on the other side."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, str], tuple[float, Any]] = {}  # (kind, key) -> (made at, expected)
        self.seen: dict[str, list[float]] = {"1C → Bitrix24": [], "Bitrix24 → 1C": []}
        self.made: dict[str, int] = {"1C → Bitrix24": 0, "Bitrix24 → 1C": 0}

    def add(self, kind: str, key: str, expected: Any = None) -> None:
        with self.lock:
            self.pending[(kind, key)] = (time.monotonic(), expected)
            self.made["Bitrix24 → 1C" if kind == "stage" else "1C → Bitrix24"] += 1

    def poll(self, box: Any) -> None:
        with self.lock:
            if not self.pending:
                return
            items = list(self.pending.items())
        deals = {str(d.get("ORIGIN_ID") or ""): d for d in box.portal.deals()}
        numbers = {
            str(o.get("НомерПоДаннымКлиента") or "").strip(): o
            for o in box.infobase.all(ORDER)
            if o.get("Posted")
        }
        now = time.monotonic()
        for (kind, key), (made, expected) in items:
            if kind == "order":
                shown = key in deals
            elif kind == "receipt":
                deal = deals.get(key)
                shown = deal is not None and deal.get(PAID) != expected
            else:
                shown = f"B24-{key}" in numbers
            if shown:
                with self.lock:
                    self.pending.pop((kind, key), None)
                    self.seen["Bitrix24 → 1C" if kind == "stage" else "1C → Bitrix24"].append(now - made)


def crm_deals(conn: Connector, box: Any, count: int) -> list[str]:
    """Deals a manager started in the CRM for synced companies, at NEW (not watched yet)."""
    companies = [
        link.target_id
        for link in conn.ledger.links("counterparties", list(conn.ledger.keys("counterparties"))).values()
        if link.target_id.isdigit()
    ]
    out = []
    for i in range(count):
        item = box.dataset.products[i % len(box.dataset.products)]
        fields = {
            "TITLE": f"Сделка из CRM {i}",
            "COMPANY_ID": companies[i % len(companies)],
            "STAGE_ID": "NEW",
        }
        deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
        row = {"PRODUCT_NAME": item["Description"], "PRICE": item["price"], "QUANTITY": 2}
        conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
        out.append(deal)
    return out


def main() -> None:
    p = parser(__doc__.splitlines()[0], 300)  # --n: orders in the sandbox
    p.add_argument("--changes", type=int, default=50, help="changes on each side")
    p.add_argument("--gap", type=float, default=2.0, help="seconds between changes")
    p.add_argument("--schedule", type=Path, default=None, help="schedule file (default: the config's)")
    p.add_argument("--wait", type=float, default=400.0, help="seconds to wait for the last changes to show")
    p.add_argument("--plan", action="store_true", help="add the default exchange plan's nodes first")
    args = p.parse_args()
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    configure("ERROR")
    watch = Watch()
    with (
        TemporaryDirectory() as tmp,
        Sandbox(SandboxOptions(orders=args.n, seed=args.seed, rate_limit="off")) as box,
    ):
        env = {**box.env(), "B24_1C_LEDGER": str(Path(tmp) / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "ERROR"}
        config = load_config(ROOT / "config.example.yaml", env=env)
        schedule = load_schedule(args.schedule or config.schedule, config.flows)
        with Connector(config) as conn:
            conn.setup()
            if args.plan:  # as an admin would: these flows then read SelectChanges
                from connector.flows.onec_source import DEFAULT_PLAN

                for flow in ("managers", "counterparties", "orders", "money", "invoices"):
                    node = {"Code": f"{conn.installation_id}-{flow}", "Description": f"b24-1c {flow}"}
                    box.infobase.insert(DEFAULT_PLAN, node)
            for flow in config.flows:
                conn.runner(flow).backfill(datetime(2017, 1, 1, tzinfo=conn.onec_tz), None)
            started_in_crm = crm_deals(conn, box, args.changes)
            synced = [d["ORIGIN_ID"] for d in box.portal.deals() if d.get("ORIGIN_ID")]
            header(
                "(l) from a change to the other side showing it, the daemon on its shipped schedule",
                [
                    f"{args.n} orders; {args.changes} changes on each side, one every {args.gap:g} s"
                    + (
                        "; exchange plan nodes for managers, counterparties, orders, money, invoices"
                        if args.plan
                        else ""
                    )
                    + "; schedule: "
                    + ", ".join(f"{f} {s.every or s.cron} ±{s.jitter}" for f, s in schedule.items())
                ],
            )
            daemon = daemon_module.Daemon(conn, schedule)
            stop = threading.Event()

            def write() -> None:
                stop.wait(5)  # the daemon's first cycles (every flow runs once at start)
                for i in range(args.changes):
                    if stop.is_set():
                        return
                    now = conn.clock.now().astimezone(conn.onec_tz).replace(tzinfo=None, microsecond=0)
                    if i % 2 == 0:
                        order = box.dataset.order(now - timedelta(minutes=1))
                        watch.add("order", order["Ref_Key"])
                    else:
                        ref = synced[(i * 7) % len(synced)]
                        deal = next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == ref)
                        order = box.infobase.get(ORDER, ref)
                        box.dataset.receipt(order, 100.0 + i, now - timedelta(seconds=30))
                        watch.add("receipt", ref, deal.get(PAID))
                    deal_id = started_in_crm[i]
                    conn.bitrix24.call(
                        "crm.deal.update", {"id": deal_id, "fields": {"STAGE_ID": "EXECUTING"}}, write=True
                    )
                    watch.add("stage", deal_id)
                    stop.wait(args.gap)

            def look() -> None:
                deadline: float | None = None
                while not stop.wait(0.25):
                    watch.poll(box)
                    if writer.is_alive():
                        continue
                    deadline = deadline or time.monotonic() + args.wait
                    if not watch.pending or time.monotonic() > deadline:
                        break
                stop.set()
                conn.stop.set()
                daemon.scheduler.shutdown(wait=False)

            writer = threading.Thread(target=write, daemon=True)
            watcher = threading.Thread(target=look, daemon=True)
            writer.start()
            watcher.start()
            began = time.monotonic()
            daemon.start(install_signals=False)
            elapsed = time.monotonic() - began
    figure("seconds the daemon ran", f"{elapsed:.1f}")
    for direction, seen in watch.seen.items():
        made = watch.made[direction]
        header(direction)
        figure("changes made / shown", f"{made} / {len(seen)}")
        if not seen:
            continue
        figure("seconds: median", percentile(seen, 0.5))
        figure(
            "seconds: 95th percentile (missed = ∞)",
            p95 := percentile(seen + [1e9] * (made - len(seen)), 0.95),
        )
        figure("seconds: max", max(seen))
        met = p95 <= GOAL
        print(f"   {'p95 / goal (60 s)':<44} {p95 / GOAL:.2f}   ({'met' if met else 'MISSED'})")


if __name__ == "__main__":
    main()
