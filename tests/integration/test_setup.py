"""`b24-1c setup`: user fields and pipeline stages the mappings need, created when missing, idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.integration


def test_setup_creates_fields_and_declared_stages_once_and_reports_undeclared_ones(
    sandbox: Any, tmp_path: Path
) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    money = (mappings / "money.yaml").read_text(encoding="utf-8")
    money = money.replace("        then: WON\n", '        then: {stage: "C1:PAID", category: 1}\n')
    money = money.replace(
        "user_fields:\n", "stages:\n  C1:PAID: {name: Оплачено, sort: 35}\n\nuser_fields:\n"
    )
    money = money.replace(
        "        then: EXECUTING ", "        then: UC_SHIPWAIT "
    )  # a stage made by hand (UC_), absent here
    (mappings / "money.yaml").write_text(money, encoding="utf-8")
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.mappings_dir = mappings
    with Connector(config) as conn:
        first = dict(conn.setup())
        second = dict(conn.setup())
    assert first["stage C1:PAID"] == "created" and second["stage C1:PAID"] == "present"
    assert first["deal field UF_CRM_1C_PAID_PERCENT"] == "created"
    assert second["deal field UF_CRM_1C_PAID_PERCENT"] == "present"
    assert first["stage UC_SHIPWAIT"].startswith("failed: missing on the portal; declare it under stages:")
    assert first["stage FINAL_INVOICE"] == "present"
    assert "stage EXECUTING" in first  # the stages deals_to_orders listens to are checked too
    paid = [s for s in sandbox.portal.statuses if s["STATUS_ID"] == "C1:PAID"]
    assert len(paid) == 1 and paid[0]["ENTITY_ID"] == "DEAL_STAGE_1" and paid[0]["NAME"] == "Оплачено"
    defs = sandbox.portal.user_field_defs("deal")
    # money.yaml's read_only fields: users cannot edit them in the card (EDIT_IN_LIST=N); the others stay editable
    assert defs["UF_CRM_1C_PAID_PERCENT"]["EDIT_IN_LIST"] == "N"
    assert defs["UF_CRM_1C_PAID_PERCENT"]["USER_TYPE_ID"] == "integer"  # a whole number, seed 003
    assert defs["UF_CRM_1C_ORDER_NUMBER"]["EDIT_IN_LIST"] == "Y"  # orders.yaml does not ask for it


def test_setup_and_the_start_check_read_every_page_of_a_portal_with_many_user_fields(
    sandbox: Any, tmp_path: Path
) -> None:
    """A real portal has more than 50 deal user fields and stage rows; both lists answer 50 rows a page.

    Reading only the first page made `setup` report "already exists" failures and `require_ready` refuse to start
    although every field was there."""
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    with Connector(config) as conn:
        for n in range(61):  # the portal's own fields, older (lower IDs) than ours
            conn.bitrix24.call(
                "crm.deal.userfield.add",
                {
                    "fields": {
                        "FIELD_NAME": f"UF_CRM_OTHER_{n}",
                        "USER_TYPE_ID": "string",
                        "LABEL": f"other {n}",
                    }
                },
                write=True,
            )
        first = dict(conn.setup())
        assert not [k for k, v in first.items() if k.startswith("deal field") and v.startswith("failed")], (
            first
        )
        assert conn.missing_on_portal() == []
        second = dict(conn.setup())
    ours = [k for k in second if k.startswith("deal field")]
    assert ours and all(second[k] == "present" for k in ours), second
