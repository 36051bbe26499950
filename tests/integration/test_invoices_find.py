"""The invoices flow looks its smart invoices up by external key 50 keys a command, every command of a page in one
`batch` request (issue 13 goal 1: the lookup was one request per 50 keys)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.app import Connector
from tests.integration.test_invoices import backfill, box, conn  # noqa: F401  (box, conn: fixtures)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("box", ["ut11.5"], indirect=True)
def test_find_sends_one_request_for_a_page_of_keys(box: Any, conn: Connector) -> None:  # noqa: F811
    backfill(conn)
    links = {
        k: link.target_id
        for k, link in conn.ledger.links("invoices", list(conn.ledger.keys("invoices"))).items()
    }
    assert links
    keys = [
        *links,
        *(f"00000000-0000-0000-0000-{i:012d}" for i in range(120)),
    ]  # 3 commands of 50 keys and more
    box.portal.clear_calls()
    found = conn.runner("invoices").target.find(keys)
    assert found == links
    assert [c.method for c in box.portal.calls if not c.batch] == ["batch"]
