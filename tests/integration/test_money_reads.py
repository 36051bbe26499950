"""The money flow's reads cost about one command per 50 deals per kind of object (issue 13 goal 1): a deal's payments
are found through the sale orders bound to it (crm.orderentity.list over 50 deals, then sale.payment.list by
`=orderId`), its to-dos by one crm.activity.list over 50 deals, all in shared batches; what identity needs is still
read (tests/integration/test_money_payments.py, test_money_reminder_identity.py), including the to-dos of deals
with more than one page of them."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_money_payments import backfill, box, connect  # noqa: F401  (box: a fixture)
from tests.integration.test_money_reminder_identity import census, overdue, reminder_writes, run

pytestmark = pytest.mark.integration


def commands(sandbox: Any, since: int) -> Counter[str]:
    return Counter(c.method for c in sandbox.portal.calls[since:] if c.method != "batch")


def requests_of(sandbox: Any, since: int) -> list[list[str]]:
    """The methods of each top-level request (a batch's commands are logged before the batch itself)."""
    out: list[list[str]] = []
    inside: list[str] = []
    for c in sandbox.portal.calls[since:]:
        if c.batch:
            inside.append(c.method)
        else:
            out.append(inside if c.method == "batch" else [c.method])
            inside = []
    return out


def test_a_fresh_backfill_reads_payments_and_to_dos_per_fifty_deals(box: Any, tmp_path: Path) -> None:  # noqa: F811
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        backfill(conn, ("counterparties", "orders"))
        deals = conn.ledger.link_count("orders")
        before = len(box.portal.calls)
        backfill(conn, ("money",))
        sent = commands(box, before)
        reads = [r for r in requests_of(box, before) if all(m.endswith((".list", ".get")) for m in r)]
    assert deals > 0 and sent["crm.item.payment.add"] > 0
    assert sent["crm.item.payment.list"] == 0  # never one list per deal
    assert sent["crm.orderentity.list"] == math.ceil(deals / 50)
    assert sent["sale.payment.list"] == 0  # fresh deals have no sale order: nothing more to read
    assert sent["crm.activity.list"] <= math.ceil(deals / 50)
    # the deals, the stages, their sale orders, to-dos and tasks: one request before the writes
    assert len(reads) == 1 and {"crm.deal.list", "crm.status.list", "crm.orderentity.list"} <= set(reads[0])


def test_our_to_do_is_found_behind_a_full_page_of_other_to_dos(box: Any, tmp_path: Path) -> None:  # noqa: F811
    """55 to-dos of a manager on the deal, ours added after them (a higher ID): a lost ledger still finds ours."""
    ref = overdue(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        run(conn, ["counterparties", "orders"])
        deal = int(conn.ledger.links("orders", [ref])[ref].target_id)
        for i in range(55):
            conn.bitrix24.call(
                "crm.activity.todo.add",
                {
                    "ownerTypeId": 2,
                    "ownerId": deal,
                    "deadline": "2026-01-01T10:00:00+03:00",
                    "title": f"Звонок {i}",
                },
            )
        run(conn, ["money"])
        first = census(conn)
    assert first["todo_keys"][f"{ref}:due"] == 1
    with connect(box, tmp_path / "lost.sqlite3") as fresh:
        before = len(box.portal.calls)
        run(fresh, ["counterparties", "orders", "money"])
        assert reminder_writes(box, before) == []
        assert census(fresh) == first
