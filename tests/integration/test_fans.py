"""Fan orders end to end on the sandbox: deals of different dealers with the same products and quantities are
flagged and linked, the product manager gets one task per group, never a second (a deal joining later, a lost
ledger); one dealer's repeated order is no fan. Counted through the portal's REST interface."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.app import Connector
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
ROWS = [
    {"PRODUCT_NAME": "Компрессор винтовой ВК-15", "PRICE": 350000, "QUANTITY": 2},
    {"PRODUCT_NAME": "Осушитель ОВ-20", "PRICE": 90000, "QUANTITY": 1},
]


def _rest(box: Any, method: str, params: dict[str, Any]) -> Any:
    reply = requests.post(box.webhook_url + method, json=params, timeout=10).json()
    assert "result" in reply, reply
    return reply["result"]


def _deal(box: Any, company: int, rows: list[dict[str, Any]]) -> str:
    deal = _rest(box, "crm.deal.add", {"fields": {"TITLE": "Запрос дилера", "COMPANY_ID": company}})
    _rest(box, "crm.deal.productrows.set", {"id": deal, "rows": rows})
    return str(deal)


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=1, rate_limit="off")) as sandbox:
        yield sandbox


def _run(box: Any, ledger: Path) -> None:
    config = make_config(box, ledger)
    config.flows = ["fans"]
    with Connector(config) as conn:
        conn.setup()
        conn.runner("fans").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        conn.runner("fans").incremental(7)


def test_deals_of_different_dealers_with_the_same_rows_are_one_fan_with_one_task(
    box: Any, tmp_path: Path
) -> None:
    dealers = [_rest(box, "crm.company.add", {"fields": {"TITLE": f"Дилер {n}"}}) for n in (1, 2, 3)]
    first = _deal(box, dealers[0], ROWS)
    second = _deal(box, dealers[1], list(reversed(ROWS)))  # the same products and quantities, another order
    other = _deal(box, dealers[1], [{**ROWS[0], "QUANTITY": 3}])  # other quantities: not the same project
    again = [_deal(box, dealers[2], ROWS[1:]), _deal(box, dealers[2], ROWS[1:])]  # one dealer twice: no fan
    _run(box, tmp_path / "one.db")
    _run(box, tmp_path / "one.db")  # again: nothing new
    deals = {
        str(d["ID"]): d
        for d in _rest(box, "crm.deal.list", {"select": ["ID", "UF_CRM_1C_FAN", "UF_CRM_1C_FAN_DEALS"]})
    }
    assert (deals[first]["UF_CRM_1C_FAN"], deals[first]["UF_CRM_1C_FAN_DEALS"]) == ("1", second)
    assert (deals[second]["UF_CRM_1C_FAN"], deals[second]["UF_CRM_1C_FAN_DEALS"]) == ("1", first)
    for deal in (other, *again):
        assert deals[deal]["UF_CRM_1C_FAN"] in ("", "0", None), deal
    # A third dealer with the same request joins the group: flagged and linked, still one task; then a lost ledger.
    third = _deal(box, dealers[2], ROWS)
    _run(box, tmp_path / "one.db")
    _run(box, tmp_path / "lost.db")
    deals = {
        str(d["ID"]): d
        for d in _rest(box, "crm.deal.list", {"select": ["ID", "UF_CRM_1C_FAN", "UF_CRM_1C_FAN_DEALS"]})
    }
    assert deals[third]["UF_CRM_1C_FAN_DEALS"] == f"{first}, {second}"
    assert deals[first]["UF_CRM_1C_FAN_DEALS"] == f"{second}, {third}"
    # The third dealer changes the request: its deal leaves the fan and is unflagged; the others stay linked.
    _rest(box, "crm.deal.productrows.set", {"id": third, "rows": [{**ROWS[0], "QUANTITY": 5}]})
    _run(box, tmp_path / "one.db")
    _run(box, tmp_path / "one.db")
    deals = {
        str(d["ID"]): d
        for d in _rest(box, "crm.deal.list", {"select": ["ID", "UF_CRM_1C_FAN", "UF_CRM_1C_FAN_DEALS"]})
    }
    assert (deals[third]["UF_CRM_1C_FAN"], deals[third]["UF_CRM_1C_FAN_DEALS"]) in (("0", ""), ("", ""))
    assert deals[first]["UF_CRM_1C_FAN_DEALS"] == second
    tasks = _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID", "UF_CRM_TASK", "RESPONSIBLE_ID"]})[
        "tasks"
    ]
    assert Counter(t["xmlId"].split(":", 1)[1] for t in tasks) == {f"fan:rows:{first}": 1}
    assert tasks[0]["ufCrmTask"] == [f"D_{first}", f"D_{second}"] and tasks[0]["responsibleId"] == "1"
