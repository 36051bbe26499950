"""The orders flow end to end over HTTP: backfill, rerun, incremental cycles, lost replies, bad records."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from connector.app import Connector
from tests.conftest import SINCE, sandbox_installation

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Europe/Moscow")
WRITES = {"crm.deal.add", "crm.deal.update", "crm.deal.productrows.set"}


def eligible(box: Sandbox) -> dict[str, dict]:
    return {
        o["Ref_Key"]: o
        for o in box.infobase.all("Document_ЗаказКлиента")
        if o["Posted"] and not o["DeletionMark"]
    }


def deals_by_origin(box: Sandbox) -> Counter[str]:
    return Counter(d["ORIGIN_ID"] for d in box.portal.deals())


def writes(box: Sandbox) -> int:
    return sum(1 for c in box.portal.calls if c.method in WRITES)


def test_backfill_creates_each_posted_order_once_with_rows(sandbox: Sandbox, connector: Connector) -> None:
    report = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    orders = eligible(sandbox)
    origins = deals_by_origin(sandbox)
    assert set(origins) == set(orders) and max(origins.values()) == 1
    assert report.created == len(orders) and report.failed == 0
    deal = next(d for d in sandbox.portal.deals() if d["ORIGIN_ID"] == next(iter(orders)))
    order = orders[deal["ORIGIN_ID"]]
    assert deal["ORIGINATOR_ID"] == sandbox_installation()
    assert deal["UF_CRM_1C_ORDER_NUMBER"] == order["Number"]
    assert float(deal["OPPORTUNITY"]) == pytest.approx(order["СуммаДокумента"])
    assert deal["BEGINDATE"].startswith(order["Date"][:10])
    rows = sandbox.portal.deal_rows(int(deal["ID"]))
    assert [r["QUANTITY"] for r in rows] == [pytest.approx(float(r["Количество"])) for r in order["Товары"]]


def test_rerun_after_completion_writes_nothing(sandbox: Sandbox, connector: Connector) -> None:
    connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    before = writes(sandbox)
    again = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    restarted = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None, restart=True)
    assert writes(sandbox) == before
    assert again.created == again.updated == 0
    assert restarted.read == len(eligible(sandbox)) and restarted.skipped == restarted.read


def test_incremental_cycle_picks_up_new_and_edited_orders_then_goes_quiet(
    sandbox: Sandbox, connector: Connector
) -> None:
    connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    assert sandbox.dataset is not None
    now = sandbox.infobase.now().replace(microsecond=0)  # the 1C server's wall clock
    new = [sandbox.dataset.order(now - timedelta(hours=h)) for h in (1, 2)]
    old_recent = sandbox.dataset.order(now - timedelta(days=2))
    connector.runner("orders").incremental(30)  # picks up old_recent too
    sandbox.dataset.edit_order(old_recent["Ref_Key"])
    report = connector.runner("orders").incremental(30)
    assert (report.created, report.updated) == (0, 1)
    edited = next(d for d in sandbox.portal.deals() if d["ORIGIN_ID"] == old_recent["Ref_Key"])
    assert len(sandbox.portal.deal_rows(int(edited["ID"]))) == len(old_recent["Товары"]) + 1
    assert all(deals_by_origin(sandbox)[o["Ref_Key"]] == 1 for o in new)
    quiet_before = writes(sandbox)
    quiet = connector.runner("orders").incremental(30)
    assert writes(sandbox) == quiet_before and quiet.created == quiet.updated == 0


def test_lost_replies_never_duplicate(sandbox: Sandbox, connector: Connector) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    sandbox.portal.faults = FaultInjector()
    sandbox.portal.faults.force(
        "lost_reply", "batch", times=2
    )  # the first two write batches commit, then reset
    report = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    origins = deals_by_origin(sandbox)
    assert set(origins) == set(eligible(sandbox)) and max(origins.values()) == 1
    assert report.failed == 0 and sandbox.portal.faults.injected["lost_reply"] == 2


def test_bad_record_is_a_dead_letter_and_others_sync_then_retry_fixes_it(
    sandbox: Sandbox, connector: Connector
) -> None:
    ref, order = next(iter(eligible(sandbox).items()))
    rows = [dict(r) for r in order["Товары"]]
    good_product = rows[0]["Номенклатура_Key"]
    rows[0]["Номенклатура_Key"] = "00000000-0000-0000-0000-000000000000"
    sandbox.infobase.update("Document_ЗаказКлиента", ref, {"Товары": rows})
    report = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None)
    assert report.failed == 1 and report.created == len(eligible(sandbox)) - 1
    letters = connector.ledger.dead_letters("orders")
    assert len(letters) == 1 and order["Number"] in letters[0].reason and "PRODUCT_NAME" in letters[0].reason
    rows[0]["Номенклатура_Key"] = good_product
    sandbox.infobase.update("Document_ЗаказКлиента", ref, {"Товары": rows})
    connector.ledger.requeue("orders")
    retried = connector.runner("orders").incremental(1)
    assert retried.created == 1 and connector.ledger.dead_letters("orders") == []
    assert deals_by_origin(sandbox)[ref] == 1


def test_dry_run_plans_but_writes_nothing(sandbox: Sandbox, connector: Connector) -> None:
    report = connector.runner("orders").backfill(SINCE.replace(tzinfo=TZ), None, dry_run=True)
    assert writes(sandbox) == 0 and sandbox.portal.deals() == []
    assert len(report.planned) == len(eligible(sandbox)) and all(a.kind == "create" for a in report.planned)
    assert connector.ledger.cursor("orders:backfill") is None and connector.ledger.link_count("orders") == 0


def test_stopped_backfill_resumes_from_its_cursor(sandbox: Sandbox, connector: Connector) -> None:
    runner = connector.runner("orders")
    runner.reader.page_size = 10
    runner.stop.set()  # stop after the first committed page
    first = runner.backfill(SINCE.replace(tzinfo=TZ), None)
    assert first.stopped and first.read == 10
    assert connector.ledger.cursor("orders:backfill")["page"]["skip"] >= 1
    runner.stop.clear()
    rest = connector.runner("orders")
    rest.reader.page_size = 10
    second = rest.backfill(SINCE.replace(tzinfo=TZ), None)
    assert second.read == len(eligible(sandbox)) - 10 and second.skipped == 0
    assert max(deals_by_origin(sandbox).values()) == 1 and len(deals_by_origin(sandbox)) == len(
        eligible(sandbox)
    )


def test_many_orders_in_the_same_second_page_correctly(sandbox: Sandbox, connector: Connector) -> None:
    assert sandbox.dataset is not None
    moment = datetime(2020, 2, 2, 12, 0, 0)
    same = [sandbox.dataset.order(moment) for _ in range(25)]
    runner = connector.runner("orders")
    runner.reader.page_size = 7
    runner.backfill(SINCE.replace(tzinfo=TZ), None)
    origins = deals_by_origin(sandbox)
    assert all(origins[o["Ref_Key"]] == 1 for o in same)
    assert set(origins) == set(eligible(sandbox))
