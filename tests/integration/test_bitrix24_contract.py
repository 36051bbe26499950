"""Every flow on the demo data stays within the Bitrix24 contract, and the method list derived from the contract
(what `b24-1c verify` and docs/bitrix24-methods.md show) covers every method the flows actually call."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.contracts import methods_for
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # six flows on a sandbox: about 8 s
ORDER = "Document_ЗаказКлиента"


def test_every_flow_calls_only_contract_methods_parameters_and_fields(tmp_path: Path) -> None:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=10, seed=11, rate_limit="off")) as box:
        assert box.dataset is not None
        reference = reference_scenario(box.infobase)
        box.dataset.invoice(box.infobase.get(ORDER, reference["order"]), datetime(2024, 11, 5, 12, 0))
        config = make_config(box, tmp_path / "ledger.sqlite3")
        config.flows = [*config.flows, "invoices"]
        now = box.infobase.now().replace(microsecond=0)
        recent = [box.dataset.order(now - timedelta(days=d)) for d in (2, 4)]
        with Connector(config) as conn:
            conn.setup()
            for flow in config.flows:
                conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            for order in recent:  # an edit and a new payment reach Bitrix24 as updates
                box.dataset.edit_order(order["Ref_Key"])
                current: Any = box.infobase.get(ORDER, order["Ref_Key"]) or order
                box.dataset.receipt(current, 1000.0, now - timedelta(minutes=30))
            start_deal(conn, box)  # a deal started in the CRM goes to 1C
            for flow in config.flows:
                conn.runner(flow).incremental(config.sync.lookback_days)
        called = {c.method for c in box.portal.calls_snapshot() if c.status == 200}
        assert list(box.portal.violations) == []
    listed = {m.name for m in methods_for(config.flows, parts=["setup"])}
    # start_deal plays the manager (crm.deal.add, crm.deal.productrows.set): the orders flow lists them anyway.
    assert called - listed == set()
    assert {"crm.deal.add", "sale.payment.update", "crm.item.add", "user.get", "batch"} <= called
