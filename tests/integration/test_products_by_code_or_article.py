"""A deal's product rows resolve to 1C products by their 1C code, their article (Артикул) or their name, in that
order; `b24-1c verify` names the products of waiting deals that 1C cannot resolve, with the deals."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.verify import verify
from tests.conftest import make_config
from tests.integration.test_new_client_into_1c import hand_made_company

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def deal_with(conn: Connector, *names: str) -> str:
    company = hand_made_company(conn, "7755555555", "775501001", "ООО «Артикул»")
    fields = {"TITLE": "По артикулу", "COMPANY_ID": company, "STAGE_ID": "EXECUTING"}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    rows = [{"PRODUCT_NAME": n, "PRICE": 100, "QUANTITY": 1} for n in names]
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": rows}, write=True)
    return deal


def test_rows_resolve_by_code_article_or_name_and_verify_names_the_rest(sandbox: Any, tmp_path: Path) -> None:
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows = ["deals_to_orders"]
    a, b, c = sandbox.dataset.products[:3]
    with Connector(config) as conn:
        conn.setup()
        good = deal_with(conn, a["Code"], b["Артикул"], c["Description"])
        bad = deal_with(conn, b["Артикул"], "Профлист неизвестный")
        found = verify(config)
        (line,) = [i.line() for i in found.problems if "Номенклатура" in i.line()]
        assert re.search(r"deals_to_orders\.yaml:\d+: target\.refs\.Номенклатура_Key", line), line
        assert "1 product(s)" in line and f"«Профлист неизвестный» (deal {bad})" in line
        assert "Catalog_Номенклатура by Code, Артикул or Description" in line
        report = conn.runner("deals_to_orders").incremental(30)
        (order,) = conn.odata.query(ORDER, filter=f"НомерПоДаннымКлиента eq 'B24-{good}'")
        assert [r["Номенклатура_Key"] for r in order["Товары"]] == [a["Ref_Key"], b["Ref_Key"], c["Ref_Key"]]
        (error,) = report.errors
        assert f"deal {bad}" in error
        assert (
            "no Catalog_Номенклатура by Code, Артикул or Description = 'Профлист неизвестный' in 1C" in error
        )


def test_verify_says_once_that_the_products_resolve_and_nothing_without_waiting_deals(
    sandbox: Any, tmp_path: Path
) -> None:
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows = ["deals_to_orders"]
    a = sandbox.dataset.products[0]
    with Connector(config) as conn:
        conn.setup()
        before = [i.line() for i in verify(config).items if "products of" in i.line()]
        deal_with(conn, a["Code"])
        after = [i.line() for i in verify(config).items if "products of" in i.line()]
    assert not [line for line in before if "products of 0 deal(s)" in line]
    # Two row references (product, VAT rate) are checked; the ok line is one per mapping.
    assert len(after) == 1 and after[0].startswith("[ok ]"), after
