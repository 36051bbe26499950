"""A whole УТ 11.5 `$metadata` (B24_1C_ONEC_METADATA=full): real size, real object kinds, the model's own entities."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
import requests
from b24_1c_sandbox.onec.app import METADATA_ENV, ODataApp
from b24_1c_sandbox.onec.fullmeta import generate
from b24_1c_sandbox.onec.infobase import Infobase
from onecemu import OneC

from connector.clock import ManualClock
from connector.onec.odata import ODataClient

E = "{http://schemas.microsoft.com/ado/2009/11/edm}"


@pytest.fixture(scope="module")
def full() -> tuple[bytes, ET.Element]:
    app = ODataApp(Infobase("ut11.5"))
    app.knobs.metadata = "full"
    doc = app.metadata()
    return doc, ET.fromstring(doc)[0][0]


def _entity(schema: ET.Element, name: str) -> ET.Element:
    found = schema.find(f"{E}EntityType[@Name='{name}']")
    assert found is not None, name
    return found


def _props(entity: ET.Element) -> list[tuple[str | None, str | None]]:
    return [(p.get("Name"), p.get("Type")) for p in entity.findall(f"{E}Property")]


def test_full_metadata_has_the_size_and_counts_of_a_real_ut115(full: tuple[bytes, ET.Element]) -> None:
    doc, schema = full
    tags = Counter(child.tag.removeprefix(E) for child in schema)
    assert len(doc) >= 10_000_000
    assert tags["EntityType"] >= 3_800
    assert tags["EnumType"] >= 900
    assert tags["ComplexType"] >= 1_000 and tags["Association"] >= 5_000
    container = schema.find(f"{E}EntityContainer")
    assert container is not None
    assert len(container.findall(f"{E}FunctionImport")) >= 1_500
    assert len(container.findall(f"{E}EntitySet")) == tags["EntityType"]


def test_every_object_kind_a_real_base_publishes_is_there(full: tuple[bytes, ET.Element]) -> None:
    _, schema = full
    names = [e.get("Name", "") for e in schema.findall(f"{E}EntityType")]
    kinds = Counter(n.split("_", 1)[0] for n in names)
    for kind, at_least in {
        "Catalog": 400,
        "Document": 300,
        "InformationRegister": 400,
        "AccumulationRegister": 200,
        "ChartOfCharacteristicTypes": 10,
        "Constant": 100,
        "ExchangePlan": 5,
        "DocumentJournal": 5,
        "BusinessProcess": 1,
        "Task": 1,
    }.items():
        assert kinds[kind] >= at_least, kind
    # a document's tabular section is its own entity type keyed by Ref_Key + LineNumber, with a row complex type
    doc = next(n for n in names if n.startswith("Document_ЗаказПоставщику"))
    sections = [
        p for p in _entity(schema, doc).findall(f"{E}Property") if p.get("Type", "").startswith("Coll")
    ]
    assert sections
    table = f"{doc}_{sections[0].get('Name')}"
    keys = [k.get("Name") for k in _entity(schema, table).iter(f"{E}PropertyRef")]
    assert keys == ["Ref_Key", "LineNumber"]
    assert schema.find(f"{E}ComplexType[@Name='{table}_RowType']") is not None
    # accumulation registers: record type, balance/turnover complex types and their function imports
    register = next(n for n in names if n.startswith("AccumulationRegister_ТоварыНаСкладах"))
    record = _entity(schema, register + "_RecordType")
    assert [k.get("Name") for k in record.iter(f"{E}PropertyRef")] == [
        "Recorder",
        "LineNumber",
        "Recorder_Type",
    ]
    assert ("RecordType", "Edm.String") in _props(record)
    assert schema.find(f"{E}ComplexType[@Name='{register}_Turnover']") is not None
    # enums: EnumType with members; properties holding enum values stay Edm.String (never typed as the enum)
    enum = schema.find(f"{E}EnumType[@Name='AllowedLength']")
    assert enum is not None and [m.get("Name") for m in enum] == ["Fixed", "Variable"]
    assert all(len(e) >= 2 for e in schema.findall(f"{E}EnumType"))
    enum_names = {e.get("Name") for e in schema.findall(f"{E}EnumType")}
    assert not any(p.get("Type") in enum_names for p in schema.iter(f"{E}Property"))
    # a constant: SurrogateKey and Value
    constant = _entity(schema, next(n for n in names if n.startswith("Constant_")))
    assert _props(constant)[0] == ("SurrogateKey", "Edm.Int32")


def test_the_connectors_own_entities_keep_their_real_property_sets(full: tuple[bytes, ET.Element]) -> None:
    _, schema = full
    model = ET.fromstring(ODataApp(Infobase("ut11.5")).metadata())[0][0]
    for name in ("Document_ЗаказКлиента", "Document_ЗаказКлиента_Товары", "Catalog_Контрагенты"):
        assert _props(_entity(schema, name)) == _props(_entity(model, name))
        assert len(schema.findall(f"{E}EntityType[@Name='{name}']")) == 1
    # generated objects point at the model's catalogs
    assert schema.find(f"{E}Association/{E}End[@Type='StandardODATA.Catalog_Контрагенты']") is not None


def test_full_metadata_is_deterministic_from_its_seed() -> None:
    taken = frozenset({"Catalog_Контрагенты"})
    fresh = generate.__wrapped__  # past the cache: a second, independent run
    first, again, other = fresh(3, taken), fresh(3, taken), fresh(4, taken)
    assert first is not again and "".join(first.schema) == "".join(again.schema)
    assert "".join(first.schema) != "".join(other.schema)


def test_the_emulator_serves_full_metadata_when_the_environment_asks(
    onec: OneC, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(onec.get("$metadata").content) < 1_000_000  # the model's own objects by default
    monkeypatch.setenv(METADATA_ENV, "full")
    onec.app.knobs = type(onec.app.knobs)()  # knobs read the environment when made
    resp = onec.get("$metadata")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    assert len(resp.content) >= 10_000_000
    assert len(re.findall(rb"<EnumType ", resp.content)) >= 900
    monkeypatch.setenv(METADATA_ENV, "bogus")
    with pytest.raises(ValueError, match="B24_1C_ONEC_METADATA='bogus'"):
        ODataApp(onec.ib).metadata()


@pytest.mark.slow
def test_the_connector_resolves_names_from_a_whole_ut115(onec: OneC) -> None:
    onec.app.knobs.metadata = "full"
    client = ODataClient(
        requests.Session(), onec.root, "Администратор", "sandbox", ZoneInfo("Europe/Moscow"), ManualClock()
    )
    meta = client.metadata
    assert len(meta.entities) >= 3_800
    assert (
        meta.resolve("Document_ЗаказКлиента", "СтавкаНДС_Key", "СтавкаНДС", table="Товары") == "СтавкаНДС_Key"
    )
    assert meta.has("Catalog_Контрагенты", "ИНН") and not meta.has("Catalog_Контрагенты", "ИННН")
    rows = client.query("Document_ЗаказКлиента", select=["Ref_Key"], top=1)
    assert rows


def test_sets_only_the_full_metadata_has_are_published_and_empty(onec: OneC) -> None:
    onec.app.knobs.metadata = "full"
    names = {s["name"] for s in onec.json("")["value"]}
    assert len(names) >= 3_800 and "Document_ЗаказКлиента" in names
    generated = next(n for n in sorted(names) if n.startswith("Catalog_Виды"))
    assert onec.json(generated)["value"] == []
    assert onec.get(f"{generated}/$count").text.lstrip("\ufeff") == "0"
    missing = onec.get(f"{generated}(guid'00000000-0000-0000-0000-000000000001')", **{"$format": "json"})
    assert missing.status_code == 404 and missing.json()["odata.error"]["code"] == "9"
    assert onec.post(generated, {"Description": "x"}).status_code == 405
    assert onec.get("Catalog_НетТакого", **{"$format": "json"}).status_code == 404
    assert onec.json("Document_ЗаказКлиента", **{"$top": "1"})["value"]  # the model's sets keep their data
