"""Money flows end to end (issue 7): the reference scenario, re-posting, un-posting, over-payment, stages,
payments as detail records, reminders and overdue tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from connector.app import Connector
from connector.errors import OutcomeUnknown
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
RECEIPT = "Document_ПоступлениеБезналичныхДенежныхСредств"


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)
        yield sandbox


@pytest.fixture
def conn(box: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "orders", "money"]
    with Connector(config) as c:
        c.setup()
        yield c


@pytest.fixture
def moscow_past_midnight() -> Iterator[None]:
    """The clock (ticking) at 21:30 UTC: the 1C server in Moscow is already on the next day, UTC and the
    Americas are not. Request it before `box`, so the dataset is generated at the pinned time too."""
    with time_machine.travel(datetime(2026, 11, 30, 21, 30, tzinfo=UTC), tick=True):
        yield


def sync_all(conn: Connector) -> dict[str, Any]:
    reports = {}
    for flow in ("counterparties", "orders", "money"):
        reports[flow] = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    return reports


def cycle(conn: Connector) -> Any:
    conn.runner("counterparties").incremental(3650)
    conn.runner("orders").incremental(3650)
    return conn.runner("money").incremental(3650, full_scan=True)


def deal_of(box: Any, order: str) -> dict[str, Any]:
    return next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == order)


def payments_of(box: Any, deal: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in box.portal.table("payment").values() if p["_owner"] == [2, int(deal["ID"])]]


def test_reference_scenario_then_repost_then_unpost(box: Any, conn: Connector) -> None:
    order = box.reference["order"]
    reports = sync_all(conn)
    assert reports["money"].failed == 0, reports["money"].errors
    deal = deal_of(box, order)
    assert float(deal["UF_CRM_1C_PAID_AMOUNT"]) == 10000
    assert float(deal["UF_CRM_1C_PAID_PERCENT"]) == 40
    assert float(deal["UF_CRM_1C_BALANCE"]) == 15000
    assert float(deal["UF_CRM_1C_SHIPPED_PERCENT"]) == 40
    assert deal["UF_CRM_1C_LAST_PAYMENT_DATE"].startswith("2024-11-07")
    assert deal["UF_CRM_1C_PAY_DUE_DATE"].startswith("2024-11-26")  # 10 000 of the first stage is paid
    assert deal["STAGE_ID"] == "EXECUTING"  # partial payment confirmed
    (payment,) = payments_of(box, deal)
    assert payment["sum"] == 10000 and payment["paid"] == "Y" and payment["datePaid"].startswith("2024-11-07")

    box.dataset.repost(RECEIPT, box.reference["receipt"], 12000)
    cycle(conn)
    deal = deal_of(box, order)
    assert float(deal["UF_CRM_1C_PAID_PERCENT"]) == 48 and float(deal["UF_CRM_1C_BALANCE"]) == 13000
    (updated,) = payments_of(box, deal)
    assert updated["id"] == payment["id"] and updated["sum"] == 12000  # corrected in place

    box.dataset.unpost(RECEIPT, box.reference["receipt"])
    cycle(conn)
    deal = deal_of(box, order)
    assert float(deal["UF_CRM_1C_PAID_PERCENT"]) == 0 and float(deal["UF_CRM_1C_PAID_AMOUNT"]) == 0
    assert payments_of(box, deal) == []
    assert deal["STAGE_ID"] == "EXECUTING"  # never moves backwards


def test_overpayment_shows_more_than_100_and_a_flag(box: Any, conn: Connector) -> None:
    sync_all(conn)
    order = box.infobase.get("Document_ЗаказКлиента", box.reference["order"])
    box.dataset.receipt(order, 17000, datetime(2024, 11, 20, 10, 0), cash=True)
    cycle(conn)
    deal = deal_of(box, order["Ref_Key"])
    assert float(deal["UF_CRM_1C_PAID_PERCENT"]) == 108
    assert deal["UF_CRM_1C_OVERPAID"] in ("1", "Y", True)
    assert float(deal["UF_CRM_1C_BALANCE"]) == -2000
    assert sorted(p["sum"] for p in payments_of(box, deal)) == [10000, 17000]
    assert deal["STAGE_ID"] == "FINAL_INVOICE"  # paid in full, not yet fully shipped


def test_quiet_when_nothing_changes(box: Any, conn: Connector) -> None:
    sync_all(conn)
    cycle(conn)
    before = len(box.portal.calls)
    again = conn.runner("money").incremental(3650)
    writes = [c for c in box.portal.calls[before:] if c.method.endswith((".update", ".add", ".delete"))]
    assert writes == [] and again.failed == 0


def test_due_date_reminder_moves_closes_and_overdue_task_is_created_once(
    moscow_past_midnight: None, box: Any, conn: Connector
) -> None:
    order_ref = box.reference["order"]
    order = box.infobase.get("Document_ЗаказКлиента", order_ref)
    stages = [dict(s) for s in order["ЭтапыГрафикаОплаты"]]
    # Days overdue count in the 1C server's calendar (Moscow), not the test machine's.
    today = box.infobase.now().date()
    due = datetime.combine(today - timedelta(days=35), time())
    stages[1]["ДатаПлатежа"] = due.isoformat()  # the second stage (15 000) fell due 35 days ago
    box.dataset.docs.repost("Document_ЗаказКлиента", order_ref, {"ЭтапыГрафикаОплаты": stages})
    sync_all(conn)
    deal = deal_of(box, order_ref)
    todos = [a for a in box.portal.table("activity").values() if str(a.get("OWNER_ID")) == deal["ID"]]
    assert len(todos) == 1 and todos[0]["DEADLINE"].startswith(due.date().isoformat())
    assert todos[0]["COMPLETED"] == "N" and todos[0]["RESPONSIBLE_ID"] == deal["ASSIGNED_BY_ID"]
    tasks = [t for t in box.portal.table("task").values() if f"D_{deal['ID']}" in str(t)]
    assert len(tasks) == 1 and "Просрочена оплата по заказу ЦБ00-000125: 35 дн." in str(tasks[0])

    later = datetime.combine(today + timedelta(days=10), time())
    stages[1]["ДатаПлатежа"] = later.isoformat()  # the accountant grants a deferral
    box.dataset.docs.repost("Document_ЗаказКлиента", order_ref, {"ЭтапыГрафикаОплаты": stages})
    cycle(conn)
    todo = box.portal.table("activity")[int(todos[0]["ID"])]
    assert (
        todo["DEADLINE"].startswith(later.date().isoformat()) and todo["COMPLETED"] == "N"
    )  # moved, not a twin
    assert (
        len([a for a in box.portal.table("activity").values() if str(a.get("OWNER_ID")) == deal["ID"]]) == 1
    )
    assert deal_of(box, order_ref)["UF_CRM_1C_PAY_DUE_DATE"].startswith(later.date().isoformat())

    box.dataset.receipt(
        box.infobase.get("Document_ЗаказКлиента", order_ref), 15000, datetime(2024, 12, 1, 12, 0)
    )
    cycle(conn)
    todo = box.portal.table("activity")[int(todos[0]["ID"])]
    assert todo["COMPLETED"] == "Y"  # fully paid: the reminder is closed
    assert len([t for t in box.portal.table("task").values() if f"D_{deal['ID']}" in str(t)]) == 1
    assert not deal_of(box, order_ref)["UF_CRM_1C_PAY_DUE_DATE"]


def test_a_first_backfill_does_not_flood_managers_with_ancient_debts(box: Any, conn: Connector) -> None:
    sync_all(conn)  # the reference order's second stage fell due in 2024
    deal = deal_of(box, box.reference["order"])
    assert not [a for a in box.portal.table("activity").values() if str(a.get("OWNER_ID")) == deal["ID"]]
    assert not [t for t in box.portal.table("task").values() if f"D_{deal['ID']}" in str(t)]
    assert deal["UF_CRM_1C_PAY_DUE_DATE"].startswith("2024-11-26")  # the fact itself is still shown


def test_lost_replies_on_payment_writes_do_not_duplicate_payments(box: Any, conn: Connector) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    box.portal.faults = FaultInjector()
    box.portal.faults.force("lost_reply", "batch", times=3)
    for _ in range(5):
        try:
            conn.runner("money").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            break
        except OutcomeUnknown:  # a run may stop on the lost reply; the next one recovers
            continue
    cycle(conn)
    for order in box.infobase.all("Document_ЗаказКлиента"):
        deal = next((d for d in box.portal.deals() if d.get("ORIGIN_ID") == order["Ref_Key"]), None)
        if deal is None:
            continue
        ours = payments_of(box, deal)
        assert len({(p["sum"], p["datePaid"]) for p in ours}) == len(ours), deal["ID"]


def test_the_deal_update_and_a_new_payment_go_in_one_batch_request(box: Any, conn: Connector) -> None:
    """The money flow's writes for an order (deal fields, the payment's add and stamp) go through the one executor
    and share a batch: one write request, not one for the deal and another for its payments (issue 13 counts it)."""
    order = box.reference["order"]
    sync_all(conn)
    box.dataset.receipt(box.infobase.get("Document_ЗаказКлиента", order), 5000, datetime(2024, 11, 20, 9, 30))
    box.portal.clear_calls()
    report = conn.runner("money").incremental(3650)
    assert report.failed == 0 and report.updated == 1, report.errors
    groups: list[list[str]] = []
    current: list[str] = []
    for call in box.portal.calls_snapshot():
        if call.batch:
            current.append(call.method)
        elif call.method == "batch":
            groups.append(current)
            current = []
        else:
            groups.append([call.method])  # a request of its own
    reads = ("list", "get", "fields")
    writing = [g for g in groups if any(m.rsplit(".", 1)[-1] not in reads for m in g)]
    assert len(writing) == 1, writing
    assert {"crm.deal.update", "crm.item.payment.add", "sale.payment.update"} <= set(writing[0])
    assert float(deal_of(box, order)["UF_CRM_1C_PAID_AMOUNT"]) == 15000
