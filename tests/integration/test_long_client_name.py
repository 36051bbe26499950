"""A Bitrix24 company whose title is longer than 1C's Наименование (100 characters) is made in 1C with the name cut
and a warning naming the company and field; its whole name goes to НаименованиеПолное."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import structlog

from connector.app import Connector
from tests.conftest import make_config
from tests.integration.test_new_client_into_1c import deal_for, hand_made_company, in_1c

pytestmark = pytest.mark.integration


def test_a_long_company_title_is_cut_for_1c_with_a_warning(sandbox: Any, tmp_path: Path) -> None:
    config = make_config(sandbox, tmp_path / "l.db")
    title = "ООО «" + "Очень длинное наименование " * 8 + "»"  # about 230 characters
    with Connector(config.model_copy(update={"flows": ["counterparties", "deals_to_orders"]})) as conn:
        conn.setup()
        company = hand_made_company(conn, "7712345678", "771201001", title)
        deal_for(conn, sandbox, COMPANY_ID=company)
        with structlog.testing.capture_logs() as logs:
            report = conn.runner("deals_to_orders").incremental(30)
        (made,) = in_1c(conn, "Catalog_Контрагенты", ИНН="7712345678")
    assert report.failed == 0, report.errors
    assert made["Description"] == title[:100] and made["НаименованиеПолное"] == title
    (cut,) = [e for e in logs if e["log_level"] == "warning" and e.get("field") == "Description"]
    assert cut["record"] == f"company {company}" and cut["length"] == len(title) and cut["kept"] == 100
