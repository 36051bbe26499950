"""Payments as a real portal accepts them (b24-rest-docs: crm.item.payment.*, sale.payment.*): each 1C receipt row
is one payment with its own sum, date, number and our xmlId; a re-posted paid payment gets its new sum in place
(unpay → update → pay); an un-posted one is removed; a create interrupted between its two steps is adopted; and a
lost ledger never doubles a payment. Everything is checked through the emulator's REST interface."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.app import Connector
from connector.flows.facts import FactsReader
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
RECEIPT = "Document_ПоступлениеБезналичныхДенежныхСредств"
ORDER = "Document_ЗаказКлиента"
PAYMENT_WRITES = (
    "crm.item.payment.add",
    "crm.item.payment.update",
    "crm.item.payment.pay",
    "crm.item.payment.unpay",
    "crm.item.payment.delete",
    "sale.payment.update",
)


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)
        yield sandbox


def connect(box: Any, ledger: Path) -> Connector:
    config = make_config(box, ledger)
    config.flows = ["counterparties", "orders", "money"]
    conn = Connector(config)
    conn.setup()
    return conn


@pytest.fixture
def conn(box: Any, tmp_path: Path) -> Iterator[Connector]:
    with connect(box, tmp_path / "ledger.sqlite3") as c:
        yield c


def backfill(conn: Connector, flows: tuple[str, ...] = ("counterparties", "orders", "money")) -> None:
    for flow in flows:
        report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        assert report.failed == 0, report.errors


def cycle(conn: Connector) -> None:
    for flow in ("counterparties", "orders"):
        conn.runner(flow).incremental(3650)
    report = conn.runner("money").incremental(3650, full_scan=True)
    assert report.failed == 0, report.errors


def rest(box: Any, method: str, params: dict[str, Any]) -> Any:
    reply = requests.post(box.webhook_url + method, json=params, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def portal_payments(box: Any) -> list[dict[str, Any]]:
    """Every payment on the portal, as sale.payment.list shows it (pages of 50)."""
    rows: list[dict[str, Any]] = []
    start = 0
    while True:
        body = rest(box, "sale.payment.list", {"order": {"id": "asc"}, "start": start})
        rows.extend(body["result"]["payments"])
        if "next" not in body:
            return rows
        start = body["next"]


def deal_payments(box: Any, deal_id: str) -> list[dict[str, Any]]:
    short = rest(box, "crm.item.payment.list", {"entityTypeId": 2, "entityId": int(deal_id)})["result"]
    full = {p["id"]: p for p in portal_payments(box)}
    return [full[p["id"]] for p in short]


def deal_of(box: Any, order: str) -> dict[str, Any]:
    (deal,) = rest(box, "crm.deal.list", {"filter": {"ORIGIN_ID": order}, "select": ["*", "UF_*"]})["result"]
    return dict(deal)


def prefix(conn: Connector) -> str:
    return f"{conn.mappings['money'].target.external_key.originator_id or '1C'}:"


def expected(conn: Connector) -> dict[str, float]:
    """xmlId → sum of every posted 1C receipt row of the orders (refunds are not payments)."""
    orders = [o for o in conn.odata.query(ORDER, filter="Posted eq true and DeletionMark eq false")]
    rows = FactsReader(conn.odata).payments(orders)
    return {f"{prefix(conn)}{p.key}": float(p.amount) for ps in rows.values() for p in ps if not p.refund}


def assert_one_payment_per_row(box: Any, conn: Connector) -> dict[str, dict[str, Any]]:
    """Each 1C row is exactly one paid payment with its own sum; no payment of ours without a 1C row."""
    ours = [p for p in portal_payments(box) if str(p["xmlId"]).startswith(prefix(conn))]
    counts = Counter(p["xmlId"] for p in ours)
    assert [x for x, n in counts.items() if n > 1] == [], "payments twinned"
    by_xml = {p["xmlId"]: p for p in ours}
    want = expected(conn)
    assert set(by_xml) == set(want)
    assert {x: (p["sum"], p["paid"]) for x, p in by_xml.items()} == {x: (s, "Y") for x, s in want.items()}
    return by_xml


def test_partial_payments_carry_their_own_sum_date_number_and_key(box: Any, conn: Connector) -> None:
    backfill(conn)
    order, receipt = box.reference["order"], box.reference["receipt"]
    deal = deal_of(box, order)
    (payment,) = deal_payments(box, deal["ID"])
    doc = box.infobase.get(RECEIPT, receipt)
    assert payment["sum"] == 10000 and float(deal["OPPORTUNITY"]) == 25000  # the row's sum, not the deal's
    assert payment["paid"] == "Y" and payment["datePaid"].startswith("2024-11-07T14:02:11")
    assert payment["xmlId"] == f"{prefix(conn)}{receipt}:1" and payment["id1c"] == receipt
    assert payment["payVoucherNum"] == doc["Number"].strip()
    box.dataset.receipt(box.infobase.get(ORDER, order), 5000, datetime(2024, 11, 20, 9, 30))
    cycle(conn)
    assert sorted(p["sum"] for p in deal_payments(box, deal["ID"])) == [5000, 10000]
    assert_one_payment_per_row(box, conn)


def test_a_reposted_paid_payment_gets_its_new_sum_in_place(box: Any, conn: Connector) -> None:
    backfill(conn)
    deal = deal_of(box, box.reference["order"])
    (before,) = deal_payments(box, deal["ID"])
    box.dataset.repost(RECEIPT, box.reference["receipt"], 12000)
    cycle(conn)
    (after,) = deal_payments(box, deal["ID"])
    assert (after["id"], after["sum"], after["paid"]) == (before["id"], 12000, "Y")
    assert after["datePaid"] == before["datePaid"]  # the 1C date, not the moment it was paid again
    assert float(deal_of(box, box.reference["order"])["UF_CRM_1C_PAID_AMOUNT"]) == 12000
    assert_one_payment_per_row(box, conn)


def test_an_unposted_payment_is_removed(box: Any, conn: Connector) -> None:
    backfill(conn)
    deal = deal_of(box, box.reference["order"])
    box.dataset.unpost(RECEIPT, box.reference["receipt"])
    cycle(conn)
    assert deal_payments(box, deal["ID"]) == []
    assert_one_payment_per_row(box, conn)


@pytest.mark.parametrize("left", ["added", "added and keyed"])
def test_a_create_interrupted_between_its_steps_is_adopted_not_twinned(
    box: Any, conn: Connector, left: str
) -> None:
    """A kill (or a lost reply) after crm.item.payment.add, before or after sale.payment.update stamped the key;
    the ledger knows nothing of it."""
    backfill(conn, ("counterparties", "orders"))
    deal = deal_of(box, box.reference["order"])
    orphan = rest(box, "crm.item.payment.add", {"entityTypeId": 2, "entityId": int(deal["ID"])})["result"]
    if left == "added and keyed":
        key = f"{prefix(conn)}{box.reference['receipt']}:1"
        rest(box, "sale.payment.update", {"id": orphan, "fields": {"sum": 10000, "xmlId": key}})
    backfill(conn, ("money",))
    (payment,) = deal_payments(box, deal["ID"])
    assert (payment["id"], payment["sum"], payment["paid"]) == (orphan, 10000, "Y")
    assert_one_payment_per_row(box, conn)


def test_a_lost_ledger_writes_no_new_payment(box: Any, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite3"
    with connect(box, ledger) as conn:
        backfill(conn)
        cycle(conn)
        before = {x: p["id"] for x, p in assert_one_payment_per_row(box, conn).items()}
    assert before
    for path in tmp_path.glob("ledger.sqlite3*"):
        path.unlink()
    box.portal.clear_calls()
    with connect(box, ledger) as conn:
        backfill(conn)
        cycle(conn)
        after = {x: p["id"] for x, p in assert_one_payment_per_row(box, conn).items()}
    assert after == before  # the same payments, found by xmlId and linked
    assert [c.method for c in box.portal.calls_snapshot() if c.method in PAYMENT_WRITES] == []


def test_an_empty_payment_left_by_an_interrupted_create_is_adopted(box: Any, conn: Connector) -> None:
    """A create is two steps (add, then the update that stamps the key): an empty unstamped payment on the deal that
    the ledger does not link is adopted and linked as the 1C row's payment, never twinned."""
    backfill(conn, ("counterparties", "orders"))
    deal = deal_of(box, box.reference["order"])
    orphan = rest(box, "crm.item.payment.add", {"entityTypeId": 2, "entityId": int(deal["ID"])})["result"]
    key, order = f"{box.reference['receipt']}:1", box.reference["order"]
    backfill(conn, ("money",))
    (payment,) = deal_payments(box, deal["ID"])
    assert (payment["id"], payment["sum"]) == (orphan, 10000)
    links = conn.ledger.child_links("money", [order])[order]
    assert [(c.key, c.target_id) for c in links if c.kind == "payment"] == [(key, str(orphan))]
