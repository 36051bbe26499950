"""`b24-1c demo` (lives with the sandbox, which the product never imports): the sandbox, a backfill of every flow, simulated 1C edits, one incremental cycle, and a report."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from b24_1c_sandbox.runner import Sandbox, SandboxOptions
from connector.app import Connector
from connector.config import load_config
from connector.engine.runner import RunReport, hand_over
from connector.init import init_dir
from connector.logs import configure

SINCE = datetime(2017, 1, 1)


def _row(table: Table, step: str, r: RunReport) -> None:
    table.add_row(
        step,
        r.flow,
        str(r.read),
        str(r.created),
        str(r.updated),
        str(r.skipped),
        str(r.failed),
        f"{r.seconds:.2f}",
    )


def run_demo(out: Console, orders: int = 600, seed: int = 7) -> int:
    """Returns the exit code: 0 when Bitrix24 ends up holding exactly the posted 1C orders, once each."""
    configure("WARNING")
    started = time.monotonic()
    table = Table(title="b24-1c demo")
    for col in ("step", "flow", "read", "created", "updated", "skipped", "failed", "seconds"):
        table.add_column(col, justify="left" if col in ("step", "flow") else "right")
    with (
        tempfile.TemporaryDirectory(prefix="b24-1c-demo-") as tmp,
        Sandbox(SandboxOptions(orders=orders, seed=seed, rate_limit="enterprise")) as box,
    ):
        assert box.dataset is not None
        now = box.infobase.now().replace(microsecond=0)  # the 1C server's wall clock
        recent = [box.dataset.order(now - timedelta(days=d)) for d in (2, 4, 6)]  # edited after the backfill
        # An Enterprise portal (burst 250, 5 req/s); the connector paces itself to the same plan.
        # The demo's own config: what `b24-1c init` writes (the defaults shipped inside the product's wheel).
        init_dir(Path(tmp) / "config", ledger=Path(tmp) / "ledger.sqlite3")
        config = load_config(Path(tmp) / "config" / "config.yaml", env=box.env())
        out.print(
            f"sandbox: Bitrix24 at {box.webhook_url.split('/rest/')[0]}, 1C at {box.odata_url}",
            highlight=False,
        )
        out.print(
            f"1C holds {orders + 3} customer orders dated 2017-01-01 … today; flows: {', '.join(config.flows)}",
            highlight=False,
        )
        failed = 0
        with Connector(config) as conn:
            for name, state in conn.setup():
                out.print(f"setup: {name} {state}", highlight=False)
            reports: list[tuple[str, Any]] = []
            since = SINCE.replace(tzinfo=conn.onec_tz)
            runners = [(flow, conn.runner(flow)) for flow in config.flows]
            hand_over([(runner, since, None) for _, runner in runners], restart=False)  # as `b24-1c backfill`
            for _, runner in runners:
                reports.append(("backfill since 2017", runner.backfill(since, None)))
            for flow in config.flows:
                reports.append(
                    (
                        "backfill again (resume)",
                        conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None),
                    )
                )
            new = [box.dataset.order(now - timedelta(minutes=m)) for m in (1, 2, 3, 4, 5)]
            for o in recent:
                box.dataset.edit_order(o["Ref_Key"])
                box.dataset.receipt(
                    box.infobase.get("Document_ЗаказКлиента", o["Ref_Key"]) or o,
                    1000.0,
                    now - timedelta(minutes=30),
                )
            started_in_crm = _deal_from_crm(conn, box) if "deals_to_orders" in config.flows else None
            for flow in config.flows:
                reports.append(
                    ("incremental cycle", conn.runner(flow).incremental(config.sync.lookback_days))
                )
            b24_requests = conn.bitrix24.stats.requests
            from_crm = _order_for(box, started_in_crm) if started_in_crm else None
            onec_requests = conn.odata.requests
            waiting = len(conn.ledger.dead_letters(None, ("open", "waiting")))
            managers = conn.ledger.link_count("managers")
        for step, report in reports:
            _row(table, step, report)
            failed += report.failed
        deals = box.portal.deals()
        origins = Counter(d["ORIGIN_ID"] for d in deals if d.get("ORIGINATOR_ID") == config.installation_id)
        eligible = {
            o["Ref_Key"]
            for o in box.infobase.all("Document_ЗаказКлиента")
            if o["Posted"] and not o["DeletionMark"]
        }
        assigned = Counter(d["ASSIGNED_BY_ID"] for d in deals)
        # Smart invoices: one per posted 1C invoice whose basis order is a deal, never twice.
        ours = f"{config.installation_id}:"
        items = [
            i
            for i in box.portal.entities.get("smart_invoice", {}).values()
            if str(i.get("XML_ID") or "").startswith(ours)
        ]
        invoiced = Counter(str(i["XML_ID"]) for i in items)
        invoices = {
            f"{ours}{i['Ref_Key']}"
            for i in box.infobase.all("Document_СчетНаОплатуКлиенту")
            if i["Posted"] and not i["DeletionMark"] and i.get("ДокументОснование") in eligible
        }
        stages = Counter(str(i.get("STAGE_ID")) for i in items)
    out.print(table)
    out.print(
        f"simulated in 1C: {len(new)} new orders, {len(recent)} edited orders with a new payment each",
        highlight=False,
    )
    if started_in_crm:
        out.print(
            f"deal {started_in_crm} started in Bitrix24 → 1C order "
            f"{from_crm['Number'] if from_crm else 'NOT CREATED'} (posted: {bool(from_crm and from_crm['Posted'])})",
            highlight=False,
        )
    dupes = sum(1 for c in origins.values() if c > 1)
    ok = set(origins) >= eligible and dupes == 0 and (not started_in_crm or from_crm is not None)
    out.print(
        f"Bitrix24 deals: {len(origins)} for {len(eligible)} posted orders; duplicates: {dupes}; managers matched:"
        f" {managers} (deals per responsible user: {dict(sorted(assigned.items()))}); failed records: "
        f"{waiting} (`b24-1c failed` lists them)",
        highlight=False,
    )
    if "invoices" in config.flows:
        twins = sum(1 for c in invoiced.values() if c > 1)
        ok = ok and set(invoiced) >= invoices and twins == 0
        out.print(
            f"Bitrix24 smart invoices: {len(invoiced)} for {len(invoices)} posted 1C invoices of synced orders; "
            f"duplicates: {twins}; by stage: {dict(sorted(stages.items()))}",
            highlight=False,
        )
    out.print(
        f"requests: Bitrix24 {b24_requests}, 1C {onec_requests}; total {time.monotonic() - started:.1f} s",
        highlight=False,
    )
    out.print(
        "result: OK, every posted order is a deal exactly once" if ok else "result: MISMATCH", highlight=False
    )
    return 0 if ok else 1


def _deal_from_crm(conn: Connector, box: Sandbox) -> str | None:
    """A manager opens a deal in Bitrix24 for a known company, adds products and moves it to "in work"."""
    companies = [
        link
        for link in conn.ledger.links("counterparties", list(conn.ledger.keys("counterparties"))).values()
        if link.target_id.isdigit()
    ]
    if not companies or box.dataset is None:
        return None
    product = box.dataset.products[0]
    reply = conn.bitrix24.call(
        "crm.deal.add",
        {
            "fields": {
                "TITLE": "Кровля для склада (из CRM)",
                "COMPANY_ID": companies[0].target_id,
                "STAGE_ID": "EXECUTING",
                "CURRENCY_ID": "RUB",
                "OPPORTUNITY": product["price"] * 3,
                "ASSIGNED_BY_ID": 1,
            }
        },
        write=True,
    )
    deal_id = str(reply.result)
    conn.bitrix24.call(
        "crm.deal.productrows.set",
        {
            "id": deal_id,
            "rows": [{"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 3}],
        },
        write=True,
    )
    return deal_id


def _order_for(box: Sandbox, deal_id: str) -> dict[str, Any] | None:
    return next(
        (
            o
            for o in box.infobase.all("Document_ЗаказКлиента")
            if str(o.get("НомерПоДаннымКлиента", "")).strip() == f"B24-{deal_id}"
        ),
        None,
    )
