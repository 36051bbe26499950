"""The admin guide's 1C publication list (docs/onec-objects.md) is generated from the shipped mappings."""

from __future__ import annotations

import shutil
from pathlib import Path

from connector.docs_gen import kind_of, render

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_publication_list_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "onec-objects.md").read_text(encoding="utf-8")
    assert committed == render(ROOT), "docs/onec-objects.md is out of date: run python -m connector.docs_gen"


def test_each_flow_lists_the_objects_its_mapping_names() -> None:
    text = render(ROOT)
    orders = text.split("### Flow `orders` (orders)")[1].split("###")[0]
    assert "| `Document_ЗаказКлиента` | Документы (Documents) | `source.entity` | yes |" in orders
    assert "`lookups.products.entity`" in orders  # the catalog a document references must be ticked too
    bp = text.split("## БП 3.0")[1]
    assert "`Document_СчетНаОплатуПокупателю`" in bp and "Document_ЗаказКлиента" not in bp


def test_a_changed_mapping_changes_the_list(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    path = tmp_path / "mappings" / "orders.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("entity: Catalog_Номенклатура", "entity: Catalog_Склады"), encoding="utf-8")
    out = render(tmp_path)
    assert "| `Catalog_Склады` | Справочники (Catalogs) | `lookups.products.entity` |" in out
    assert out != render(ROOT)


def test_the_publication_dialog_branch_of_an_object() -> None:
    assert kind_of("AccumulationRegister_РасчетыСКлиентами") == "Регистры накопления (Accumulation registers)"
    assert kind_of("Catalog_Валюты") == "Справочники (Catalogs)"
