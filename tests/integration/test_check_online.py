"""`b24-1c check --online`: field names of the mappings against the live 1C $metadata and Bitrix24 fields."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.online_check import check_online
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.integration


def test_shipped_mappings_name_only_fields_that_exist_after_setup(sandbox: Any, tmp_path: Path) -> None:
    with Connector(make_config(sandbox, tmp_path / "l.db")) as conn:
        before = check_online(conn)
        conn.setup()
        assert check_online(conn) == []
    assert any("UF_CRM_1C_PAID_AMOUNT" in p and "run `b24-1c setup`" in p for p in before)


def test_wrong_names_are_reported_with_file_key_and_suggestion(sandbox: Any, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    orders = (mappings / "orders.yaml").read_text(encoding="utf-8")
    orders = orders.replace("source: СуммаДокумента", "source: СуммаДокумента2")
    orders = orders.replace("source: Количество", "source: Колличество")
    orders = orders.replace("  COMMENTS:\n", "  COMMENTZ:\n")
    orders = orders.replace("entity: Catalog_Валюты", "entity: Catalog_Валюта")
    (mappings / "orders.yaml").write_text(orders, encoding="utf-8")
    config = make_config(sandbox, tmp_path / "l.db")
    config.mappings_dir = mappings
    with Connector(config) as conn:
        conn.setup()
        found = "\n".join(check_online(conn))
    assert (
        "orders.yaml: fields.OPPORTUNITY: 1C Document_ЗаказКлиента has no property 'СуммаДокумента2'" in found
    )
    assert "did you mean 'СуммаДокумента'" in found
    assert "rows.fields.QUANTITY: Document_ЗаказКлиента.Товары has no column 'Колличество'" in found
    assert "fields.COMMENTZ: Bitrix24 deal has no field 'COMMENTZ' (did you mean 'COMMENTS'?)" in found
    assert "lookups.currencies.entity: 1C does not publish Catalog_Валюта" in found
