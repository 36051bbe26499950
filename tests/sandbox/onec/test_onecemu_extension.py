"""A customized base: attributes and tabular sections from a profile extension file are published, kept and read."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from b24_1c_sandbox.http import HTTPService
from b24_1c_sandbox.onec.app import ODataApp
from b24_1c_sandbox.onec.extension import ENV, ExtensionError
from b24_1c_sandbox.onec.infobase import Infobase
from onecemu import USER, OneC, session, start

E = "{http://schemas.microsoft.com/ado/2009/11/edm}"
ORDERS = "Document_ЗаказКлиента"
EXTENSION = """\
Document_ЗаказКлиента:
  attributes:
    ДополнительныйСтатус: string
    ИмяРасширения_Поле: string
    СрокГарантии: integer
    ДатаМонтажа: date
    Монтажник: Catalog_Пользователи
  tables:
    Монтаж:
      Работа: string
      Стоимость: number
Catalog_Контрагенты:
  attributes:
    ОтраслевойПризнак: string
"""


@pytest.fixture
def custom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OneC]:
    path = tmp_path / "extension.yaml"
    path.write_text(EXTENSION, encoding="utf-8")
    monkeypatch.setenv(ENV, str(path))
    box = start(orders=5)
    try:
        yield box
    finally:
        box.session.close()
        box.service.stop()


def test_custom_attributes_and_sections_are_published(custom: OneC) -> None:
    schema = ET.fromstring(custom.get("$metadata").content)[0][0]
    order = schema.find(f"{E}EntityType[@Name='{ORDERS}']")
    assert order is not None
    props = {p.get("Name"): p.get("Type") for p in order.findall(f"{E}Property")}
    assert props["ДополнительныйСтатус"] == "Edm.String" and props["ИмяРасширения_Поле"] == "Edm.String"
    assert props["СрокГарантии"] == "Edm.Int64" and props["ДатаМонтажа"] == "Edm.DateTime"
    assert props["Монтажник_Key"] == "Edm.Guid"
    assert props["Монтаж"] == f"Collection(StandardODATA.{ORDERS}_Монтаж_RowType)"
    assert "Монтажник" in {n.get("Name") for n in order.findall(f"{E}NavigationProperty")}
    assert schema.find(f"{E}EntityType[@Name='{ORDERS}_Монтаж']") is not None
    row = schema.find(f"{E}ComplexType[@Name='{ORDERS}_Монтаж_RowType']")
    assert row is not None and {p.get("Name") for p in row} >= {"Работа", "Стоимость"}


def test_custom_values_are_kept_on_writes_and_read_back(custom: OneC) -> None:
    ref = custom.refs["order"]
    manager = custom.ib.all("Catalog_Пользователи")[0]["Ref_Key"]
    resp = custom.patch(
        f"{ORDERS}(guid'{ref}')",
        {
            "ДополнительныйСтатус": "Монтаж согласован",
            "ИмяРасширения_Поле": "из CRM",
            "СрокГарантии": 24,
            "ДатаМонтажа": "2025-03-20T10:00:00",
            "Монтажник_Key": manager,
            "Монтаж": [{"Работа": "Монтаж кровли", "Стоимость": 15000}],
            "НетТакогоРеквизита": "x",  # not the object's: ignored, as DOC §17.4.13.1 says 1C does
        },
    )
    assert resp.status_code == 200, resp.text
    order = custom.json(f"{ORDERS}(guid'{ref}')")
    assert order["ДополнительныйСтатус"] == "Монтаж согласован" and order["ИмяРасширения_Поле"] == "из CRM"
    assert order["СрокГарантии"] == "24" and order["ДатаМонтажа"] == "2025-03-20T10:00:00"
    assert order["Монтажник_Key"] == manager and order["Монтажник@navigationLinkUrl"].endswith("/Монтажник")
    assert [(r["LineNumber"], r["Работа"], r["Стоимость"]) for r in order["Монтаж"]] == [
        ("1", "Монтаж кровли", 15000)
    ]
    assert "НетТакогоРеквизита" not in order
    found = custom.json(
        ORDERS, **{"$filter": "ДополнительныйСтатус eq 'Монтаж согласован'", "$select": "Ref_Key"}
    )
    assert found["value"] == [{"Ref_Key": ref}]
    # objects never written with them show 1C's empty values
    other = next(o for o in custom.ib.all(ORDERS) if o["Ref_Key"] != ref)
    assert other["ДополнительныйСтатус"] == "" and other["Монтаж"] == []
    created = custom.post(
        "Catalog_Контрагенты", {"Description": "ООО Кровля", "ОтраслевойПризнак": "Строительство"}
    )
    assert created.status_code == 201 and created.json()["ОтраслевойПризнак"] == "Строительство"


def test_without_the_extension_the_custom_attributes_do_not_exist(onec: OneC) -> None:
    ref = onec.refs["order"]
    assert onec.patch(f"{ORDERS}(guid'{ref}')", {"ДополнительныйСтатус": "x"}).status_code == 200
    assert "ДополнительныйСтатус" not in onec.json(f"{ORDERS}(guid'{ref}')")
    assert (
        onec.get(ORDERS, **{"$format": "json", "$filter": "ДополнительныйСтатус eq 'x'"}).status_code == 400
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Document_ЗаказКлиентов:\n  attributes: {X: string}\n",
            r"extension.yaml:1: the profile has no Document_ЗаказКлиентов; similar: Document_ЗаказКлиента",
        ),
        (
            "Document_ЗаказКлиента:\n  attributes:\n    Статус2: text\n",
            r"extension.yaml:3: Document_ЗаказКлиента.Статус2: unknown type 'text'",
        ),
        ("Document_ЗаказКлиента:\n  attributes:\n    Комментарий: string\n", r"already has Комментарий"),
        (
            "Document_ЗаказКлиента:\n  attributes:\n    Контрагент: Catalog_Контрагенты\n",
            r"already has Контрагент",
        ),
        (
            "Document_ЗаказКлиента:\n  tables:\n    Товары: {A: string}\n",
            r"tables.Товары: not a new tabular section",
        ),
        ("Document_ЗаказКлиента:\n  fields: {A: string}\n", r"expected 'attributes' and/or 'tables'"),
        ("- a\n", r"expected entity sets"),
    ],
)
def test_a_bad_extension_file_is_refused_naming_file_line_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "extension.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ExtensionError, match=message):
        Infobase("ut11.5", extension=path)


def test_the_extension_applies_to_an_emulator_started_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "extension.yaml"
    path.write_text(EXTENSION, encoding="utf-8")
    ib = Infobase("ut11.4", users={USER: "sandbox"}, extension=path)
    service = HTTPService(ODataApp(ib)).start()
    try:
        meta = session().get(f"{service.url}/ut/odata/standard.odata/$metadata", timeout=10).content
        assert "ИмяРасширения_Поле".encode() in meta
    finally:
        service.stop()
