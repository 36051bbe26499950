"""1C OData client: safe literals, UTF-8 Basic auth, BOM, error mapping, paging, $metadata name resolution."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from connector.clock import ManualClock
from connector.errors import AuthError, OutcomeUnknown, RemoteRejected, StopRun, TransientError
from connector.onec.metadata import parse_edmx
from connector.onec.odata import ODataClient
from connector.onec.query import F, Guid, literal, name

BASE = "http://1c.local/ut/odata/standard.odata/"
MSK = ZoneInfo("Europe/Moscow")


def client() -> ODataClient:
    return ODataClient(
        requests.Session(), BASE, "Администратор", "пароль", MSK, ManualClock(), max_attempts=3
    )


def test_literals_escape_user_data() -> None:
    assert literal("O'Reilly & Co", MSK) == "'O''Reilly & Co'"
    assert literal("ООО «Ромашка»", MSK) == "'ООО «Ромашка»'"
    assert (
        literal(Guid("0CC1A3F0-9A1B-11EF-8F2A-00155D0A1B01"), MSK)
        == "guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01'"
    )
    assert literal(datetime(2024, 1, 1, 21, 0, tzinfo=UTC), MSK) == "datetime'2024-01-02T00:00:00'"
    assert literal(True, MSK) == "true" and literal(10.5, MSK) == "10.5"
    with pytest.raises(ValueError):
        literal(float("nan"), MSK)


@pytest.mark.parametrize("bad", ["Date eq 1 or 1", "Name')", "a b", "", "Контрагент/ИНН eq '1'"])
def test_property_names_cannot_carry_syntax(bad: str) -> None:
    with pytest.raises(ValueError):
        name(bad)


def test_filter_builder_composes_only_safe_parts() -> None:
    f = F(MSK)
    text = F.and_(f.eq("Posted", True), f.any_of("Number", ["ЦБ-1", "x' or true or 'y"]))
    assert text == "Posted eq true and (Number eq 'ЦБ-1' or Number eq 'x'' or true or ''y')"
    assert (
        f.cast_eq("ЗаказКлиента", "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01", "Document_ЗаказКлиента")
        == "ЗаказКлиента eq cast(guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01', 'Document_ЗаказКлиента')"
    )


def test_references_and_dates_given_as_strings_are_sent_as_typed_literals() -> None:
    # mapping filters (YAML) and Bitrix24 values arrive as strings; 1C refuses them untyped (400)
    f = F(MSK)
    ref = "7A3B2C12-8D2E-11EE-B9D1-0242AC120002"
    assert f.eq("Контрагент_Key", ref) == "Контрагент_Key eq guid'7a3b2c12-8d2e-11ee-b9d1-0242ac120002'"
    assert f.eq("d/ОбъектРасчетов_Key", ref.lower()).endswith("eq guid'7a3b2c12-8d2e-11ee-b9d1-0242ac120002'")
    assert f.ge("Date", "2020-01-01T00:00:00") == "Date ge datetime'2020-01-01T00:00:00'"
    assert f.lt("Period", "2020-01-01") == "Period lt datetime'2020-01-01T00:00:00'"
    assert f.eq("ДатаОтгрузки", "2024-11-12T16:40") == "ДатаОтгрузки eq datetime'2024-11-12T16:40:00'"
    assert (
        f.ge("ЖелаемаяДатаОтгрузки", "2024-11-12") == "ЖелаемаяДатаОтгрузки ge datetime'2024-11-12T00:00:00'"
    )
    assert f.any_of("Ref_Key", [ref, ref]).count("guid'") == 2
    # strings stay strings where the property is one
    assert f.eq("НомерПоДаннымКлиента", "2020-01-01") == "НомерПоДаннымКлиента eq '2020-01-01'"
    assert f.eq("Комментарий", ref) == f"Комментарий eq '{ref}'"
    with pytest.raises(ValueError, match="Контрагент_Key is a 1C reference: 'B24-17' is not a GUID"):
        f.eq("Контрагент_Key", "B24-17")


@responses.activate
def test_cyrillic_basic_auth_is_utf8_and_options_are_percent_encoded() -> None:
    responses.get(
        BASE + "Document_%D0%97%D0%B0%D0%BA%D0%B0%D0%B7%D0%9A%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D0%B0",
        json={"value": [{"Ref_Key": "x"}]},
    )
    rows = client().query("Document_ЗаказКлиента", filter="Number eq 'А 1'", top=5)
    assert rows == [{"Ref_Key": "x"}]
    request = responses.calls[0].request
    user, _, password = base64.b64decode(request.headers["Authorization"][6:]).decode("utf-8").partition(":")
    assert (user, password) == ("Администратор", "пароль")
    assert "%20" in request.url and "+" not in request.url.split("?", 1)[1]
    assert unquote(request.url).endswith("$filter=Number eq 'А 1'&$top=5&$format=json")


@responses.activate
def test_pages_until_a_short_page_with_a_stable_order() -> None:
    for chunk in ([{"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}], [{"n": 5}]):
        responses.get(BASE + "Catalog_X", json={"value": chunk})
    pages = list(client().pages("Catalog_X", filter=None, orderby="Ref_Key", page_size=2))
    assert [skip for skip, _ in pages] == [0, 2, 4]
    assert "$skip=2" in unquote(responses.calls[1].request.url) and "$orderby=Ref_Key" in unquote(
        responses.calls[1].request.url
    )


@responses.activate
def test_count_strips_the_bom() -> None:
    responses.get(BASE + "Catalog_X/$count", body="\ufeff19".encode(), content_type="text/plain")
    assert client().count("Catalog_X") == 19


@pytest.mark.parametrize(
    ("status", "payload", "content_type", "error"),
    [
        (
            404,
            {
                "odata.error": {
                    "code": "9",
                    "message": {"lang": "ru", "value": "Экземпляр сущности не найден"},
                }
            },
            "application/json",
            RemoteRejected,
        ),
        (
            400,
            {"odata.error": {"code": "14", "message": {"lang": "ru", "value": "Ошибка разбора"}}},
            "application/json",
            StopRun,
        ),
        (
            400,
            {"odata.error": {"code": "21", "message": {"lang": "ru", "value": "tolower"}}},
            "application/json",
            StopRun,
        ),
        (
            401,
            {"odata.error": {"code": "20", "message": {"lang": "ru", "value": "Нарушение прав доступа"}}},
            "application/json",
            AuthError,
        ),
        (
            500,
            {"odata.error": {"code": "-1", "message": {"lang": "ru", "value": "Не удалось провести"}}},
            "application/json",
            RemoteRejected,
        ),
        (200, "<html><body>Ошибка авторизации</body></html>", "text/html", AuthError),
        (503, "<html>Service Unavailable</html>", "text/html", TransientError),
    ],
)
@responses.activate
def test_errors_map_to_what_the_caller_should_do(
    status: int, payload: object, content_type: str, error: type[Exception]
) -> None:
    if isinstance(payload, dict):
        responses.get(BASE + "Catalog_X", json=payload, status=status)
    else:
        responses.get(BASE + "Catalog_X", body=str(payload), status=status, content_type=content_type)
    with pytest.raises(error) as info:
        client().query("Catalog_X")
    assert "пароль" not in str(info.value)


@responses.activate
def test_a_write_whose_reply_is_lost_is_outcome_unknown_and_not_retried() -> None:
    responses.post(BASE + "Document_X", body=requests.ConnectionError("reset"))
    with pytest.raises(OutcomeUnknown):
        client().create("Document_X", {"Number": "1"})
    assert len(responses.calls) == 1


EDMX = """<?xml version="1.0"?><edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx" Version="1.0">
<edmx:DataServices><Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm" Namespace="StandardODATA">
<EntityType Name="Document_ЗаказКлиента"><Key><PropertyRef Name="Ref_Key"/></Key>
<Property Name="Ref_Key" Type="Edm.Guid"/><Property Name="СуммаДокумента" Type="Edm.Double"/>
<Property Name="Товары" Type="Collection(StandardODATA.Document_ЗаказКлиента_Товары_RowType)"/>
<NavigationProperty Name="Контрагент" Relationship="x" FromRole="Begin" ToRole="End"/></EntityType>
<ComplexType Name="Document_ЗаказКлиента_Товары_RowType"><Property Name="СтавкаНДС" Type="Edm.String"/></ComplexType>
</Schema></edmx:DataServices></edmx:Edmx>"""


@responses.activate
def test_metadata_is_fetched_once_and_resolves_profile_names() -> None:
    responses.get(BASE + "$metadata", body=EDMX.encode(), content_type="application/xml")
    c = client()
    assert (
        c.metadata.resolve("Document_ЗаказКлиента", "СтавкаНДС_Key", "СтавкаНДС", table="Товары")
        == "СтавкаНДС"
    )
    assert c.metadata.has("Document_ЗаказКлиента", "СуммаДокумента")
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="has none of ОбъектРасчетов_Key"):
        c.metadata.resolve("Document_ЗаказКлиента", "ОбъектРасчетов_Key")
    assert len(responses.calls) == 1


def test_edmx_parser_reads_tables_and_navigation() -> None:
    info = parse_edmx(EDMX)["Document_ЗаказКлиента"]
    assert info.properties == {"Ref_Key": "Edm.Guid", "СуммаДокумента": "Edm.Double"}
    assert info.tables == {"Товары": {"СтавкаНДС": "Edm.String"}} and info.navigation == {"Контрагент"}
    with pytest.raises(TransientError, match="not valid XML"):
        parse_edmx("<html>login")


def test_edmx_parser_streams_across_chunks_and_refuses_a_cut_document() -> None:
    # a document bigger than the parser's 1 MB read chunks: Cyrillic names split between chunks stay whole
    body = "".join(
        f'<EntityType Name="Catalog_Справочник{i}"><Key><PropertyRef Name="Ref_Key"/></Key>'
        f'<Property Name="Ref_Key" Type="Edm.Guid"/><Property Name="Реквизит{i}" Type="Edm.String"/>'
        f'<Property Name="Строки" Type="Collection(StandardODATA.Catalog_Справочник{i}_Строки_RowType)"/>'
        f'</EntityType><ComplexType Name="Catalog_Справочник{i}_Строки_RowType">'
        f'<Property Name="Колонка{i}" Type="Edm.Double"/></ComplexType>'
        for i in range(4000)
    )
    doc = EDMX.replace("<EntityType", body + "<EntityType", 1).encode()
    assert len(doc) > 1024 * 1024
    entities = parse_edmx(doc)
    assert len(entities) == 4001
    assert entities["Catalog_Справочник3999"].properties["Реквизит3999"] == "Edm.String"
    assert entities["Catalog_Справочник1234"].tables == {"Строки": {"Колонка1234": "Edm.Double"}}
    with pytest.raises(TransientError, match="not valid XML"):
        parse_edmx(doc[: len(doc) // 2])  # the connection dropped half-way
    with pytest.raises(TransientError, match="not valid XML"):
        parse_edmx(b"")
