"""Unit tests for the 1C OData query-option engine of the emulator (b24_1c_sandbox.onec.query)."""

from __future__ import annotations

from typing import Any

import pytest
from b24_1c_sandbox.onec.query import (
    ODataQueryError,
    compile_filter,
    evaluate,
    parse_filter,
    parse_orderby,
    parse_select,
    sort_records,
)

ORDER_REF = "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01"
PARTNER_REF = "1fa1a135-d89b-11e6-8343-40167e2531c3"
ZERO = "00000000-0000-0000-0000-000000000000"

SHIPMENT: dict[str, Any] = {
    "Ref_Key": "5b2c8e10-9a1b-11ef-8f2a-00155d0a1b07",
    "Number": "УТ-000711",
    "Date": "2024-11-05T10:15:32",
    "Posted": True,
    "DeletionMark": False,
    "Контрагент_Key": PARTNER_REF,
    "СуммаДокумента": 10000.5,
    "Количество": 10,
    "Статус": "КОтгрузке",
    "Комментарий": "Клиент O'Brien, срочно",
    "ЗаказКлиента": ORDER_REF,
    "ЗаказКлиента_Type": "StandardODATA.Document_ЗаказКлиента",
    "ДокументОснование": "",
    "ДокументОснование_Type": "StandardODATA.Undefined",
    "РеквизитСоставной": 12,
    "РеквизитСоставной_Type": "Edm.Double",
    "СтрокаСоставная": "abc",
    "СтрокаСоставная_Type": "Edm.String",
    "ДатаОтгрузки": "0001-01-01T00:00:00",
    "СерийныйУчет": None,
    "Товары": [
        {
            "LineNumber": "1",
            "Номенклатура_Key": "aa000000-0000-0000-0000-000000000001",
            "Цена": 5000,
            "Количество": 2,
        },
        {
            "LineNumber": "2",
            "Номенклатура_Key": "aa000000-0000-0000-0000-000000000002",
            "Цена": 15000.5,
            "Количество": 1,
        },
    ],
    "Услуги": [],
}
PARTNER = {"Ref_Key": PARTNER_REF, "ИНН": "7701234567", "Description": "ООО Ромашка", "Партнер_Key": ZERO}
ORDER = {
    "Ref_Key": ORDER_REF,
    "Number": "УТ-000100",
    "Склад_Key": "cc000000-0000-0000-0000-00000000000c",
    "Основание": "dd000000-0000-0000-0000-00000000000d",
    "Основание_Type": "StandardODATA.Catalog_Склады",
}
WAREHOUSE = {"Ref_Key": "dd000000-0000-0000-0000-00000000000d", "Description": "Основной в Москве"}


def resolve(record: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A tiny resolver over the fixtures: reference attributes X_Key and composites X/X_Type."""
    key = record.get(name + "_Key", record.get(name))
    return {PARTNER_REF: PARTNER, ORDER_REF: ORDER, WAREHOUSE["Ref_Key"]: WAREHOUSE}.get(key) if key else None


def matches(text: str, record: dict[str, Any] | None = None, resolver: Any = None) -> bool:
    return compile_filter(text)(SHIPMENT if record is None else record, resolver)


def error_code(text: str, resolver: Any = None, properties: set[str] | None = None) -> str:
    with pytest.raises(ODataQueryError) as info:
        compile_filter(text, properties=properties)(SHIPMENT, resolver)
    return info.value.code


# --------------------------------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Количество eq 10", True),
        ("Количество eq 11", False),
        ("Количество ne 11", True),
        ("Количество ne 10", False),
        ("Количество gt 9", True),
        ("Количество gt 10", False),
        ("Количество ge 10", True),
        ("Количество ge 11", False),
        ("Количество lt 11", True),
        ("Количество lt 10", False),
        ("Количество le 10", True),
        ("Количество le 9", False),
        ("Статус eq 'КОтгрузке'", True),
        ("Статус eq 'кОтгрузке'", False),  # string equality is exact
        ("Number gt 'УТ-000700'", True),
        ("Posted eq true", True),
        ("DeletionMark eq true", False),
        ("Posted and not DeletionMark", True),
        ("Posted and DeletionMark", False),
        ("DeletionMark or Posted", True),
        ("DeletionMark or false", False),
        ("not Posted", False),
        ("Количество add 5 eq 15", True),
        ("Количество sub 15 eq -5", True),
        ("Количество mul 3 eq 30", True),
        ("Количество div 4 eq 2.5", True),
        ("Количество mod 3 eq 1", True),
        ("Количество div 0 eq 0", False),  # division by zero is null, never equal
        ("СуммаДокумента gt 10000", True),
        ("Posted eq 1", False),  # booleans never equal numbers
        ("Количество eq '10'", True),  # numeric strings compare numerically
        ("Статус gt 5", False),  # non-numeric string against a number: no match
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Количество add 2 mul 3 eq 16", True),  # mul binds tighter than add
        ("(Количество add 2) mul 3 eq 36", True),
        ("Количество sub 3 sub 2 eq 5", True),  # left associative
        ("Количество div 2 mul 5 eq 25", True),
        ("true or false and false", True),  # and binds tighter than or
        ("(true or false) and false", False),
        ("not false and false", False),  # not binds tighter than and
        ("not (false and false)", True),
        ("1 lt 2 eq true", True),  # relational binds tighter than equality
        ("-Количество lt 0", True),
        ("- 5 eq 0 sub 5", True),
        ("-(Количество sub 20) eq 10", True),
        ("((((Количество eq 10))))", True),
    ],
)
def test_precedence(text: str, expected: bool) -> None:
    assert matches(text) is expected


# ---------------------------------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Контрагент_Key eq guid'{PARTNER_REF}'", True),
        (f"Контрагент_Key eq guid'{PARTNER_REF.upper()}'", True),  # guid literals compare case-insensitively
        (f"Контрагент_Key eq GUID'{PARTNER_REF}'", True),
        (f"Контрагент_Key ne guid'{ZERO}'", True),
        ("Date eq datetime'2024-11-05T10:15:32'", True),
        ("Date gt datetime'2024-11-05T10:15'", True),  # seconds optional, compared chronologically
        ("Date lt datetime'2024-11-05T10:16'", True),
        ("Date ge datetime'2025-01-01T00:00:00'", False),
        ("ДатаОтгрузки eq datetime'0001-01-01T00:00:00'", True),  # empty date
        ("ДатаОтгрузки lt datetime'1900-01-01T00:00'", True),
        ("Комментарий eq 'Клиент O''Brien, срочно'", True),
        ("substringof('''', Комментарий)", True),
        ("Статус eq ''", False),
        ("СуммаДокумента eq 10000.5", True),
        ("СуммаДокумента eq 10000.5M", True),
        ("СуммаДокумента eq 10000.5m", True),
        ("СуммаДокумента eq 10000.5d", True),
        ("Количество eq 10L", True),
        ("Количество eq 1e1", True),
        ("Количество eq 10.0", True),
        ("Количество gt -1", True),
        ("Posted eq true and DeletionMark eq false", True),
        ("СерийныйУчет eq null", True),
        ("Статус eq null", False),
    ],
)
def test_literals(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_parse_filter_returns_reusable_ast() -> None:
    node = parse_filter("Количество gt 5")
    assert evaluate(node, SHIPMENT) is True
    assert evaluate(node, {**SHIPMENT, "Количество": 1}) is False
    assert evaluate(parse_filter("Количество add 1"), SHIPMENT) == 11
    assert parse_filter("Количество gt 5") == node  # nodes are comparable values


def test_int64_strings_compare_numerically() -> None:
    row = {"LineNumber": "10", "Коэффициент": "1"}
    assert matches("LineNumber gt 9", row) is True  # as strings "10" < "9"
    assert matches("LineNumber eq 10", row) is True
    assert matches("LineNumber eq '10'", row) is True
    assert matches("LineNumber add 1 eq 11", row) is True
    assert matches("Коэффициент eq 1.0", row) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("НетТакого eq null", True),
        ("НетТакого ne null", False),
        ("Статус ne null", True),
        ("НетТакого eq 'x'", False),
        ("НетТакого ne 'x'", False),  # comparisons with null are false except eq/ne null
        ("НетТакого gt 0", False),
        ("НетТакого lt 0", False),
        ("null eq НетТакого", True),
        ("not (НетТакого eq 'x')", True),
        ("not startswith(НетТакого, 'x')", False),  # unknown stays unknown
        ("НетТакого add 1 eq null", True),
        ("НетТакого or true", True),
        ("НетТакого and true", False),
    ],
)
def test_null_semantics(text: str, expected: bool) -> None:
    assert matches(text) is expected


# --------------------------------------------------------------------------------------------------- composites


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"ЗаказКлиента eq guid'{ORDER_REF}'", False),  # plain guid on a composite silently matches nothing
        (f"ЗаказКлиента eq cast(guid'{ORDER_REF}', 'Document_ЗаказКлиента')", True),
        (f"ЗаказКлиента eq cast(guid'{ORDER_REF.upper()}', 'Document_ЗаказКлиента')", True),
        (f"cast(guid'{ORDER_REF}', 'Document_ЗаказКлиента') eq ЗаказКлиента", True),
        (f"ЗаказКлиента eq cast(guid'{ORDER_REF}', 'StandardODATA.Document_ЗаказКлиента')", True),
        (f"ЗаказКлиента eq cast(guid'{ORDER_REF}', 'Document_СчетНаОплатуКлиенту')", False),  # type differs
        (f"ЗаказКлиента eq cast(guid'{ZERO}', 'Document_ЗаказКлиента')", False),  # value differs
        (f"ЗаказКлиента ne cast(guid'{ZERO}', 'Document_ЗаказКлиента')", True),
        (f"ЗаказКлиента eq '{ORDER_REF}'", False),
        ("ЗаказКлиента_Type eq 'StandardODATA.Document_ЗаказКлиента'", True),
        ("isof(ЗаказКлиента, 'Document_ЗаказКлиента')", True),
        ("isof(ЗаказКлиента, 'Document_СчетНаОплатуКлиенту')", False),
        ("isof(ДокументОснование, 'Document_ЗаказКлиента')", False),
        ("isof(ДокументОснование, 'Undefined')", True),
        ("ДокументОснование eq null", True),  # Undefined composite behaves as null
        ("isof(РеквизитСоставной, 'Number')", True),
        ("isof(РеквизитСоставной, 'Edm.Double')", True),
        ("isof(РеквизитСоставной, 'String')", False),
        ("cast(РеквизитСоставной, 'Number') le 12", True),
        ("cast(СтрокаСоставная, 'Number') le 12", False),
        ("СтрокаСоставная eq 'abc'", True),  # primitive composites compare by value
        ("isof(СуммаДокумента, 'Number')", True),
        ("isof(Статус, 'String')", True),
        ("isof(Date, 'Date')", True),
        ("isof(Posted, 'Boolean')", True),
        ("cast(Статус, 'String') eq 'КОтгрузке'", True),
        (
            f"cast(Контрагент_Key, 'Catalog_Контрагенты') eq cast(guid'{PARTNER_REF}', 'Catalog_Контрагенты')",
            True,
        ),
    ],
)
def test_composite_and_cast(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_composite_plain_guid_filter_selects_nothing() -> None:
    shipments = [SHIPMENT, {**SHIPMENT, "ЗаказКлиента": ZERO}]
    plain = compile_filter(f"ЗаказКлиента eq guid'{ORDER_REF}'")
    typed = compile_filter(f"ЗаказКлиента eq cast(guid'{ORDER_REF}','Document_ЗаказКлиента')")
    assert [s for s in shipments if plain(s, None)] == []
    assert [s for s in shipments if typed(s, None)] == [SHIPMENT]


# --------------------------------------------------------------------------------------------------- navigation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Контрагент/ИНН eq '7701234567'", True),
        ("Контрагент/ИНН eq '0000000000'", False),
        ("startswith(Контрагент/Description, 'ООО')", True),
        ("Контрагент/Партнер/ИНН eq null", True),  # empty ref resolves to nothing
        ("Контрагент/Партнер/ИНН ne '1'", False),
        ("cast(ЗаказКлиента, 'Document_ЗаказКлиента')/Number eq 'УТ-000100'", True),
        ("cast(ЗаказКлиента, 'Document_СчетНаОплатуКлиенту')/Number eq 'УТ-000100'", False),
        (
            "cast(cast(ЗаказКлиента, 'Document_ЗаказКлиента')/Основание, 'Catalog_Склады')/Description"
            " eq 'Основной в Москве'",
            True,
        ),
    ],
)
def test_navigation_paths(text: str, expected: bool) -> None:
    assert matches(text, resolver=resolve) is expected


def test_navigation_resolver_receives_record_and_property_name() -> None:
    calls: list[tuple[str, str]] = []

    def spy(record: dict[str, Any], name: str) -> dict[str, Any] | None:
        calls.append((record["Ref_Key"], name))
        return None

    assert matches("Контрагент/ИНН eq '7701234567'", resolver=spy) is False
    assert calls == [(SHIPMENT["Ref_Key"], "Контрагент")]


def test_navigation_without_resolver_is_a_syntax_error() -> None:
    assert error_code("Контрагент/ИНН eq '1'") == "14"
    with pytest.raises(ODataQueryError) as info:
        evaluate(parse_filter("Контрагент/ИНН eq '1'"), SHIPMENT)
    assert info.value.code == "14"
    assert "Контрагент" in info.value.message


# ------------------------------------------------------------------------------------------------------ lambdas


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Товары/any(d: d/Цена gt 10000)", True),
        ("Товары/any(d: d/Цена gt 20000)", False),
        ("Товары/all(d: d/Цена gt 1000)", True),
        ("Товары/all(d: d/Цена gt 10000)", False),
        ("Товары/any(строка: строка/Количество eq 2 and строка/Цена eq 5000)", True),
        ("Товары/any(x: x/Количество eq 2 and x/Цена eq 15000.5)", False),  # both on the same row
        ("Товары/any(d: d/LineNumber eq 2)", True),
        ("Товары/any(d: d/Номенклатура_Key eq guid'AA000000-0000-0000-0000-000000000002')", True),
        (
            "Товары/any(d: d/Цена mul d/Количество eq СуммаДокумента sub 0.5)",
            True,
        ),  # outer record inside lambda
        ("Товары/any()", True),
        ("Услуги/any()", False),
        ("Услуги/any(d: d/Цена gt 0)", False),
        ("Услуги/all(d: d/Цена gt 0)", True),  # vacuous truth
        ("not Товары/any(d: d/Цена lt 0)", True),
        ("НетТакой/any(d: d/Цена gt 0)", False),
    ],
)
def test_lambdas(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_lambda_navigation_from_row_uses_resolver() -> None:
    row_partner = {**SHIPMENT, "Товары": [{"LineNumber": "1", "Контрагент_Key": PARTNER_REF}]}
    assert matches("Товары/any(d: d/Контрагент/ИНН eq '7701234567')", row_partner, resolve) is True
    assert matches("Товары/any(d: d/Контрагент/ИНН eq '1')", row_partner, resolve) is False


# ---------------------------------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("УТ-%", "УТ-000711", True),
        ("УТ-%", "БП-000711", False),
        ("%711", "УТ-000711", True),
        ("%0007%", "УТ-000711", True),
        ("УТ-00071_", "УТ-000711", True),
        ("УТ-0007_", "УТ-000711", False),  # _ is exactly one character
        ("[УБ]Т-%", "УТ-000711", True),
        ("[^У]Т-%", "УТ-000711", False),
        ("[^к]%", "Книга", True),  # DOC example
        ("[А-Я]%", "Книга", True),
        ("[а-я]%", "Книга", False),
        ("a.c", "abc", False),  # regex metacharacters are literal
        ("a.c", "a.c", True),
        ("100%", "100 штук", True),
        ("%", "", True),
        ("(1+1)*", "(1+1)*", True),
    ],
)
def test_like_templates(template: str, value: str, expected: bool) -> None:
    literal = template.replace("'", "''")
    assert matches(f"like(Поле, '{literal}')", {"Поле": value}) is expected


def test_like_with_dynamic_template() -> None:
    assert matches("like(Поле, Шаблон)", {"Поле": "УТ-1", "Шаблон": "УТ-%"}) is True
    assert matches("like(Поле, Шаблон)", {"Поле": "УТ-1", "Шаблон": "БП-%"}) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("substringof('O''Brien', Комментарий)", True),
        ("substringof(Комментарий, 'O''Brien')", False),  # needle comes first
        ("substringof('Brien', Комментарий) eq true", True),
        ("startswith(Number, 'УТ-')", True),
        ("startswith(Number, 'БП-')", False),
        ("endswith(Number, '711')", True),
        ("endswith(Number, '712')", False),
        ("concat(Number, '/1') eq 'УТ-000711/1'", True),
        ("concat(concat(Статус, ', '), Number) eq 'КОтгрузке, УТ-000711'", True),
        (
            "substring(Number, 1, 2) eq 'УТ'",
            True,
        ),  # 1-based like ПОДСТРОКА (DOC: substring(ИНН, 1, 2) eq '77')
        ("substring(Number, 4) eq '000711'", True),
        ("substring(Number, 4, 3) eq '000'", True),
        ("year(Date) eq 2024", True),
        ("month(Date) eq 11", True),
        ("day(Date) eq 5", True),
        ("hour(Date) eq 10", True),
        ("minute(Date) eq 15", True),
        ("second(Date) eq 32", True),
        ("quarter(Date) eq 4", True),
        ("dayofweek(Date) eq 2", True),  # 2024-11-05 is a Tuesday; 1 = Monday
        ("dayofyear(Date) eq 310", True),
        ("year(ДатаОтгрузки) eq 1", True),
        ("year(Статус) eq 2024", False),
        ("dateadd(Date, 'day', 1) eq datetime'2024-11-06T10:15:32'", True),
        ("dateadd(Date, 'month', 3) eq datetime'2025-02-05T10:15:32'", True),
        ("dateadd(datetime'2024-01-31T00:00', 'month', 1) eq datetime'2024-02-29T00:00'", True),
        ("dateadd(Date, 'hour', -11) lt datetime'2024-11-05T00:00'", True),
        ("datedifference(Date, datetime'2024-11-06T00:00', 'day') eq 1", True),  # truncated to days
        ("datedifference(Date, datetime'2024-11-06T00:00', 'hour') eq 14", True),
        ("datedifference(datetime'2024-01-31T00:00', Date, 'month') eq 10", True),
        ("datedifference(Date, datetime'2023-12-31T23:59', 'year') eq -1", True),
        ("round(СуммаДокумента) eq 10001", True),
        ("round(-2.5) eq -3", True),
        ("round(2.4) eq 2", True),
    ],
)
def test_functions(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "length(Number) eq 9",
        "lenght(Number) eq 9",
        "indexof(Number, 'УТ') eq 0",
        "replace(Number, 'УТ', 'БП') eq 'x'",
        "tolower(Number) eq 'ут-000711'",
        "toupper(Number) eq 'x'",
        "trim(Number) eq 'x'",
        "years(Date) eq 1",
        "days(Date) eq 1",
        "hours(Date) eq 1",
        "seconds(Date) eq 1",
        "floor(СуммаДокумента) eq 1",
        "ceiling(СуммаДокумента) eq 1",
        "contains(Number, 'УТ')",
        "frobnicate(Number)",
        "SubstringOf('a', Number)",  # function names are case-sensitive
        "substringof('a')",  # wrong argument counts
        "substringof('a', Number, 'b')",
        "startswith(Number)",
        "concat('a', 'b', 'c') eq 'abc'",
        "substring(Number)",
        "year(Date, Date) eq 1",
        "isof(Number)",
        "cast(Number, 'String', 1) eq 'x'",
        "dateadd(Date, 'fortnight', 1) eq Date",  # unknown unit
        "dateadd(Date, Статус, 1) eq Date",
        "cast(Number, Статус) eq 'x'",  # type name must be a string literal
        "cast(Number, 'Edm.DateTimeOffset') eq 'x'",
    ],
)
def test_unsupported_functions_raise_21(text: str) -> None:
    assert error_code(text) == "21"


def test_unsupported_function_is_reported_by_name() -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_filter("tolower(Number) eq 'x'")
    assert info.value.code == "21"
    assert "tolower" in info.value.message
    assert str(info.value) == info.value.message


# ------------------------------------------------------------------------------------------------------- syntax


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "(Количество eq 10",
        "Количество eq 10)",
        "((Количество eq 10)",
        "Количество eq",
        "Количество eq 10 and",
        "and Количество eq 10",
        "Количество eq eq 10",
        "Количество 10",
        "Статус eq 'КОтгрузке",
        "Статус eq 'a''",
        "Контрагент_Key eq guid'not-a-guid'",
        "Контрагент_Key eq guid'1fa1a135d89b11e6834340167e2531c3'",
        "Date eq datetime'2024-11-05'",
        "Date eq datetime'2024-11-05T10:15:32Z'",
        "Date eq datetime'2024-11-05T10:15:32+03:00'",
        "Date eq datetime'2024-13-05T10:15:32'",
        "Date eq datetimeoffset'2024-11-05T10:15:32Z'",
        "Количество eq 10abc",
        "Количество eq 1.",
        "Количество eq .5",
        "Количество == 10",
        "Количество eq 10 # comment",
        "Товары/any(d d/Цена gt 0)",
        "Товары/any(d: d/Цена gt 0",
        "Товары/all()",
        "Контрагент/ eq 1",
        "startswith(Number, 'a'",
        "startswith(Number 'a')",
        "like(Number, 'УТ[')",
        "like(Number, '[]')",
        "isof(Number, 'String')/Description eq 'x'",
    ],
)
def test_malformed_filters_raise_14(text: str) -> None:
    assert error_code(text, resolver=resolve) == "14"


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("Количество eq 10)", 17, ")"),
        ("Статус eq 'abc", 11, "'abc"),
        ("Количество eq 10 or or Posted", 21, "or Posted"),
        ("Date eq datetime'2024-11-05'", 9, "datetime'2024-11-05'"),
        ("Количество eq 5 & Posted", 17, "&"),
    ],
)
def test_syntax_error_message_quotes_position(text: str, position: int, fragment: str) -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_filter(text)
    assert info.value.code == "14"
    assert f"позиции {position}" in info.value.message
    assert fragment in info.value.message


def test_syntax_error_at_end_is_reported() -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_filter("Количество eq")
    assert "в конце выражения" in info.value.message


# --------------------------------------------------------------------------------------------------- properties

PROPERTIES = {key for key in SHIPMENT if not key.endswith("_Type")}


@pytest.mark.parametrize(
    "text",
    [
        "Статус eq 'КОтгрузке' and Статуc eq 'x'",  # latin "c" at the end
        "НетТакого eq null",
        "Товары/any(d: d/Цена gt Порог)",  # outer-record reference inside a lambda
        "НетТакой/any(d: d/Цена gt 0)",
        "Склад/Description eq 'x'",  # navigation needs Склад or Склад_Key
        "startswith(Описание, 'a')",
    ],
)
def test_unknown_property_raises_10(text: str) -> None:
    assert error_code(text, properties=PROPERTIES, resolver=resolve) == "10"
    with pytest.raises(ODataQueryError) as info:
        evaluate(parse_filter(text), SHIPMENT, resolve, PROPERTIES)
    assert info.value.code == "10"
    assert "Свойство не найдено" in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "Статус eq 'КОтгрузке'",
        "Контрагент/ИНН eq '7701234567'",  # nav property known through Контрагент_Key
        "Товары/any(d: d/НеизвестноеПолеСтроки eq 1)",  # row fields are not checked
        "ЗаказКлиента eq cast(guid'0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01','Document_ЗаказКлиента')",
    ],
)
def test_known_properties_pass_validation(text: str) -> None:
    compile_filter(text, properties=PROPERTIES)(SHIPMENT, resolve)


def test_unknown_property_is_rejected_even_when_short_circuited() -> None:
    with pytest.raises(ODataQueryError) as info:
        evaluate(parse_filter("false and НетТакого eq 1"), SHIPMENT, properties=PROPERTIES)
    assert info.value.code == "10"


# ----------------------------------------------------------------------------------------------------- $orderby


def test_parse_orderby() -> None:
    assert parse_orderby("Date desc, Number") == [(["Date"], True), (["Number"], False)]
    assert parse_orderby("Контрагент/ИНН asc") == [(["Контрагент", "ИНН"], False)]
    assert parse_orderby("  Date   DESC ,Ref_Key ASC") == [(["Date"], True), (["Ref_Key"], False)]


@pytest.mark.parametrize(
    "text",
    ["", "Date,,Number", "Date,", "Date down", "Date desc asc", "Контрагент/", "/ИНН", "1Date", "Date-desc"],
)
def test_parse_orderby_errors(text: str) -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_orderby(text)
    assert info.value.code == "14"


def test_parse_orderby_reports_unknown_direction() -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_orderby("Date, Number sideways")
    assert "sideways" in info.value.message


ROWS = [
    {"id": 1, "Date": "2024-01-02T00:00:00", "Number": "B", "Сумма": 5},
    {"id": 2, "Date": "2024-01-01T00:00:00", "Number": "C", "Сумма": None},
    {"id": 3, "Date": "2024-01-02T00:00:00", "Number": "A", "Сумма": 5},
    {"id": 4, "Date": "2024-01-01T00:00:00", "Number": "A", "Сумма": 1},
    {"id": 5, "Date": "0001-01-01T00:00:00", "Number": "", "Сумма": 7},
]


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in rows]


@pytest.mark.parametrize(
    ("orderby", "expected"),
    [
        ("Date", [5, 2, 4, 1, 3]),  # stable: ties keep input order
        ("Date desc", [1, 3, 2, 4, 5]),
        ("Date desc, Number", [3, 1, 4, 2, 5]),
        ("Date, Number desc", [5, 2, 4, 1, 3]),
        ("Number", [5, 3, 4, 1, 2]),  # empty string first
        ("Сумма", [2, 4, 1, 3, 5]),  # None first ascending
        ("Сумма desc", [5, 1, 3, 4, 2]),  # ... last descending, ties stable
        ("Сумма desc, Number desc", [5, 1, 3, 4, 2]),
    ],
)
def test_sort_records(orderby: str, expected: list[int]) -> None:
    original = [dict(r) for r in ROWS]
    assert ids(sort_records(ROWS, parse_orderby(orderby))) == expected
    assert original == ROWS  # input untouched


def test_sort_int64_strings_numerically_but_codes_lexically() -> None:
    lines = [{"LineNumber": n} for n in ("10", "9", "1", "2")]
    assert [r["LineNumber"] for r in sort_records(lines, parse_orderby("LineNumber"))] == [
        "1",
        "2",
        "9",
        "10",
    ]
    codes = [{"Code": c} for c in ("000000010", "000000009", "00001", "2")]
    assert [r["Code"] for r in sort_records(codes, parse_orderby("Code"))] == [
        "000000009",
        "000000010",
        "00001",
        "2",
    ]


def test_sort_empty_refs_first() -> None:
    rows = [
        {"X_Key": "ff000000-0000-0000-0000-000000000000"},
        {"X_Key": ZERO},
        {"X_Key": "10000000-0000-0000-0000-000000000000"},
    ]
    assert [r["X_Key"][:2] for r in sort_records(rows, parse_orderby("X_Key"))] == ["00", "10", "ff"]


def test_sort_by_navigation_path() -> None:
    partners = {"p1": {"ИНН": "7702"}, "p2": {"ИНН": "7701"}}

    def lookup(record: dict[str, Any], name: str) -> dict[str, Any] | None:
        return partners.get(record.get(name + "_Key", ""))

    docs = [
        {"id": 1, "Контрагент_Key": "p1"},
        {"id": 2, "Контрагент_Key": "p2"},
        {"id": 3, "Контрагент_Key": "none"},
    ]
    assert ids(sort_records(docs, parse_orderby("Контрагент/ИНН asc"), lookup)) == [3, 2, 1]
    assert ids(sort_records(docs, parse_orderby("Контрагент/ИНН desc"), lookup)) == [1, 2, 3]
    with pytest.raises(ODataQueryError) as info:
        sort_records(docs, parse_orderby("Контрагент/ИНН"))
    assert info.value.code == "14"


# ------------------------------------------------------------------------------------------------------ $select


def test_parse_select() -> None:
    assert parse_select("Ref_Key,Number, Товары/Номенклатура_Key") == [
        "Ref_Key",
        "Number",
        "Товары/Номенклатура_Key",
    ]
    assert parse_select("*") == ["*"]
    assert parse_select("**") == ["**"]
    assert parse_select("*, Контрагент____Presentation") == ["*", "Контрагент____Presentation"]
    assert parse_select("*____Presentation,Presentation") == ["*____Presentation", "Presentation"]
    assert parse_select("RecordSet/Сумма") == ["RecordSet/Сумма"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "Ref_Key,",
        ",Ref_Key",
        "Ref_Key,,Number",
        "Ref Key",
        "***",
        "Товары/",
        "/Поле",
        "Ref_Key;Number",
        "1abc",
    ],
)
def test_parse_select_errors(text: str) -> None:
    with pytest.raises(ODataQueryError) as info:
        parse_select(text)
    assert info.value.code == "14"


# -------------------------------------------------------------------------------------------------- performance


def test_compiled_filter_is_reusable_across_records() -> None:
    predicate = compile_filter(
        "Date ge datetime'2024-01-01T00:00' and like(Number, 'УТ-%') and Товары/any(d: d/Цена gt 100)"
    )
    records = [{**SHIPMENT, "Number": f"УТ-{i:06d}" if i % 2 else f"БП-{i:06d}"} for i in range(2000)]
    assert sum(predicate(r, None) for r in records) == 1000
