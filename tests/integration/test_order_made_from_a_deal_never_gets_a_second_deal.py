"""A 1C order made from a deal carries `B24-<deal id>`: the 1C → Bitrix24 flow links it to that deal, never makes a
second one, whatever the ledger says and even before the deal carries the order's key (docs/identity.md, "Which
records each source leaves alone").

Here the chain stops after posting: the write-back of the order's number and key to the deal fails, so the deal is
not stamped yet and the orders flow's lookup by ORIGIN_ID cannot find it. Only the order's own marker says which
deal it belongs to. Counted through both systems' public interfaces.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "deals_to_orders"]
ORDERS = "Document_ЗаказКлиента"


def _deals(conn: Connector) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in conn.bitrix24.list_fast("crm.deal.list", {}, ["ID", "ORIGIN_ID", "UF_CRM_1C_ORDER_NUMBER"]):
        rows.extend(page)
    return rows


def _orders_of(conn: Connector, deal: str) -> list[dict[str, Any]]:
    rows = conn.odata.query(ORDERS, select=["Ref_Key", "Number", "Posted", "НомерПоДаннымКлиента"])
    return [o for o in rows if str(o.get("НомерПоДаннымКлиента") or "").strip() == f"B24-{deal}"]


def test_an_order_made_from_a_deal_whose_write_back_failed_is_linked_to_that_deal_not_given_a_twin(
    sandbox: Any, tmp_path: Path
) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = FLOWS
    with Connector(config) as conn:
        conn.setup()
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        deal = start_deal(conn, sandbox, title="Водосток", quantity=5, product=1)

        class WriteBatches(FaultInjector):
            """A 500 for the write-back's batch and for the one re-send after the lookup found it not written."""

            def pick(self, method: str, write: bool) -> str | None:
                if method.lower() != "batch" or not write or self.injected.get("error500", 0) >= 2:
                    return None
                return self._count(method, "error500")

        sandbox.portal.faults = WriteBatches()  # the write-back, the chain's last step, in a batch
        made = conn.runner("deals_to_orders").incremental(30)
        assert sandbox.portal.faults.injected == {"error500": 2}
        assert made.failed == 1, made.errors
        # the failure names its step (findings: a lost write-back was reported as a lost /Post)
        assert "step 4 of 4 (write-back)" in made.errors[0] and "/Post" not in made.errors[0], made.errors
        (order,) = _orders_of(conn, deal)
        assert order["Posted"]
        assert not next(d for d in _deals(conn) if str(d["ID"]) == deal).get("ORIGIN_ID")
        sandbox.portal.faults = None

        deals_before = len(_deals(conn))
        conn.runner("orders").incremental(30)
        after = _deals(conn)
        per_order = Counter(str(d.get("ORIGIN_ID") or "") for d in after)
        assert len(after) == deals_before, "the order made from the deal got a deal of its own"
        assert per_order[order["Ref_Key"]] <= 1

        conn.runner("deals_to_orders").incremental(30)  # finishes the chain: the write-back
        mine = next(d for d in _deals(conn) if str(d["ID"]) == deal)
        assert mine["ORIGIN_ID"] == order["Ref_Key"] and mine["UF_CRM_1C_ORDER_NUMBER"] == order["Number"]
        assert len(_deals(conn)) == deals_before and len(_orders_of(conn, deal)) == 1
