"""crm.status.add (stages created by `b24-1c setup`) and crm.requisite.update, as portals answer them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=1, rate_limit="off")) as sandbox:
        yield sandbox


def call(box: Any, method: str, params: dict[str, Any]) -> requests.Response:
    return requests.post(box.webhook_url + method, json=params, timeout=10)


def test_status_add_creates_a_stage_in_its_pipeline_once(box: Any) -> None:
    made = call(
        box,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "PAID", "NAME": "Оплачено", "SORT": 35}},
    )
    assert made.status_code == 200 and isinstance(made.json()["result"], int)
    listed = call(box, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}, "order": {"SORT": "ASC"}})
    stages = [r["STATUS_ID"] for r in listed.json()["result"]]
    assert "C1:PAID" in stages and stages.index("C1:PAID") == stages.index("C1:EXECUTING") + 1
    again = call(
        box,
        "crm.status.add",
        {"fields": {"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "PAID", "NAME": "Оплачено"}},
    )
    assert again.status_code == 400 and again.json()["error"] == "ERROR_CORE"
    missing = call(box, "crm.status.add", {"fields": {"ENTITY_ID": "DEAL_STAGE"}})
    assert missing.status_code == 400 and missing.json()["error"] == ""


def test_requisite_update_changes_fields_and_refuses_unknown_ids(box: Any) -> None:
    company = call(box, "crm.company.add", {"fields": {"TITLE": "ООО «Ромашка»"}}).json()["result"]
    req = call(
        box,
        "crm.requisite.add",
        {
            "fields": {
                "ENTITY_TYPE_ID": 4,
                "ENTITY_ID": company,
                "PRESET_ID": 1,
                "NAME": "ООО «Ромашка»",
                "RQ_INN": "7701234567",
            }
        },
    ).json()["result"]
    assert (
        call(box, "crm.requisite.update", {"id": req, "fields": {"RQ_KPP": "770101001"}}).json()["result"]
        is True
    )
    row = call(box, "crm.requisite.list", {"filter": {"ID": req}}).json()["result"][0]
    assert (row["RQ_INN"], row["RQ_KPP"], row["ENTITY_ID"]) == ("7701234567", "770101001", str(company))
    gone = call(box, "crm.requisite.update", {"id": 999, "fields": {"RQ_KPP": "1"}})
    assert gone.status_code == 400 and gone.json()["error_description"] == "Not found"


def test_setup_writes_are_refused_to_a_user_who_is_not_a_crm_administrator() -> None:
    """crm.deal.userfield.add, crm.company.userfield.add and crm.status.add: "администратор CRM" per the docs."""
    from b24_1c_sandbox.degraded import Degraded
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    how = Degraded(webhook_admin=False)
    with Sandbox(SandboxOptions(orders=1, rate_limit="off", degraded=how)) as box:
        for method, fields in (
            ("crm.deal.userfield.add", {"FIELD_NAME": "PAID_PCT", "USER_TYPE_ID": "double"}),
            ("crm.company.userfield.add", {"FIELD_NAME": "LAST_ORDER", "USER_TYPE_ID": "date"}),
            ("crm.status.add", {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "PAID", "NAME": "Оплачено"}),
        ):
            refused = call(box, method, {"fields": fields})
            assert refused.status_code == 400, method
            assert refused.json() == {"error": "", "error_description": "Access denied."}, method
        fields = call(box, "crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_PAID_PCT"}})
        assert fields.json()["result"] == []
        stages = call(box, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}}).json()["result"]
        assert "PAID" not in [s["STATUS_ID"] for s in stages]
