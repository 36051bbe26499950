"""1C compares references only with guid'…' and dates only with datetime'…'; numbers are written as 1C writes them.

DOC §17.4.5 (literals); the error is 400 with an odata.error of code 14 (query option parse error in the DOC's code
table; the exact text of a real base is not captured). The connector sends the typed forms whatever it is given.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from onecemu import OneC, error_of

from connector.clock import ManualClock
from connector.onec.odata import ODataClient, as_written
from connector.onec.query import F

ORDERS = "Document_ЗаказКлиента"


@pytest.mark.parametrize(
    ("resource", "flt", "named"),
    [
        (ORDERS, "Контрагент_Key eq '{counterparty}'", "Контрагент_Key"),
        (ORDERS, "'{counterparty}' eq Контрагент_Key", "Контрагент_Key"),
        (ORDERS, "Date ge '2020-01-01T00:00:00'", "Date"),
        (ORDERS, "Posted eq true and ДатаОтгрузки lt '2030-01-01T00:00:00'", "ДатаОтгрузки"),
        (ORDERS, "Товары/any(d: d/Номенклатура_Key eq '{product_a}')", "Номенклатура_Key"),
        (f"{ORDERS}_Товары", "Ref_Key eq '{order}'", "Ref_Key"),
        ("AccumulationRegister_РасчетыСКлиентами_RecordType", "Period ge '2020-01-01T00:00:00'", "Period"),
    ],
)
def test_untyped_reference_and_date_literals_are_refused(
    onec: OneC, resource: str, flt: str, named: str
) -> None:
    resp = onec.get(resource, **{"$format": "json", "$filter": flt.format(**onec.refs)})
    status, code, message = error_of(resp)
    assert (status, code) == (400, "14")
    assert named in message and ("guid'" in message or "datetime'" in message)


def test_typed_forms_and_plain_strings_on_string_properties_are_answered(onec: OneC) -> None:
    ref = onec.refs["counterparty"]
    typed = onec.json(
        ORDERS,
        **{"$filter": f"Контрагент_Key eq guid'{ref}' and Date ge datetime'2020-01-01T00:00:00'"},
    )
    assert onec.refs["order"] in [r["Ref_Key"] for r in typed["value"]]
    lines = onec.json(
        ORDERS, **{"$filter": f"Товары/any(d: d/Номенклатура_Key eq guid'{onec.refs['product_a']}')"}
    )
    assert onec.refs["order"] in [r["Ref_Key"] for r in lines["value"]]
    number = typed["value"][0]["Number"]
    assert onec.json(ORDERS, **{"$filter": f"Number eq '{number}'"})["value"]
    # a composite attribute holds a string: compared with a plain string it is not refused (DOC: empty or a match)
    assert (
        onec.get(ORDERS, **{"$format": "json", "$filter": f"ДокументОснование eq '{ref}'"}).status_code == 200
    )


def test_the_connector_sends_typed_literals_for_values_given_as_strings(onec: OneC) -> None:
    client = ODataClient(
        requests.Session(), onec.root, "Администратор", "sandbox", ZoneInfo("Europe/Moscow"), ManualClock()
    )
    f = F(client.tz)
    # as a mapping's YAML filter or a Bitrix24 field would give them: strings
    flt = F.and_(
        f.eq("Контрагент_Key", onec.refs["counterparty"].upper()), f.ge("Date", "2020-01-01T00:00:00")
    )
    rows = client.query(ORDERS, filter=flt, select=["Ref_Key"])
    assert onec.refs["order"] in [r["Ref_Key"] for r in rows]
    sent = [entry.query for entry in onec.app.log if entry.path.endswith(ORDERS)]
    assert "guid%27" in sent[-1] and "datetime%27" in sent[-1]


WHOLE_WITH_FRACTION = re.compile(rb'":-?\d+\.0(?=[,}\]])|>-?\d+\.0<')


@pytest.mark.parametrize(
    "resource",
    [
        ORDERS,
        "AccumulationRegister_РасчетыСКлиентами_RecordType",
        "AccumulationRegister_РасчетыСКлиентами/Balance()",
    ],
)
def test_numbers_are_written_as_1c_writes_them(onec: OneC, resource: str) -> None:
    # reference §10: "СуммаДокумента": 25000, "СуммаНДС": 1666.67 — a whole Edm.Double has no ".0"
    body = onec.get(resource, **{"$format": "json"}).content
    assert WHOLE_WITH_FRACTION.findall(body) == []
    assert re.search(rb'":-?\d+\.\d+[,}]', body) or re.search(rb'":-?\d+[,}]', body)
    atom = onec.get(resource).content
    assert WHOLE_WITH_FRACTION.findall(atom) == []


def test_the_connector_writes_numbers_as_1c_writes_them() -> None:
    body = {
        "СуммаДокумента": 10000.0,
        "Цена": Decimal("1666.67"),
        "Товары": [{"Количество": 2.0, "Сумма": 0.5}],
    }
    assert json.dumps(as_written(body), ensure_ascii=False) == (
        '{"СуммаДокумента": 10000, "Цена": 1666.67, "Товары": [{"Количество": 2, "Сумма": 0.5}]}'
    )
    assert as_written({"x": Decimal("25000.00"), "flag": True, "n": "10.0"}) == {
        "x": 25000,
        "flag": True,
        "n": "10.0",
    }
