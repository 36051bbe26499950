"""installation.takes: a deal started in Bitrix24 is ordered only by the installation whose rule names it (its
pipeline, or a field naming the base); a deal no rule names is not read at all, so it is no error in any log."""

from __future__ import annotations

from typing import Any

import pytest

from connector.app import Connector
from connector.config import TakesRule
from tests.conftest import SINCE
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def ordered(box: Any, deal: str) -> int:
    return sum(1 for o in box.infobase.all(ORDER) if o.get("НомерПоДаннымКлиента") == f"B24-{deal}")


def move(box: Any, deal: str, **fields: Any) -> None:
    box.portal.entities["deal"][int(deal)].update(fields)


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"category": [1]}, {"CATEGORY_ID": "1", "STAGE_ID": "C1:EXECUTING"}),
        ({"field": "UF_CRM_1C_BASE", "value": "north"}, {"UF_CRM_1C_BASE": "north"}),
    ],
)
def test_only_deals_the_rule_names_are_read_and_ordered(
    sandbox: Any, connector: Connector, rule: dict[str, Any], named: dict[str, Any]
) -> None:
    connector.config.installation.takes = TakesRule.model_validate(rule)
    mine = start_deal(connector, sandbox, title="Наша")
    other = start_deal(connector, sandbox, title="Чужая")
    move(sandbox, mine, **named)
    move(sandbox, other, UF_CRM_1C_BASE="south")
    # Another installation's deal that our rule would name: left out of the list, its rows never read.
    theirs = start_deal(connector, sandbox, title="Другой базы")
    move(
        sandbox,
        theirs,
        **named,
        ORIGINATOR_ID="1C-elsewhere",
        ORIGIN_ID="0f0f0f0f-0000-0000-0000-000000000001",
    )
    before = len(sandbox.portal.calls)
    runner = connector.runner("deals_to_orders")
    report = runner.backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
    runner.incremental(30)
    assert (report.read, report.created, report.failed) == (1, 1, 0)
    assert (ordered(sandbox, mine), ordered(sandbox, other), ordered(sandbox, theirs)) == (1, 0, 0)
    rows_read = {
        str(c.params["id"]) for c in sandbox.portal.calls[before:] if c.method == "crm.deal.productrows.get"
    }
    assert rows_read == {mine}


def test_a_rule_naming_a_user_field_the_portal_lacks_stops_the_start(connector: Connector) -> None:
    connector.config.installation.takes = TakesRule(field="UF_CRM_1C_BASE_TYPO", value="north")
    assert connector.missing_on_portal() == [
        "deal field UF_CRM_1C_BASE_TYPO (installation.takes names it: declare it under a mapping's user_fields)"
    ]
