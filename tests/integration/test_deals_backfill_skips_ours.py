"""A deals → orders backfill does not read again the deals the orders flow just made (they carry our installation
in ORIGINATOR_ID): the source filter leaves them out, while a deal started in the CRM is still read and ordered."""

from __future__ import annotations

from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def test_backfill_reads_only_deals_not_stamped_by_us(sandbox: Any, connector: Connector) -> None:
    since = SINCE.replace(tzinfo=connector.onec_tz)
    connector.runner("orders").backfill(since, None)
    ours = [d for d in sandbox.portal.deals() if d.get("ORIGINATOR_ID") == connector.installation_id]
    assert len(ours) >= 10
    for d in ours[:10]:  # as the money flow's stage rules move paid orders' deals on: now at a watched stage
        sandbox.portal.entities["deal"][int(d["ID"])]["STAGE_ID"] = "EXECUTING"
    deal = start_deal(connector, sandbox)
    before = len(sandbox.portal.calls)
    report = connector.runner("deals_to_orders").backfill(since, None)
    rows_read = [c for c in sandbox.portal.calls[before:] if c.method == "crm.deal.productrows.get"]
    assert report.read == 1 and report.created == 1
    assert [c.params["id"] for c in rows_read] == [deal]
    made = [o for o in sandbox.infobase.all(ORDER) if o.get("НомерПоДаннымКлиента") == f"B24-{deal}"]
    assert len(made) == 1
