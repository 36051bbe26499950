"""One changed 1C order whose deal only needs new money figures costs the money flow one Bitrix24 request: the
deal's update, without reading the deal, the stage directory or the payments first (issue 13 goal 4;
connector/flows/money/memo.py). A stage the rules would not move back is not read for; a lost ledger afterwards
still writes no second payment or to-do; a deal deleted on the portal makes the order wait for its deal again."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.integration.test_money_payments import (  # noqa: F401  (box: a fixture)
    PAYMENT_WRITES,
    backfill,
    box,
    connect,
    deal_of,
    portal_payments,
    rest,
)
from tests.integration.test_money_reads import commands, requests_of
from tests.integration.test_money_reminder_identity import census, reminder_writes

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def add_line(sandbox: Any, ref: str) -> float:
    """One more product line and the new total, as the accountant would enter them (and as the benchmark does)."""
    order = sandbox.infobase.get(ORDER, ref)
    rows = [dict(r) for r in order["Товары"]]
    extra = {**rows[0], "LineNumber": str(len(rows) + 1)}
    total = float(order["СуммаДокумента"]) + float(extra.get("СуммаСНДС") or extra.get("Сумма") or 0)
    sandbox.dataset.docs.repost(ORDER, ref, {"Товары": [*rows, extra], "СуммаДокумента": total})
    return total


def no_schedule(sandbox: Any) -> str:
    """The reference order without its payment schedule: no due date, so no to-do of ours to look for on its deal
    (an order with a due date and no to-do in the ledger is still read: ours may be there, tests/unit)."""
    ref = str(sandbox.reference["order"])
    sandbox.dataset.docs.repost(ORDER, ref, {"ЭтапыГрафикаОплаты": []})
    return ref


def money_cycle(sandbox: Any, conn: Connector) -> list[list[str]]:
    """The orders flow's cycle, then the money flow's: the methods of each request the money flow sent."""
    conn.runner("orders").incremental(3650)
    before = len(sandbox.portal.calls)
    report = conn.runner("money").incremental(3650)
    assert report.failed == 0 and report.updated == 1, report.errors
    return requests_of(sandbox, before)


def test_new_money_figures_cost_one_request_and_a_lost_ledger_then_doubles_nothing(
    box: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    ref = no_schedule(box)  # 25 000, 10 000 paid (40 %): EXECUTING
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        backfill(conn)
        stage = deal_of(box, ref)["STAGE_ID"]
        total = add_line(box, ref)
        sent = money_cycle(box, conn)
        first = census(conn)
    deal = deal_of(box, ref)
    assert sent == [["crm.deal.update"]]  # was a read batch (deal, stages) and then the update
    assert float(deal["UF_CRM_1C_BALANCE"]) == total - 10000
    assert int(deal["UF_CRM_1C_PAID_PERCENT"]) == int(10000 * 100 / total)
    assert deal["STAGE_ID"] == stage
    payments = len(portal_payments(box))
    with connect(
        box, tmp_path / "lost.sqlite3"
    ) as fresh:  # the ledger is lost: read, linked, nothing doubled
        before = len(box.portal.calls)
        backfill(fresh)
        assert not set(commands(box, before)) & set(PAYMENT_WRITES)
        assert reminder_writes(box, before) == []
        assert census(fresh) == first
    assert len(portal_payments(box)) == payments


def test_a_stage_the_rules_would_not_move_back_is_not_read_for(box: Any, tmp_path: Path) -> None:  # noqa: F811
    ref = no_schedule(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        backfill(conn)
        box.dataset.receipt(box.infobase.get(ORDER, ref), 15000, datetime(2024, 11, 20, 9, 30))
        assert conn.runner("money").incremental(3650).updated == 1  # a payment: read, then written
        assert deal_of(box, ref)["STAGE_ID"] == "FINAL_INVOICE"  # paid in full
        total = add_line(box, ref)  # 25 000 of more: the rules now say EXECUTING, behind the deal's stage
        sent = money_cycle(box, conn)
    deal = deal_of(box, ref)
    assert sent == [["crm.deal.update"]]
    assert deal["STAGE_ID"] == "FINAL_INVOICE" and float(deal["UF_CRM_1C_BALANCE"]) == total - 25000


def test_a_deal_deleted_on_the_portal_makes_the_order_wait_for_its_deal(box: Any, tmp_path: Path) -> None:  # noqa: F811
    ref = no_schedule(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        backfill(conn)
        rest(box, "crm.deal.delete", {"id": int(deal_of(box, ref)["ID"])})
        add_line(box, ref)
        conn.runner("orders").incremental(3650)
        quiet = conn.runner("money").incremental(3650)
        assert quiet.failed == 1 and "Not found" in str(quiet.errors), quiet.errors  # the update, unread
        assert [d.source_key for d in conn.ledger.dead_letters("money", "waiting")] == [
            ref
        ]  # retried next cycle
        again = conn.runner("money").incremental(3650)  # retried: read, no deal, waits for the orders flow
        assert again.errors and all("no deal yet" in e for e in again.errors), again.errors
