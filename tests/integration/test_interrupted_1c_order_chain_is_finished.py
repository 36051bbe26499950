"""A 1C order is done only when its whole chain is done (docs/identity.md): created → posted → number and key
written back to the deal. A posting whose reply was lost is settled in the same run by reading the order; one that 1C
failed leaves the record failed, and the next run must read the order and the deal and finish the missing steps,
not count the order as done because it exists.

Counted through the public interfaces of both systems: 1C OData for the order, Bitrix24 REST for the deal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "deals_to_orders"]
ORDERS = "Document_ЗаказКлиента"


def _fault_on_the_second_order_write(kind: str) -> Any:
    """The 1C emulator's fault injector: the first write to the orders entity (the create) goes through, the
    second (its /Post) meets `kind`."""
    from b24_1c_sandbox.faults import FaultInjector

    kinds: list[str | None] = [None, kind]

    class SecondWrite(FaultInjector):
        def pick(self, method: str, write: bool) -> str | None:
            if not write or method.lower() != ORDERS.lower() or not kinds:
                return None
            picked = kinds.pop(0)
            return self._count(method, picked) if picked else None

    return SecondWrite()


def _orders_of(conn: Connector, deal: str) -> list[dict[str, Any]]:
    rows = conn.odata.query(ORDERS, select=["Ref_Key", "Number", "Posted", "НомерПоДаннымКлиента"])
    return [o for o in rows if str(o.get("НомерПоДаннымКлиента") or "").strip() == f"B24-{deal}"]


def _new_deal_at_the_watched_stage(conn: Connector, box: Any) -> str:
    return start_deal(conn, box, title="Профнастил на склад", product=1)


def test_a_lost_reply_to_the_posting_is_settled_by_reading_the_order_and_the_chain_goes_on(
    sandbox: Any, tmp_path: Path
) -> None:
    """1C posted the order but its reply was lost: the same run reads the order (posted), never posts it again,
    and writes the number and key back (issue 10 point 2: each step settled on its own by a lookup)."""
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = FLOWS
    with Connector(config) as conn:
        conn.setup()
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        deal = _new_deal_at_the_watched_stage(conn, sandbox)

        sandbox.onec_app.faults = faults = _fault_on_the_second_order_write("lost_reply")
        before = len(sandbox.onec_app.log)
        first = conn.runner("deals_to_orders").incremental(30)
        assert faults.injected == {"lost_reply": 1}
        assert first.failed == 0 and first.created == 1, first.errors
        posts = [
            r for r in list(sandbox.onec_app.log)[before:] if r.method == "POST" and r.path.endswith("/Post")
        ]
        assert len(posts) == 1  # settled by a read, not sent twice
        (order,) = _orders_of(conn, deal)
        after = _stored(sandbox, deal)
        assert order["Posted"] and after["ORIGIN_ID"] == order["Ref_Key"]
        assert after["UF_CRM_1C_ORDER_NUMBER"] == order["Number"]
        assert conn.ledger.dead_letters("deals_to_orders") == []


@pytest.mark.parametrize("fault", ["error500"])
def test_the_next_run_posts_the_order_and_writes_its_number_back_after_an_interrupted_posting(
    sandbox: Any, tmp_path: Path, fault: str
) -> None:
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = FLOWS
    with Connector(config) as conn:
        conn.setup()
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        deal = _new_deal_at_the_watched_stage(conn, sandbox)

        # 1C failed the posting (a 5xx that did not post): the lookup finds it unposted, the record waits
        sandbox.onec_app.faults = faults = _fault_on_the_second_order_write(fault)
        first = conn.runner("deals_to_orders").incremental(30)
        assert faults.injected == {fault: 1}
        assert first.failed == 1, first.errors
        stamped = _stored(sandbox, deal)  # read on the portal: crm.deal.get is not a method of the contract
        assert not stamped.get("UF_CRM_1C_ORDER_NUMBER")  # the chain stopped before the write-back

        sandbox.onec_app.faults = None
        conn.runner("deals_to_orders").incremental(30)
        (order,) = _orders_of(conn, deal)
        assert order["Posted"], "the interrupted posting was never finished"
        after = _stored(sandbox, deal)
        assert after["ORIGIN_ID"] == order["Ref_Key"] and after["ORIGINATOR_ID"] == conn.installation_id
        assert after["UF_CRM_1C_ORDER_NUMBER"] == order["Number"]
        assert conn.ledger.dead_letters("deals_to_orders") == []


def _stored(sandbox: Any, deal: str) -> dict[str, Any]:
    """The deal as the portal holds it."""
    return next(d for d in sandbox.portal.deals() if d["ID"] == str(deal))
