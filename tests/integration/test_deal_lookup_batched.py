"""The lookup of deals by external key before creating (and the owner check of deals named by 1C orders) sends
its list commands up to 50 per batch: one request per 2,500 keys, not one per 50."""

from __future__ import annotations

from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE

pytestmark = pytest.mark.integration


def requests_during(box: Any, work: Any) -> tuple[Any, int]:
    before = box.portal.calls.requests()
    result = work()
    return result, box.portal.calls.requests() - before


def test_find_looks_up_a_page_of_keys_in_one_request(sandbox: Any, connector: Connector) -> None:
    runner = connector.runner("orders")
    runner.backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
    deals = {d["ORIGIN_ID"]: str(d["ID"]) for d in sandbox.portal.deals() if d.get("ORIGIN_ID")}
    assert len(deals) >= 60
    unknown = [f"00000000-0000-0000-0000-{n:012d}" for n in range(90)]
    keys = [*unknown[:45], *deals, *unknown[45:]]  # > 100 keys: three list commands
    found, sent = requests_during(sandbox, lambda: runner.target.find(keys))
    assert found == deals
    assert sent == 1
    owned, sent = requests_during(sandbox, lambda: runner.target.owners([*deals.values(), "999999"]))
    assert sorted(owned, key=int) == sorted(deals.values(), key=int) and sent == 1


def test_a_full_page_of_matches_is_read_to_its_end_and_the_oldest_twin_wins(
    sandbox: Any, connector: Connector
) -> None:
    runner = connector.runner("orders")
    runner.backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
    deals = {d["ORIGIN_ID"]: int(d["ID"]) for d in sandbox.portal.deals() if d.get("ORIGIN_ID")}
    keys = list(deals)[:49]
    twin_of, later = keys[7], "00000000-0000-0000-0000-00000000beef"
    ours = connector.mappings["orders"].target.external_key.originator_id

    def add(title: str, origin: str) -> int:
        fields = {"TITLE": title, "ORIGINATOR_ID": ours, "ORIGIN_ID": origin}
        return int(connector.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)

    twin = add("twin by another tool", twin_of)
    newer = add("made after the twin", later)  # 51 matches for 50 keys, the twin on the first page
    assert deals[twin_of] < twin < newer
    found = runner.target.find([*keys, later])
    assert found == {**{k: str(deals[k]) for k in keys}, later: str(newer)}
