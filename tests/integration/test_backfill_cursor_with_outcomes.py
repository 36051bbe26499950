"""The backfill cursor moves only with the outcomes of the page it covers (DESIGN.md §4).

A backfill stopped in the middle of a page (here: the portal moved, so the run stops while the page's writes are
being sent) must resume at that page, not after it. Updates are not announced as intents, so a cursor that moved
ahead of its page's outcomes would lose them for good: the resumed backfill would report itself done while the
deals still hold the old content.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from connector.errors import ConnectorError
from tests.conftest import SINCE

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

    from connector.app import Connector

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Europe/Moscow")
PAGE = 10


def _eligible(box: Sandbox) -> dict[str, dict]:
    return {
        o["Ref_Key"]: o
        for o in box.infobase.all("Document_ЗаказКлиента")
        if o["Posted"] and not o["DeletionMark"]
    }


def _comments(box: Sandbox) -> dict[str, str]:
    return {str(d["ORIGIN_ID"]): str(d.get("COMMENTS") or "") for d in box.portal.deals()}


def test_a_backfill_stopped_while_writing_a_page_resumes_at_that_page(
    sandbox: Sandbox, connector: Connector
) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    since = SINCE.replace(tzinfo=TZ)
    first = connector.runner("orders")
    first.reader.page_size = PAGE
    first.backfill(since, None)
    orders = _eligible(sandbox)
    assert len(orders) > 3 * PAGE and set(_comments(sandbox)) == set(orders)

    stamp = f"edited {datetime(2026, 1, 2):%Y-%m-%d}"
    for ref in orders:  # every deal now has something to update
        sandbox.infobase.update("Document_ЗаказКлиента", ref, {"Комментарий": stamp})

    sandbox.portal.faults = FaultInjector()
    pages = 0

    def after_page(_: int) -> None:
        nonlocal pages
        pages += 1
        if pages == 1:  # page 1 is committed: the next request to the portal (page 2's) stops the run
            sandbox.portal.faults.force("redirect")

    stopped = connector.runner("orders")
    stopped.reader.page_size = PAGE
    with pytest.raises(ConnectorError):
        stopped.backfill(since, None, restart=True, progress=after_page)
    assert pages == 1
    updated = [ref for ref, text in _comments(sandbox).items() if text == stamp]
    assert 0 < len(updated) < len(orders), "the stop did not land in the middle of the backfill"

    sandbox.portal.faults = None
    resumed = connector.runner("orders")
    resumed.reader.page_size = PAGE
    resumed.backfill(since, None)
    stale = sorted(ref for ref, text in _comments(sandbox).items() if text != stamp)
    assert stale == [], f"{len(stale)} deals never received their order's edit after the resumed backfill"
