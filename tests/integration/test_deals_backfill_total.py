"""A deals → orders backfill knows its total before the first page: one crm.deal.list reply's `total` over the
same filter the pages read (watched stages, not our own deals, the window's DATE_CREATE)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration


def test_the_deals_backfill_total_is_counted_from_the_list_reply_with_the_pages_filter(
    sandbox: Any, connector: Connector
) -> None:
    runner = connector.runner("deals_to_orders")
    since = SINCE.replace(tzinfo=connector.onec_tz)
    before = runner.source.count(since, None)
    assert before is not None
    for n in range(3):
        start_deal(connector, sandbox, title=f"Сделка {n}", company="1", rows=False)
    start_deal(connector, sandbox, title="Не на том этапе", company="1", rows=False, stage="NEW")
    ours = start_deal(connector, sandbox, title="Наша", company="1", rows=False)
    sandbox.portal.entities["deal"][int(ours)]["ORIGINATOR_ID"] = connector.installation_id
    calls = len(sandbox.portal.calls)
    assert runner.source.count(since, None) == before + 3
    assert [c.method for c in sandbox.portal.calls[calls:]] == ["crm.deal.list"]  # one request, no paging
    read = sum(len(page.records) for page in runner.source.pages(since, None, None))
    assert read == before + 3
