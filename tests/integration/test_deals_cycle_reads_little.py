"""The deals → orders cycle after a backfill reads no deal the orders flow made, even when our own writes moved their
DATE_MODIFY; a manager's change of a field an update of the 1C order carries is read and reaches 1C (issue 13 goal 4:
the 318 deals the demo re-read)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def _rows_read(box: Any, before: int) -> list[Any]:
    return [c for c in box.portal.calls[before:] if c.method == "crm.deal.productrows.get"]


def test_linked_deals_are_read_only_for_what_travels_to_1c(sandbox: Any, connector: Connector) -> None:
    since = SINCE.replace(tzinfo=connector.onec_tz)
    connector.runner("orders").backfill(since, None)
    ours = [d for d in sandbox.portal.deals() if d.get("ORIGINATOR_ID") == connector.installation_id]
    for d in ours[:10]:  # as the money flow's stage rules move paid orders' deals on: now at a watched stage
        connector.bitrix24.call(
            "crm.deal.update", {"id": d["ID"], "fields": {"STAGE_ID": "EXECUTING"}}, write=True
        )
    connector.runner("deals_to_orders").backfill(since, None)
    before = len(sandbox.portal.calls)
    assert connector.runner("deals_to_orders").incremental(30).read == 0
    for d in ours[:10]:  # our own writes (amounts, as the money flow makes them) move DATE_MODIFY again
        connector.bitrix24.call(
            "crm.deal.update", {"id": d["ID"], "fields": {"OPPORTUNITY": 1234}}, write=True
        )
    assert connector.runner("deals_to_orders").incremental(30).read == 0
    assert _rows_read(sandbox, before) == []
    wish = (sandbox.portal.now() + timedelta(days=20)).date().isoformat()
    deal = ours[3]
    connector.bitrix24.call(
        "crm.deal.update", {"id": deal["ID"], "fields": {"UF_CRM_1C_DESIRED_SHIPMENT": wish}}, write=True
    )
    report = connector.runner("deals_to_orders").incremental(30)
    assert report.read == 1 and report.updated == 1
    order = sandbox.infobase.get(ORDER, deal["ORIGIN_ID"])
    assert str(order["ЖелаемаяДатаОтгрузки"])[:10] == wish
    assert connector.runner("deals_to_orders").incremental(30).read == 0
