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


def test_the_committed_wsdl_is_up_to_date() -> None:
    from connector.docs_gen import render_wsdl

    committed = (ROOT / "deploy" / "1c-extension" / "CrmExchange.wsdl").read_text(encoding="utf-8")
    assert committed == render_wsdl(), (
        "deploy/1c-extension/CrmExchange.wsdl is out of date: run python -m connector.docs_gen"
    )


def test_the_wsdl_offers_the_contract_s_operations_to_a_soap_client() -> None:
    from zeep import Client

    from connector.contracts.onec import load_onec

    client = Client(str(ROOT / "deploy" / "1c-extension" / "CrmExchange.wsdl"))
    contract = load_onec().soap["CrmExchange"]["operations"]
    for binding in client.wsdl.bindings.values():
        assert set(binding._operations) == set(contract)
        for name, op in binding._operations.items():
            params = [p for p, _ in op.input.body.type.elements]
            assert params == list(contract[name]["params"]), name
            assert op.soapaction == f"urn:crm#CrmExchange:{name}"
    # what the connector sends (connector/flows/deals_to_orders/target.py) serialises against it
    from lxml import etree

    envelope = client.create_message(client.service, "CreateOrder", IdempotencyKey="k-1", OrderJson="{}")
    body = etree.tostring(envelope).decode()
    assert "IdempotencyKey>k-1</" in body and 'xmlns:ns0="urn:crm"' in body


def _source_text() -> str:
    """The product's code with implicitly concatenated string literals joined and f-string braces unescaped."""
    import re

    text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "connector").rglob("*.py")))
    text = re.sub(r"\"\s*\n\s*[rf]*\"", "", text)
    return text.replace("{{", "{").replace("}}", "}")


def test_each_message_in_the_troubleshooting_table_is_one_the_connector_prints() -> None:
    import re

    guide = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    table = guide.split("## 7. Troubleshooting")[1].split("\n## ")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) >= 20
    source = _source_text()
    missing = []
    for row in rows:
        message = row[3 : row.index("`", 3)]
        for fragment in re.split(r"…|; ", message):  # "; " joins a reason and its advice
            fragment = fragment.strip().lstrip(":;").strip()
            if len(fragment) >= 6 and fragment not in source:
                missing.append(fragment)
    assert not missing, f"docs/admin-guide.md quotes messages the connector does not print: {missing}"


def test_the_guide_s_generated_sections_are_up_to_date() -> None:
    from connector.docs_gen import render_guide

    committed = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    assert committed == render_guide(committed, ROOT), (
        "docs/admin-guide.md's generated sections are out of date: run python -m connector.docs_gen"
    )
    assert "| `money` | crm, sale, task | `sale.payment.list`, `sale.payment.update` |" in committed


def test_a_guide_without_its_markers_is_refused() -> None:
    import pytest

    from connector.docs_gen import render_guide

    with pytest.raises(ValueError, match="generated:scopes"):
        render_guide("# guide without markers\n", ROOT)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def test_the_backfill_table_follows_from_the_measured_figures() -> None:
    """Requests = 0.174 per order (bench_requests: 174 for 1,000); time = (requests - burst) / rate, and that over
    the 99.2 % of the ceiling the whole backfill reached (bench_requests --plan standard)."""
    guide = (ROOT / "docs" / "admin-guide.md").read_text(encoding="utf-8")
    assert "174 Bitrix24 requests for\n1,000 orders" in guide and "99.2 %" in guide
    plans = ((50, 2), (250, 5))
    for orders in (10_000, 50_000, 200_000):
        requests = 0.174 * orders
        cells = [f"{orders:,}", f"≈ {round(requests, -2):,.0f}"]
        for burst, rate in plans:
            ceiling = (requests - burst) / rate
            cells += [_duration(ceiling), _duration(ceiling / 0.992)]
        assert "| " + " | ".join(cells) + " |" in guide, cells


def test_the_publication_script_names_each_object_by_its_metadata_collection() -> None:
    from connector.docs_gen import bsl_publish

    lines = bsl_publish(["AccumulationRegister_РасчетыСКлиентами", "Catalog_Валюты", "Odd_Thing"])
    assert lines[0] == "Состав = ПолучитьСоставСтандартногоИнтерфейсаOData();"
    assert "Состав.Добавить(Метаданные.РегистрыНакопления.РасчетыСКлиентами);" in lines[1]
    assert "Метаданные.Справочники.Валюты" in lines[2]
    assert lines[3] == "УстановитьСоставСтандартногоИнтерфейсаOData(Состав);" and len(lines) == 4
