"""Routing, formats, $metadata, auth and rights of the 1C OData emulator (reference checklist 1-7, 24)."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import requests
from onecemu import OneC, error_of, session

EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"
ATOM = "{http://www.w3.org/2005/Atom}"
D = "{http://schemas.microsoft.com/ado/2007/08/dataservices}"
M = "{http://schemas.microsoft.com/ado/2007/08/dataservices/metadata}"


def test_service_document_is_atompub_by_default_and_json_on_request(onec: OneC) -> None:
    resp = onec.get("")
    assert resp.status_code == 200 and "xml" in resp.headers["Content-Type"]
    names = [
        c.get("href") for c in ET.fromstring(resp.content).iter("{http://www.w3.org/2007/app}collection")
    ]
    assert "Document_ЗаказКлиента" in names and "Catalog_Контрагенты" in names
    value = onec.json("")["value"]
    assert {"name": "ExchangePlan_ДляCRM", "url": "ExchangePlan_ДляCRM"} in value


def test_metadata_is_edmx_xml_even_when_json_is_asked(onec: OneC) -> None:
    resp = onec.get("$metadata", **{"$format": "json"})
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "{http://schemas.microsoft.com/ado/2007/06/edmx}Edmx" and root.get("Version") == "1.0"
    services = root[0]
    assert services.get(f"{M}DataServiceVersion") == "3.0"
    schema = services[0]
    assert schema.get("Namespace") == "StandardODATA"
    types = {t.get("Name"): t for t in schema.iter(f"{EDM}EntityType")}
    order = types["Document_ЗаказКлиента"]
    assert order.get("OpenType") == "true"
    props = [p.get("Name") for p in order.iter(f"{EDM}Property")]
    assert props[:6] == ["Ref_Key", "DataVersion", "DeletionMark", "Number", "Date", "Posted"]
    assert props.index("ДокументОснование_Type") > props.index("ЭтапыГрафикаОплаты")  # tags after collections
    assert {n.get("Name") for n in order.iter(f"{EDM}NavigationProperty")} >= {"Контрагент", "Организация"}
    rows = types["Document_ЗаказКлиента_Товары"]
    assert [k.get("Name") for k in rows.iter(f"{EDM}PropertyRef")] == ["Ref_Key", "LineNumber"]
    line = next(p for p in rows.iter(f"{EDM}Property") if p.get("Name") == "LineNumber")
    assert line.get("Type") == "Edm.Int64"
    complex_types = {t.get("Name") for t in schema.iter(f"{EDM}ComplexType")}
    assert "Document_ЗаказКлиента_Товары_RowType" in complex_types
    funcs = [(f.get("Name"), f.get("EntitySetPath")) for f in schema.iter(f"{EDM}FunctionImport")]
    assert ("Post", "Document_ЗаказКлиента") in funcs and (
        "Balance",
        "AccumulationRegister_РасчетыСКлиентами",
    ) in funcs
    assert ("SelectChanges", None) in funcs
    assert not any(p.get("Type") == "Edm.Decimal" for p in schema.iter(f"{EDM}Property"))


def test_every_served_property_is_declared_in_metadata(onec: OneC) -> None:
    schema = ET.fromstring(onec.get("$metadata").content)[0][0]
    declared = {
        t.get("Name"): {p.get("Name") for p in t.iter(f"{EDM}Property")}
        for t in schema.iter(f"{EDM}EntityType")
    }
    for entity in onec.ib.types:
        for row in onec.json(entity, **{"$top": "3"})["value"]:
            served = {k for k in row if "@" not in k}
            assert served <= declared[entity], (entity, served - declared[entity])


def test_json_formats_follow_the_metadata_level(onec: OneC) -> None:
    minimal = onec.json("Catalog_Контрагенты", **{"$top": "1"})
    assert minimal["odata.metadata"].endswith("$metadata#Catalog_Контрагенты")
    assert "Партнер@navigationLinkUrl" in minimal["value"][0]
    bare = onec.json("Catalog_Контрагенты", **{"$top": "1", "$format": "application/json;odata=nometadata"})
    assert "odata.metadata" not in bare and not any("@" in k for k in bare["value"][0])
    full = onec.json("Catalog_Контрагенты", **{"$top": "1", "$format": "application/json;odata=fullmetadata"})
    assert full["value"][0]["odata.type"] == "StandardODATA.Catalog_Контрагенты"
    by_accept = onec.session.get(
        onec.root + "Catalog_Валюты", headers={"Accept": "application/json"}, timeout=10
    )
    assert by_accept.headers["Content-Type"].startswith("application/json") and by_accept.json()["value"]
    assert by_accept.headers["DataServiceVersion"] == "3.0"


def test_atom_is_the_default_format_with_typed_properties(onec: OneC) -> None:
    resp = onec.get(f"Document_ЗаказКлиента(guid'{onec.refs['order']}')")
    assert resp.headers["Content-Type"].startswith("application/atom+xml")
    entry = ET.fromstring(resp.content)
    assert entry.tag == f"{ATOM}entry"
    props = entry.find(f"{ATOM}content/{M}properties")
    assert props is not None
    assert props.find(f"{D}СуммаДокумента").get(f"{M}type") == "Edm.Double"  # type: ignore[union-attr]
    assert props.find(f"{D}СуммаДокумента").text == "25000"  # type: ignore[union-attr]
    feed = ET.fromstring(onec.get("Catalog_Валюты").content)
    assert feed.tag == f"{ATOM}feed" and len(feed.findall(f"{ATOM}entry")) == 4


def test_percent_encoded_names_and_options_work(onec: OneC) -> None:
    url = (
        onec.root
        + "Catalog_%D0%92%D0%B0%D0%BB%D1%8E%D1%82%D1%8B?%24format=json&%24filter=Code%20eq%20%27643%27"
    )
    rows = onec.session.get(url, timeout=10).json()["value"]
    assert {r["Code"] for r in rows} == {"643"}


def test_unknown_or_unpublished_sets_are_404_and_names_are_case_sensitive(onec: OneC) -> None:
    assert onec.get("Catalog_контрагенты").status_code == 404
    onec.ib.published = {"Document_ЗаказКлиента"}
    assert error_of(onec.get("Catalog_Контрагенты", **{"$format": "json"}))[0] == 404
    assert onec.get("Document_ЗаказКлиента", **{"$format": "json"}).status_code == 200
    assert [v["name"] for v in onec.json("")["value"]] == ["Document_ЗаказКлиента"]


def test_basic_auth_decodes_cyrillic_user_names_as_utf8(onec: OneC) -> None:
    token = base64.b64encode("Администратор:sandbox".encode()).decode()
    resp = requests.get(
        onec.root + "Catalog_Валюты?$format=json", headers={"Authorization": f"Basic {token}"}, timeout=10
    )
    assert resp.status_code == 200
    denied = requests.get(onec.root + "Catalog_Валюты", timeout=10)
    assert denied.status_code == 401 and denied.headers["WWW-Authenticate"].startswith("Basic")
    assert session("Администратор", "wrong").get(onec.root + "Catalog_Валюты", timeout=10).status_code == 401


def test_misconfigured_publication_answers_auth_errors_with_html_200(onec: OneC) -> None:
    onec.app.html_auth_errors = True
    resp = session("Администратор", "wrong").get(onec.root + "$metadata", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert "<html" in resp.text


def test_rights_failures_are_401_code_20_per_entity(onec: OneC) -> None:
    onec.ib.grant("Обмен", "секрет", read={"Document_ЗаказКлиента"}, write=set())
    user = session("Обмен", "секрет")
    assert user.get(onec.root + "Document_ЗаказКлиента?$format=json&$top=1", timeout=10).status_code == 200
    status, code, text = error_of(user.get(onec.root + "Catalog_Контрагенты?$format=json", timeout=10))
    assert (status, code) == (401, "20") and "прав" in text
    resp = user.patch(
        onec.root + f"Document_ЗаказКлиента(guid'{onec.refs['order']}')?$format=json",
        json={"Комментарий": "x"},
        timeout=10,
    )
    assert error_of(resp)[:2] == (401, "20")


def test_errors_are_xml_for_atom_requests(onec: OneC) -> None:
    resp = onec.get("Document_ЗаказКлиента(guid'00000000-0000-0000-0000-0000000000aa')")
    assert resp.status_code == 404
    assert ET.fromstring(resp.content).find(f"{M}code").text == "9"  # type: ignore[union-attr]


def test_request_log_records_every_call(onec: OneC) -> None:
    onec.get("Catalog_Валюты", **{"$top": "1"})
    last = onec.app.log[-1]
    assert (last.method, last.user, last.status) == ("GET", "Администратор", 200)
    assert last.path.endswith("Catalog_Валюты") and "top" in last.query
