"""Proof (d) of issue 6, records half: orders with malformed values (empty references, wrong types, huge values, bad
dates, a tabular section that is not a list, missing properties) and malformed 1C replies. Each bad record becomes a
dead letter whose reason names the record, the field and the value; every other record syncs, with quotes, `&` and
huge texts intact or cut where the mapping says; the ledger stays consistent. The mapping half of the corpus is in
tests/unit/test_bad_mappings.py."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest

from tests.integration.proof_state import (
    FLOW,
    NOW,
    SINCE,
    TZ,
    FastForwardClock,
    connector_for,
    eligible,
    ledger_problems,
    origins,
    write_setup,
)

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration
ORDERS = "Document_ЗаказКлиента"
UNKNOWN = "0badc0de-0000-4000-8000-000000000001"
EMPTY = "00000000-0000-0000-0000-000000000000"
HUGE_TEXT = 'Комментарий "в кавычках" & <теги> ' * 5000


def without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda row: {k: v for k, v in row.items() if k != key}


def first_row(
    change: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The order with its first product row changed."""

    def edit(order: dict[str, Any]) -> dict[str, Any]:
        rows = [dict(r) for r in order["Товары"]]
        rows[0] = change(rows[0])
        return {"Товары": rows}

    return edit


def setting(**values: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda order: dict(values)


# (case, change of one order as 1C serves it, words the dead letter's reason must contain besides the order number)
BAD: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], list[str]]] = [
    ("amount is text", setting(СуммаДокумента="абв"), ["OPPORTUNITY", "'абв'"]),
    ("amount is huge", setting(СуммаДокумента=1e20), ["OPPORTUNITY", "out of range"]),
    ("amount is NaN", setting(СуммаДокумента="NaN"), ["OPPORTUNITY", "finite"]),
    ("amount is a boolean", setting(СуммаДокумента=True), ["OPPORTUNITY", "True"]),
    ("amount is empty", setting(СуммаДокумента=None), ["OPPORTUNITY", "required", "СуммаДокумента"]),
    (
        "amount is missing",
        lambda order: {"СуммаДокумента": KeyError},
        ["OPPORTUNITY", "no property 'СуммаДокумента'"],
    ),
    ("number is empty", setting(Number=""), ["UF_CRM_1C_ORDER_NUMBER", "required"]),
    ("currency unknown", setting(Валюта_Key=UNKNOWN), ["CURRENCY_ID", UNKNOWN, "currencies"]),
    ("date is not a date", setting(Date="31.12.2024 10:00"), ["TITLE", "'31.12.2024 10:00'"]),
    ("date does not exist", setting(Date="2024-02-30T10:00:00"), ["2024-02-30T10:00:00"]),
    ("tabular section is text", setting(Товары="не список"), ["Товары", "str"]),
    ("tabular section is empty value", setting(Товары=None), ["Товары", "NoneType"]),
    ("tabular section is an object", setting(Товары={"LineNumber": "1"}), ["Товары", "dict"]),
    (
        "product is an empty reference",
        first_row(lambda r: {**r, "Номенклатура_Key": EMPTY}),
        ["Товары[1].PRODUCT_NAME", "required"],
    ),
    (
        "product is unknown",
        first_row(lambda r: {**r, "Номенклатура_Key": UNKNOWN}),
        ["Товары[1].PRODUCT_NAME", UNKNOWN, "products"],
    ),
    (
        "quantity is text",
        first_row(lambda r: {**r, "Количество": "много"}),
        ["Товары[1].QUANTITY", "'много'"],
    ),
    ("quantity is empty", first_row(lambda r: {**r, "Количество": None}), ["Товары[1].QUANTITY", "required"]),
    # the deal row's PRICE is the row's amount with VAT over its quantity (mappings/orders.yaml)
    ("row amount is a boolean", first_row(lambda r: {**r, "СуммаСНДС": False}), ["Товары[1].PRICE", "False"]),
    (
        "amount is huge",
        first_row(lambda r: {**r, "СуммаСНДС": "9" * 20}),
        ["Товары[1].PRICE", "out of range"],
    ),
    ("row amount is missing", first_row(without("СуммаСНДС")), ["Товары[1].PRICE", "СуммаСНДС = None"]),
    ("row amount is a list", first_row(lambda r: {**r, "СуммаСНДС": [1, 2]}), ["Товары[1].PRICE", "[1, 2]"]),
]

# (case, change, check of the deal it must still produce)
GOOD: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Callable[[dict[str, Any]], bool]]] = [
    (
        "quotes and & in the number",
        setting(Number='ЗК-"7"&<8>'),
        lambda d: d["UF_CRM_1C_ORDER_NUMBER"] == 'ЗК-"7"&<8>' and 'ЗК-"7"&<8>' in d["TITLE"],
    ),
    (
        "huge comment with quotes",
        setting(Комментарий=HUGE_TEXT),
        lambda d: (
            len(d["COMMENTS"]) == 2000 and d["COMMENTS"].startswith('Комментарий "в кавычках" & <теги>')
        ),
    ),
    ("currency is an empty reference", setting(Валюта_Key=EMPTY), lambda d: d["CURRENCY_ID"] == "RUB"),
    ("manager is an empty reference", setting(Менеджер_Key=EMPTY), lambda d: str(d["ASSIGNED_BY_ID"]) == "1"),
    ("manager is unknown", setting(Менеджер_Key=UNKNOWN), lambda d: str(d["ASSIGNED_BY_ID"]) == "1"),
    ("an unknown property", setting(НеизвестноеПоле="что-то"), lambda d: bool(d["TITLE"])),
    ("comment is empty", setting(Комментарий=None), lambda d: not d.get("COMMENTS")),
]


class Served:
    """Changes applied to what the 1C publication answers, as a misbehaving configuration would: the stored
    objects stay valid, the replies carry the bad values (the emulator's own model could not hold them)."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self.inner = box._onec.server.app  # type: ignore[union-attr]
        self.records: dict[str, dict[str, Any]] = {}
        self.body: Callable[[str, bytes], bytes | None] | None = None  # (path, body) -> replacement
        box._onec.server.app = self  # type: ignore[union-attr]

    def __call__(self, request: Any) -> Any:
        response = self.inner(request)
        if self.body is not None:
            replaced = self.body(unquote(request.path), response.body)
            if replaced is not None:
                response.body = replaced
                response.headers = {**response.headers, "Content-Length": str(len(replaced))}
                return response
        if self.records and response.status == 200 and "json" in response.headers.get("Content-Type", ""):
            payload = json.loads(response.body)
            for row in payload.get("value", []) if isinstance(payload, dict) else []:
                for key, value in self.records.get(str(row.get("Ref_Key")), {}).items():
                    if value is KeyError:
                        row.pop(key, None)
                    else:
                        row[key] = value
            response.body = json.dumps(payload, ensure_ascii=False).encode()
            response.headers = {**response.headers, "Content-Length": str(len(response.body))}
        return response


@pytest.fixture
def box() -> Iterator[Sandbox]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=120, seed=61, rate_limit="off", now=NOW)) as sandbox:
        yield sandbox


def test_each_bad_record_is_a_clear_dead_letter_and_the_rest_syncs(box: Sandbox, tmp_path: Path) -> None:
    served = Served(box)
    orders = sorted(eligible(box))
    assert len(orders) >= len(BAD) + len(GOOD) + 20
    stored = {o["Ref_Key"]: o for o in box.infobase.all(ORDERS)}
    bad = dict(zip(orders[: len(BAD)], BAD, strict=True))
    good = dict(zip(orders[len(BAD) : len(BAD) + len(GOOD)], GOOD, strict=True))
    for ref, (_, change, _) in {**bad, **good}.items():
        served.records[ref] = change(stored[ref])
    product = stored[orders[-1]]["Товары"][0]["Номенклатура_Key"]
    box.infobase.update("Catalog_Номенклатура", product, {"Description": 'Болт "М8" & гайка <DIN 934>'})

    setup = write_setup(tmp_path, box, page_size=25, batch=5)
    with connector_for(setup) as conn:
        conn.setup()
        report = conn.runner(FLOW).backfill(SINCE, None)
        letters = {d.source_key: d for d in conn.ledger.dead_letters(FLOW)}
    assert report.failed == len(BAD) and report.created == len(orders) - len(BAD), report.errors

    assert set(letters) == set(bad)
    for ref, (case, _, words) in bad.items():
        reason = letters[ref].reason
        number = stored[ref]["Number"]
        assert ref in reason and (number in reason or case == "number is empty"), (case, reason)
        missing = [w for w in words if w not in reason]
        assert not missing, f"{case}: the reason does not say {missing}: {reason}"

    counted = origins(box)
    assert set(counted) == set(orders) - set(bad) and max(counted.values()) == 1
    deals = {d["ORIGIN_ID"]: d for d in box.portal.deals()}
    for ref, (case, _, check) in good.items():
        assert check(deals[ref]), (
            case,
            {k: deals[ref].get(k) for k in ("TITLE", "CURRENCY_ID", "ASSIGNED_BY_ID")},
        )
    names = [r["PRODUCT_NAME"] for d in deals.values() for r in box.portal.deal_rows(int(d["ID"]))]
    assert 'Болт "М8" & гайка <DIN 934>' in names
    assert ledger_problems(setup.ledger, box, open_letters=set(bad)) == []

    # Fixed at the source, the bad ones go through on retry; nothing is written twice.
    served.records.clear()
    with connector_for(setup) as conn:
        conn.ledger.requeue(FLOW)
        retried = conn.runner(FLOW).incremental(30)
    assert retried.created == len(bad) and retried.failed == 0
    assert set(origins(box)) == set(orders) and max(origins(box).values()) == 1
    assert ledger_problems(setup.ledger, box) == []


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("truncated JSON", lambda path, body: body[: len(body) // 2] if ORDERS in path else None),
        ("value is not a list", lambda path, body: b'{"value": {"oops": 1}}' if ORDERS in path else None),
        (
            "an HTML page with 200",
            lambda path, body: b"<html><body>1C:Enterprise</body></html>" if ORDERS in path else None,
        ),
    ],
    ids=["truncated-json", "value-not-a-list", "html-with-200"],
)
def test_a_malformed_reply_from_1c_stops_the_run_clearly_and_loses_nothing(
    box: Sandbox, tmp_path: Path, case: str, body: Callable[[str, bytes], bytes | None]
) -> None:
    from connector.errors import ConnectorError

    served = Served(box)
    setup = write_setup(tmp_path, box, page_size=25, batch=5)
    with connector_for(setup, FastForwardClock()) as conn:  # the reads are retried first: no need to wait
        conn.setup()
        runner = conn.runner(FLOW)
        pages = iter(range(10**6))
        served.body = lambda path, raw: body(path, raw) if ORDERS in path and next(pages) >= 2 else None
        with pytest.raises(ConnectorError) as caught:
            runner.backfill(SINCE, None)
        assert "1C" in str(caught.value) or "1c" in str(caught.value), str(caught.value)
        assert conn.ledger.pending(FLOW) == [] and conn.ledger.dead_letters(FLOW) == []
        linked = conn.ledger.link_count(FLOW)
        assert linked == 50 and len(box.portal.deals()) == 50  # the two good pages, committed
    served.body = None
    with connector_for(setup) as conn:
        done = conn.runner(FLOW).backfill(SINCE, None)
    assert done.failed == 0 and done.created == len(eligible(box)) - 50
    assert set(origins(box)) == eligible(box) and max(origins(box).values()) == 1
    assert ledger_problems(setup.ledger, box) == []


@pytest.mark.parametrize("value", ["2024-02-30T10:00:00", "31.12.2024", "", "вчера", "0001-01-01T00:00:00"])
def test_bad_dates_name_the_field_and_the_value(value: str) -> None:
    from connector.mapping.engine import map_record
    from connector.mapping.schema import load_mapping
    from tests.conftest import ROOT

    spec = load_mapping(ROOT / "mappings" / "orders.yaml")
    record = {
        "Ref_Key": "a" * 8 + "-0000-4000-8000-000000000001",
        "DataVersion": "1",
        "Number": "ЗК-1",
        "Date": value,
        "СуммаДокумента": 10,
        "Валюта_Key": EMPTY,
        "Комментарий": "",
        "Менеджер_Key": EMPTY,
        "Контрагент_Key": EMPTY,
        "Договор_Key": EMPTY,  # an order without a contract: 1C publishes the empty reference
        "Товары": [],
    }
    mapped = map_record(spec, record, {}, TZ)
    if value.startswith("0001"):  # 1C's empty date: the deal is made with its dates left empty
        assert mapped.error is None, mapped.error
        assert (
            "ЗК-1" in mapped.fields["TITLE"]
            and mapped.fields["BEGINDATE"] == "" == mapped.fields["UF_CRM_1C_ORDER_DATE"]
        )
        return
    assert mapped.error is not None and "ЗК-1" in mapped.error and "TITLE" in mapped.error
    assert repr(value) in mapped.error


def test_a_nan_amount_in_a_when_rule_is_a_record_error_not_a_crashed_run() -> None:
    """Regression: comparing NaN in the pipeline rule raised decimal.InvalidOperation and stopped the whole run."""
    from connector.mapping.engine import map_record
    from connector.mapping.schema import load_mapping
    from tests.conftest import ROOT

    spec = load_mapping(ROOT / "mappings" / "orders.yaml")
    record = {
        "Ref_Key": "a" * 8 + "-0000-4000-8000-000000000002",
        "DataVersion": "1",
        "Number": "ЗК-2",
        "Date": "2024-05-01T10:00:00",
        "СуммаДокумента": "NaN",
        "Валюта_Key": EMPTY,
        "Комментарий": "",
        "Менеджер_Key": EMPTY,
        "Контрагент_Key": EMPTY,
        "Товары": [],
    }
    mapped = map_record(spec, record, {}, TZ)
    assert mapped.error is not None and "OPPORTUNITY" in mapped.error and "finite" in mapped.error
