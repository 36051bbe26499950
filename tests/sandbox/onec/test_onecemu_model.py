"""Entity model, profiles (УТ 11.5 / 11.4 / БП 3.0) and value encoding as 1C writes it (reference §2, §8, §10)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from b24_1c_sandbox.onec.infobase import Infobase
from onecemu import OneC

EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
ZERO = "00000000-0000-0000-0000-000000000000"


def _declared(box: OneC) -> dict[str, set[str]]:
    schema = ET.fromstring(box.get("$metadata").content)[0][0]
    return {
        t.get("Name") or "": {p.get("Name") or "" for p in t.iter(f"{EDM}Property")}
        for t in schema.iter(f"{EDM}EntityType")
    }


def test_reference_order_is_encoded_exactly_as_1c_does(onec: OneC) -> None:
    order = onec.json(f"Document_ЗаказКлиента(guid'{onec.refs['order']}')")
    assert order["odata.metadata"].endswith("$metadata#Document_ЗаказКлиента/@Element")
    assert list(order)[1:7] == ["Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted"]
    assert (order["Number"], order["Date"], order["Posted"]) == ("ЦБ00-000125", "2024-11-05T10:15:32", True)
    assert len(base64.b64decode(order["DataVersion"])) == 8
    assert order["СуммаДокумента"] == 25000 and order["Статус"] == "КОтгрузке"
    assert order["Договор_Key"] == ZERO and order["ДатаПоДаннымКлиента"] == "0001-01-01T00:00:00"
    assert order["ДокументОснование"] == "" and order["ДокументОснование_Type"] == "StandardODATA.Undefined"
    assert order["ОбъектРасчетов_Key"] == onec.refs["settlement"]
    row = order["Товары"][0]
    assert row["Ref_Key"] == onec.refs["order"] and row["LineNumber"] == "1" and row["КодСтроки"] == "1"
    assert row["СтавкаНДС_Key"] == onec.refs["vat"] and row["Характеристика_Key"] == ZERO
    assert not any("@" in k for r in order["Товары"] for k in r)  # never links inside rows
    keys = list(order)
    links = [k for k in keys if k.endswith("@navigationLinkUrl")]
    assert keys[-len(links) :] == links  # links at the end
    assert "Договор@navigationLinkUrl" not in order  # empty refs get no link
    assert (
        order["Контрагент@navigationLinkUrl"]
        == f"Document_ЗаказКлиента(guid'{onec.refs['order']}')/Контрагент"
    )
    assert keys.index("ДокументОснование_Type") > keys.index("ЭтапыГрафикаОплаты")
    assert order["ЭтапыГрафикаОплаты"][1]["ДатаПлатежа"] == "2024-11-26T00:00:00"


def test_navigation_link_resolves_to_the_referenced_object(onec: OneC) -> None:
    target = onec.json(f"Document_ЗаказКлиента(guid'{onec.refs['order']}')/Контрагент")
    assert target["Ref_Key"] == onec.refs["counterparty"] and target["ИНН"] == "7712345678"


def test_reference_shipment_and_receipt_link_to_the_order(onec: OneC) -> None:
    receipt = onec.json(f"Document_ПоступлениеБезналичныхДенежныхСредств(guid'{onec.refs['receipt']}')")
    assert (
        receipt["Number"] == "ЦБ00-000078"
        and receipt["РасшифровкаПлатежа"][0]["ОбъектРасчетов_Key"] == onec.refs["settlement"]
    )
    shipment = onec.json(f"Document_РеализацияТоваровУслуг(guid'{onec.refs['shipment']}')")
    assert shipment["ЗаказКлиента"] == onec.refs["order"]
    assert shipment["ЗаказКлиента_Type"] == "StandardODATA.Document_ЗаказКлиента"
    assert [(r["Количество"], r["Сумма"]) for r in shipment["Товары"]] == [(4, 6000), (2, 4000)]
    assert all(r["ЗаказКлиента_Type"] == "StandardODATA.Document_ЗаказКлиента" for r in shipment["Товары"])
    assert shipment["СуммаДокумента"] == 10000


def test_int64_values_are_strings_and_doubles_numbers(onec: OneC) -> None:
    order = onec.json(f"Document_ЗаказКлиента(guid'{onec.refs['order']}')")
    assert order["МаксимальныйКодСтроки"] == "2" and isinstance(order["Товары"][1]["СуммаНДС"], float)
    assert onec.json("ExchangePlan_ДляCRM")["value"][0]["SentNo"] == "0"


def test_catalogs_have_standard_fields_in_order(onec: OneC) -> None:
    row = onec.json("Catalog_Контрагенты", **{"$top": "1"})["value"][0]
    assert list(row)[:7] == [
        "Ref_Key",
        "DataVersion",
        "DeletionMark",
        "Code",
        "Description",
        "Parent_Key",
        "IsFolder",
    ]
    assert "Predefined" in row and "PredefinedDataName" in row and row["ЮрФизЛицо"] == "ЮрЛицо"


@pytest.mark.parametrize(
    ("profile", "present", "absent"),
    [
        (
            "ut11.5",
            {
                "Document_ЗаказКлиента_Товары": {"СтавкаНДС_Key"},
                "Document_ПоступлениеБезналичныхДенежныхСредств_РасшифровкаПлатежа": {"ОбъектРасчетов_Key"},
                "Catalog_Контрагенты": {"ЮрФизЛицо"},
                "Document_ЗаказКлиента": {"ОбъектРасчетов_Key"},
            },
            {"Document_ЗаказКлиента_Товары": {"СтавкаНДС"}},
        ),
        (
            "ut11.4",
            {
                "Document_ЗаказКлиента_Товары": {"СтавкаНДС"},
                "Document_ПоступлениеБезналичныхДенежныхСредств_РасшифровкаПлатежа": {"Заказ", "Заказ_Type"},
                "Catalog_Контрагенты": {"ЮрФизЛицо"},
            },
            {
                "Document_ЗаказКлиента_Товары": {"СтавкаНДС_Key"},
                "Document_ЗаказКлиента": {"ОбъектРасчетов_Key"},
                "Document_ПоступлениеБезналичныхДенежныхСредств_РасшифровкаПлатежа": {"ОбъектРасчетов_Key"},
            },
        ),
        (
            "bp3.0",
            {
                "Document_СчетНаОплатуПокупателю": {"ДоговорКонтрагента_Key"},
                "Document_ПоступлениеНаРасчетныйСчет_РасшифровкаПлатежа": {
                    "СчетНаОплату_Key",
                    "СуммаПлатежа",
                },
                "Catalog_Контрагенты": {"ЮридическоеФизическоеЛицо"},
                "Catalog_Номенклатура": {"СтавкаНДС"},
            },
            {"Catalog_Контрагенты": {"ЮрФизЛицо", "Партнер_Key"}},
        ),
    ],
)
def test_profiles_reproduce_the_real_name_drift(
    onec_profile: Callable[[str], OneC],
    profile: str,
    present: dict[str, set[str]],
    absent: dict[str, set[str]],
) -> None:
    box = onec_profile(profile)
    declared = _declared(box)
    for entity, names in present.items():
        assert names <= declared[entity], (entity, names - declared[entity])
    for entity, names in absent.items():
        assert not names & declared.get(entity, set()), entity
    sets = {v["name"] for v in box.json("")["value"]}
    if profile == "bp3.0":
        assert "Document_ЗаказКлиента" not in sets and "Catalog_Партнеры" not in sets
        assert {"Document_СчетНаОплатуПокупателю", "Document_ПоступлениеНаРасчетныйСчет"} <= sets
    else:
        assert {"Catalog_Партнеры", "Document_СчетНаОплатуКлиенту", "Document_ПриходныйКассовыйОрдер"} <= sets
    assert ("Catalog_СтавкиНДС" in sets) == (profile == "ut11.5")


def test_ut114_receipt_points_at_the_order_by_composite(onec_profile: Callable[[str], OneC]) -> None:
    box = onec_profile("ut11.4")
    receipt = box.json(f"Document_ПоступлениеБезналичныхДенежныхСредств(guid'{box.refs['receipt']}')")
    row = receipt["РасшифровкаПлатежа"][0]
    assert (row["Заказ"], row["Заказ_Type"]) == (box.refs["order"], "StandardODATA.Document_ЗаказКлиента")
    assert row["СтавкаНДС"] == "НДС20"
    matched = box.json(
        "Document_ПоступлениеБезналичныхДенежныхСредств",
        **{
            "$filter": f"РасшифровкаПлатежа/any(d: d/Заказ eq cast(guid'{box.refs['order']}','Document_ЗаказКлиента'))"
        },
    )
    assert [r["Ref_Key"] for r in matched["value"]] == [box.refs["receipt"]]


def test_bp30_receipt_settles_the_invoice(onec_profile: Callable[[str], OneC]) -> None:
    box = onec_profile("bp3.0")
    receipt = box.json(f"Document_ПоступлениеНаРасчетныйСчет(guid'{box.refs['receipt']}')")
    assert (
        receipt["Контрагент_Type"] == "StandardODATA.Catalog_Контрагенты"
        and receipt["ВидОперации"] == "ОплатаПокупателя"
    )
    assert receipt["РасшифровкаПлатежа"][0]["СчетНаОплату_Key"] == box.refs["order"]
    assert receipt["РасшифровкаПлатежа"][0]["СуммаПлатежа"] == 10000
    cp = box.json(f"Catalog_Контрагенты(guid'{box.refs['counterparty']}')")
    assert cp["ЮридическоеФизическоеЛицо"] == "ЮридическоеЛицо"


def test_skeleton_api_of_the_infobase_still_works(tmp_path: object) -> None:
    from pathlib import Path

    ib = Infobase(users={"u": "p"})
    rec = ib.insert("Catalog_Валюты", {"Code": "643", "Description": "руб."})
    changed = ib.update("Catalog_Валюты", rec["Ref_Key"], {"Description": "RUB"})
    assert (
        changed["DataVersion"] != rec["DataVersion"] and ib.get("Catalog_Валюты", rec["Ref_Key"]) == changed
    )
    assert ib.all("Catalog_Валюты") == [changed]
    path = Path(str(tmp_path)) / "ib.json"
    ib.save(path)
    other = Infobase()
    assert other.load(path) and other.get("Catalog_Валюты", rec["Ref_Key"]) == changed
    with pytest.raises(ValueError, match="unknown 1C profile"):
        Infobase("ut10.3")
