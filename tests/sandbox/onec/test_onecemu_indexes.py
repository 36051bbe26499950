"""The 1C emulator's indexes (indexes.py) answer exactly what its scan answers, on random queries and after writes,
and serve only what a real base's indexes serve: an `any()` over a tabular section or an unindexed attribute still
walks the whole set."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, ClassVar

import pytest
from b24_1c_sandbox.dataset import generate
from b24_1c_sandbox.onec import reads
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.query import ODataQueryError
from b24_1c_sandbox.onec.shaping import View

ORDER = "Document_ЗаказКлиента"
BANK = "Document_ПоступлениеБезналичныхДенежныхСредств"
SHIPMENT = "Document_РеализацияТоваровУслуг"
CLIENTS = "Catalog_Контрагенты"
PRODUCTS = "Catalog_Номенклатура"
ENTITIES = (ORDER, BANK, SHIPMENT, CLIENTS, PRODUCTS)
REGISTER = "AccumulationRegister_РасчетыСКлиентами"


@pytest.fixture(scope="module")
def ib() -> Infobase:
    base = Infobase()
    generate(base, 60, seed=5, now=datetime(2025, 3, 14, 12, 0))
    rng = random.Random(1)
    for entity in (ORDER, BANK, SHIPMENT):  # many documents on one second: ties the Ref_Key order settles
        docs = base.all(entity)
        for doc in rng.sample(docs, len(docs) // 4):
            base.update(entity, doc["Ref_Key"], {"Date": docs[len(docs) // 2]["Date"]})
    return base


def answer(ib: Infobase, entity: str, options: dict[str, str], indexed: bool) -> Any:
    """Rows (or the error) a GET gives, with the indexes on or off."""
    ib.indexes.enabled = indexed
    try:
        result = reads.collection(ib, entity, dict(options), View(), reads.Paging(), None)
        counted = reads.count(ib, entity, dict(options), None)
        return [r["Ref_Key"] for r in result.rows], result.count, counted
    except (ODataError, ODataQueryError) as exc:
        return exc.code, str(exc)
    finally:
        ib.indexes.enabled = True


def answer_records(ib: Infobase, options: dict[str, str], indexed: bool) -> list[dict[str, Any]]:
    """Settlement register records a GET gives, with the indexes on or off."""
    ib.indexes.enabled = indexed
    try:
        return reads.record_sets(ib, REGISTER, True, options, reads.Paging()).rows
    finally:
        ib.indexes.enabled = True


def literal(rng: random.Random, ib: Infobase, entity: str, name: str) -> str:
    rows = ib.all(entity)
    value = rng.choice(rows)[name] if rows and rng.random() < 0.8 else None
    if name == "Ref_Key":
        return f"guid'{value or '0b0e0f00-1111-2222-3333-444455556666'}'"
    if name == "Date":
        return f"datetime'{value or '2031-01-01T00:00:00'}'"
    return "'" + str(value or "нет такого").replace("'", "''") + "'"


def random_filter(rng: random.Random, ib: Infobase, entity: str) -> str | None:
    document = entity.startswith("Document_")
    names = ["Ref_Key", "DeletionMark"] + (
        ["Date", "Number", "Posted"] if document else ["Code", "Description"]
    )
    parts = []
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(names)
        if name in ("DeletionMark", "Posted"):
            parts.append(f"{name} eq {rng.choice(['true', 'false'])}")
        elif name == "Date":
            parts.append(
                f"Date {rng.choice(['ge', 'gt', 'le', 'lt', 'eq'])} {literal(rng, ib, entity, name)}"
            )
        elif rng.random() < 0.5:
            alts = [f"{name} eq {literal(rng, ib, entity, name)}" for _ in range(rng.randint(2, 6))]
            parts.append("(" + " or ".join(alts) + ")")
        else:
            value = literal(rng, ib, entity, name)
            parts.append(f"{value} eq {name}" if rng.random() < 0.2 else f"{name} eq {value}")
    if entity == BANK and rng.random() < 0.3:
        parts.append(f"РасшифровкаПлатежа/any(d: d/Сумма gt {rng.randint(0, 90000)})")
    if parts and rng.random() < 0.15:
        parts[0] = f"not ({parts[0]})"
    if len(parts) > 1 and rng.random() < 0.15:
        return " or ".join(parts)
    return " and ".join(parts) or None


def random_query(rng: random.Random, ib: Infobase) -> tuple[str, dict[str, str]]:
    entity = rng.choice(ENTITIES)
    options: dict[str, str] = {}
    if (flt := random_filter(rng, ib, entity)) is not None:
        options["filter"] = flt
    orders = ["Date,Ref_Key"] * 4 + ["Date asc,Ref_Key asc", "Date desc,Ref_Key", "Date", "Ref_Key", "Number"]
    if entity.startswith("Catalog_"):
        orders = ["Code", "Description,Ref_Key", "Ref_Key"]
    if rng.random() < 0.8:
        options["orderby"] = rng.choice(orders)
    if rng.random() < 0.7:
        options["top"] = str(rng.choice([0, 1, 3, 10, 50, 1000]))
    if rng.random() < 0.5:
        options["skip"] = str(rng.choice([0, 1, 5, 20, 200]))
    if rng.random() < 0.1:
        options["inlinecount"] = "allpages"
    return entity, options


def test_indexed_answers_equal_the_scan_on_random_queries(ib: Infobase) -> None:
    rng = random.Random(20261202)
    served = 0
    for _ in range(250):
        entity, options = random_query(rng, ib)
        scan = answer(ib, entity, options, indexed=False)
        assert answer(ib, entity, options, indexed=True) == scan, (entity, options)
        served += bool(options.get("filter")) and isinstance(scan[0], list) and bool(scan[0])
    assert served > 50  # most queries found rows: the comparison is not between empty answers


def test_indexes_follow_inserts_updates_and_deletes(ib: Infobase) -> None:
    rng = random.Random(7)
    base = Infobase()
    generate(base, 30, seed=9, now=datetime(2025, 3, 14, 12, 0))
    for entity in ENTITIES:  # build every index before the writes, so the writes must maintain them
        answer(base, entity, {"filter": "Ref_Key eq guid'0b0e0f00-1111-2222-3333-444455556666'"}, True)
        answer(base, entity, {"orderby": "Date,Ref_Key", "top": "1"}, True)
        if entity.startswith("Catalog_"):
            answer(base, entity, {"filter": "Code eq 'x' or Description eq 'y'"}, True)
        else:
            answer(base, entity, {"filter": "Number eq 'x'"}, True)
    answer_records(base, {"filter": "Контрагент_Key eq guid'0b0e0f00-1111-2222-3333-444455556666'"}, True)
    for step in range(40):
        entity = rng.choice([ORDER, BANK, CLIENTS])
        docs = base.all(entity)
        victim = rng.choice(docs)
        kind = rng.random()
        if kind < 0.4:
            field = "Date" if entity != CLIENTS else rng.choice(["Code", "Description"])
            value = rng.choice(docs)[field]
            base.update(entity, victim["Ref_Key"], {field: value})
        elif kind < 0.6:
            base.delete(entity, victim["Ref_Key"])
        else:
            copy = {k: v for k, v in victim.items() if k not in ("Ref_Key", "DataVersion")}
            base.insert(entity, copy)
        pick = rng.choice(base.records(REGISTER))
        condition = {"filter": f"Контрагент_Key eq guid'{pick['Контрагент_Key']}'"}
        scan = [answer_records(base, condition, indexed) for indexed in (True, False)]
        assert scan[0] == scan[1], step
        for _ in range(5):
            flt = random_filter(rng, base, entity)
            options = {"orderby": "Date,Ref_Key" if entity != CLIENTS else "Code", "top": "7"}
            options |= {"filter": flt} if flt else {}
            assert answer(base, entity, options, True) == answer(base, entity, options, False), (
                step,
                options,
            )


def test_tabular_rows_by_owner_reference_equal_the_scan(ib: Infobase) -> None:
    rng = random.Random(3)
    owners = rng.sample(ib.all(ORDER), 5)
    flt = " or ".join(f"Ref_Key eq guid'{o['Ref_Key']}'" for o in owners)
    answers = []
    for indexed in (True, False):
        ib.indexes.enabled = indexed
        try:
            rows = reads.table_set(ib, ORDER, "Товары", {"filter": flt}, reads.Paging()).rows
        finally:
            ib.indexes.enabled = True
        answers.append([(r["Ref_Key"], r["LineNumber"]) for r in rows])
    assert answers[0] == answers[1] and len(answers[0]) >= 5


def test_register_reads_by_dimension_or_recorder_equal_the_scan(ib: Infobase) -> None:
    rng = random.Random(11)
    records = ib.records(REGISTER)
    assert len(records) > 100
    served = 0
    for _ in range(20):
        picks = rng.sample(records, rng.randint(1, 4))
        name = rng.choice(["ОбъектРасчетов_Key", "Контрагент_Key", "Recorder"])
        if name == "Recorder":
            alts = [f"Recorder eq cast(guid'{p['Recorder']}', '{p['Recorder_Type'][14:]}')" for p in picks]
        else:
            alts = [f"{name} eq guid'{p[name]}'" for p in picks]
        extra = rng.choice(["", " and RecordType eq 'Expense'", " and КОплате gt 1000", " or Сумма gt 90000"])
        condition = "(" + " or ".join(alts) + ")" + extra
        answers = []
        for indexed in (True, False):
            ib.indexes.enabled = indexed
            try:
                answers.append(
                    [
                        reads.record_sets(ib, REGISTER, True, {"filter": condition}, reads.Paging()).rows,
                        reads.virtual(
                            ib, REGISTER, "Balance", "", {"condition": condition}, reads.Paging()
                        ).rows,
                        reads.virtual(
                            ib, REGISTER, "Turnovers", "", {"condition": condition}, reads.Paging()
                        ).rows,
                    ]
                )
            finally:
                ib.indexes.enabled = True
        assert answers[0] == answers[1], condition
        served += bool(answers[0][0])
    assert served > 10


class Counting(dict[str, Any]):
    """A stored record that notes when a query reads one of its attributes."""

    touched: ClassVar[set[int]] = set()

    def get(self, key: str, default: Any = None) -> Any:
        Counting.touched.add(id(self))
        return super().get(key, default)


def records_read(ib: Infobase, entity: str, options: dict[str, str]) -> int:
    """How many stored objects one GET looks at (once the indexes it uses are built)."""
    reads.collection(ib, entity, options, View(select=["Ref_Key"]), reads.Paging(), None)
    for ref, rec in list(ib.sets[entity].items()):
        ib.sets[entity][ref] = Counting(rec)
    Counting.touched = set()
    try:
        reads.collection(ib, entity, options, View(select=["Ref_Key"]), reads.Paging(), None)
        return len(Counting.touched)
    finally:
        for ref, rec in list(ib.sets[entity].items()):
            ib.sets[entity][ref] = dict(rec)


def test_only_what_a_real_base_indexes_is_served_by_an_index(ib: Infobase) -> None:
    orders = ib.all(ORDER)
    some = orders[len(orders) // 2]
    walk = {"orderby": "Date,Ref_Key", "top": "3"}
    cheap = {
        "by reference": {"filter": f"Ref_Key eq guid'{some['Ref_Key']}'"},
        "by number": {"filter": f"Number eq '{some['Number']}' and Posted eq true"},
        "date index": {**walk, "filter": f"Posted eq true and Date ge datetime'{some['Date']}'"},
    }
    scans = {
        "unindexed attribute": {"filter": f"ОбъектРасчетов_Key eq guid'{some['ОбъектРасчетов_Key']}'"},
        "any() over a tabular section": {
            "filter": f"Товары/any(d: d/Номенклатура_Key eq guid'{some['Товары'][0]['Номенклатура_Key']}')"
        },
        "another order": {"orderby": "Number", "top": "3", "filter": f"Date ge datetime'{some['Date']}'"},
    }
    for label, options in cheap.items():
        assert records_read(ib, ORDER, options) < len(orders) / 4, label
    for label, options in scans.items():
        assert records_read(ib, ORDER, options) >= len(orders), label
    ib.indexes.enabled = False
    try:
        assert records_read(ib, ORDER, cheap["by reference"]) >= len(orders)  # the switch turns them off
    finally:
        ib.indexes.enabled = True
