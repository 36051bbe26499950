"""A found object gets exactly the links a created one would (DESIGN.md §4, docs/identity.md).

The orders flow declares `also_link: deals_to_orders`: every deal it writes is also known to the Bitrix24 → 1C flow
as that order's deal. That must hold whether the deal was created, or found by its external key after the ledger
was lost; otherwise the other direction knows only the deals that happened to be created by this ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration


def _other_direction(conn: Connector) -> dict[str, str]:
    """{deal id: 1C order key} as the Bitrix24 → 1C flow knows them."""
    deals = [str(link.target_id) for link in conn.ledger.links("orders", conn.ledger.keys("orders")).values()]
    return {key: link.target_id for key, link in conn.ledger.links("deals_to_orders", deals).items()}


def test_deals_found_after_a_lost_ledger_are_linked_for_the_other_direction_like_created_ones(
    sandbox: Sandbox, connector: Connector, tmp_path: Path
) -> None:
    since = SINCE.replace(tzinfo=connector.onec_tz)
    created = connector.runner("orders").backfill(since, None)
    assert created.created > 0
    linked_when_created = _other_direction(connector)
    assert len(linked_when_created) == created.created

    with Connector(make_config(sandbox, tmp_path / "lost.sqlite3")) as fresh:
        fresh.runner("counterparties").backfill(since, None)
        found = fresh.runner("orders").backfill(since, None)
        assert found.created == 0  # every deal was found by its key, none made twice
        assert _other_direction(fresh) == linked_when_created
