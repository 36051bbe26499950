"""Money facts of many orders come from one keyset-paged read of every posted money document (linear in the data),
and equal, order by order, the facts the by-reference lookups of a few orders give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.flows import facts
from connector.flows.facts import RECEIPTS, FactsReader
from tests.conftest import make_config

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"
TODAY = facts.date(2025, 3, 14)


def orders_and_client(sandbox: Any, tmp_path: Path) -> tuple[list[dict[str, Any]], Connector]:
    conn = Connector(make_config(sandbox, tmp_path / "ledger.sqlite3"))
    orders = conn.odata.query(ORDER, filter="Posted eq true and DeletionMark eq false")
    return orders, conn


def test_whole_read_gives_the_facts_of_by_reference_lookups_across_pages_of_one_date(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bank = RECEIPTS["bank"]
    receipts = sorted(sandbox.infobase.all(bank), key=lambda d: (d["Date"], d["Ref_Key"]))
    assert len(receipts) >= 12
    # Eight receipts on one second: pages of 3 end inside that date, so the cursor must skip what it has seen.
    for doc in receipts[2:10]:  # through the infobase, which keeps its date index in step
        sandbox.infobase.update(bank, doc["Ref_Key"], {"Date": receipts[2]["Date"]})
    orders, conn = orders_and_client(sandbox, tmp_path)
    with conn:
        monkeypatch.setattr(facts, "WHOLE_READ_FROM", 10**9)
        by_reference = FactsReader(conn.odata).compute(orders, TODAY)
        monkeypatch.setattr(facts, "WHOLE_READ_FROM", 1)
        monkeypatch.setattr(facts, "WHOLE_PAGE", 3)
        whole = FactsReader(conn.odata).compute(orders, TODAY)
    paid = [ref for ref, f in by_reference.items() if f["payments"]]
    assert len(paid) >= 10 and any(f["shipped_amount"] != "0.00" for f in by_reference.values())
    assert any(f["invoiced"] for f in by_reference.values())
    assert whole == by_reference


def test_a_run_reads_the_money_documents_once_whatever_its_number_of_pages(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders, conn = orders_and_client(sandbox, tmp_path)
    monkeypatch.setattr(facts, "WHOLE_READ_FROM", 20)
    with conn:
        reader = FactsReader(conn.odata)
        reader.mode()  # $metadata, once
        before = sandbox.onec_app.requests
        reader.compute(orders[:5], TODAY)  # a few orders: looked up by reference
        few = sandbox.onec_app.requests - before
        reader.compute(orders[5:30], TODAY)  # the run has now asked for 30: everything read once
        first = sandbox.onec_app.requests - before - few
        reader.compute(orders[30:], TODAY)
        rest = sandbox.onec_app.requests - before - few - first
    assert few == 6  # one request per document type for five orders
    assert first == 6  # one page per document type at the sandbox's size
    assert rest == 0
