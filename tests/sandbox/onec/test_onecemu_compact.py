"""The 1C emulator keeps objects, tabular rows and register records packed and compressed, not one dict each
(compact.py): what a read gives is equal to what was written, in 1C's key order, with the same types, and a change
to it changes nothing stored; the store's deep size per order stays within a budget (issue 13 goal 6: the sandbox
at most 1 GB at 100,000 orders)."""

from __future__ import annotations

import math
import sys
import tracemalloc
from datetime import UTC, datetime
from typing import Any

from b24_1c_sandbox.compact import LiveTable, Table, field, pack, unpack
from b24_1c_sandbox.dataset import generate
from b24_1c_sandbox.onec import registers
from b24_1c_sandbox.onec.infobase import Infobase

ORDER = "Document_ЗаказКлиента"
REGISTER = "AccumulationRegister_РасчетыСКлиентами"


def deep_size(obj: Any, seen: set[int]) -> int:
    """Bytes of the object and everything it holds (each object once)."""
    total, stack = 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set):
            stack.extend(o)
        elif isinstance(o, Table):
            stack.append(o._rows)
            stack.append(o._codec.zdict)
    return total


def test_pack_gives_back_an_equal_dict_in_the_same_key_order_with_new_containers() -> None:
    record = {
        "Ref_Key": "r",
        "Товары": [{"LineNumber": "1", "Сумма": 5.5}, {"LineNumber": "2", "Сумма": 0}],
        "Пусто": [],
        "Теги": ["a", 1, None, ["b"]],
        "Вложенный": {"x": {"y": [1]}},
        "Posted": True,
        "Nothing": None,
    }
    packed = pack(record)
    assert type(packed) is tuple and type(packed[1]) is list and type(packed[1][0]) is tuple
    back = unpack(packed)
    assert back == record and list(back) == list(record)
    assert list(back["Товары"][1]) == ["LineNumber", "Сумма"]
    back["Товары"][0]["Сумма"] = 7
    back["Теги"].append("c")
    assert unpack(packed) == record  # what was read is a copy
    assert field(packed, "Posted") is True and field(packed, "Нет", "d") == "d"
    assert field(packed, "Вложенный") == {"x": {"y": [1]}}


def test_the_empty_values_left_out_of_the_tuple_come_back_with_their_types() -> None:
    """0, 0.0 and False are equal in Python, not on the wire: each comes back as it went in."""
    empties: list[Any] = [0, 0.0, False, True, "", None, "0", "00000000-0000-0000-0000-000000000000", -0.0]
    for n in range(len(empties)):
        record = {f"k{i}": v for i, v in enumerate(empties[n:] + empties[:n])} | {"x": 1.5}
        packed = pack(record)
        assert len(packed) == 3  # -0.0 (equal to 0.0, but written "-0.0"), the value 1.5 and the layout
        back = unpack(packed)
        assert [(type(v), repr(v)) for v in back.values()] == [(type(v), repr(v)) for v in record.values()]
        assert list(back) == list(record)
        assert field(packed, "k0") == record["k0"] and type(field(packed, "k0")) is type(record["k0"])


def shape(value: Any) -> Any:
    """A value's exact form: types, reprs (-0.0 apart from 0.0, False from 0) and every dict's key order."""
    if type(value) is dict:
        return ("dict", [(shape(k), shape(v)) for k, v in value.items()])
    if type(value) in (list, tuple):
        return (type(value).__name__, [shape(v) for v in value])
    return (type(value).__name__, repr(value))


TRICKY: list[Any] = [
    {"a": -0.0, "b": 0.0, "c": 0, "d": False, "e": True, "f": 1, "g": 1.0, "h": "1", "i": None, "j": ""},
    {"z": 1, "a": 2, "Ref_Key": "00000000-0000-0000-0000-000000000000", "m": "0001-01-01T00:00:00"},
    {"rows": [[1, [2.5, -0.0, [None]]], [], {"x": [{"y": -0.0}, {"y": 0}]}], "empty": {}, "none": []},
    {"t": (1, (2, [3, {"k": (4,)}]), ()), 7: "an int key", (1, 2): "a tuple key", "": "empty key"},
    {"big": 2**80, "neg": -(2**70), "inf": math.inf, "tiny": 5e-324, "u": "Ёлка 🎄", "b": b"\x00\xff"},
    [{"LineNumber": "1", "Сумма": 5.5}, {"LineNumber": "2", "Сумма": -0.0}],
    ["a", 1, None, ["b", []], -0.0],
    "a plain string",
    -0.0,
]


def filled(table: Table) -> Table:
    """The table after enough records to make its zlib dictionary (what is stored from then on is compressed)."""
    n = 0
    while table._codec.zdict is None:
        table[f"filler {n}"] = {"Ref_Key": f"{n:08d}-0000-0000-0000-000000000000", "Сумма": n * 1.5, "n": [n]}
        n += 1
        if isinstance(table, LiveTable):
            table.settle()
    return table


def test_a_compressed_table_gives_back_every_value_exactly() -> None:
    """Equal, the same key order at every level, the same types (-0.0, 0, 0.0 and False apart), nested lists,
    tuples and dicts, keys that are not strings; a value marshal cannot write (a datetime) is kept packed."""
    for table in (filled(Table()), filled(LiveTable())):
        for n, value in enumerate(TRICKY):
            table[n] = value
        odd = {"when": datetime(2026, 1, 2, tzinfo=UTC), "n": -0.0}
        table["odd"] = odd
        if isinstance(table, LiveTable):
            table.settle()
        assert all(type(table._rows[n]) is bytes for n in range(len(TRICKY)))  # compressed
        assert type(table._rows["odd"]) is tuple  # packed, not compressed
        for n, value in enumerate(TRICKY):
            back = table[n]
            assert back == value and shape(back) == shape(value), n
        assert shape(table["odd"]) == shape(odd)
        assert shape(table.plain()[2]) == shape(TRICKY[2])
        assert [shape(v) for v in list(table.values())[-len(TRICKY) - 1 : -1]] == [shape(v) for v in TRICKY]
        nested = table[2]
        nested["rows"][0][1].append("changed in a copy")
        if isinstance(table, LiveTable):
            table.settle()  # a live record is the store's own: written back, as a dict would be
            assert table[2]["rows"][0][1][-1] == "changed in a copy"
        else:
            assert shape(table[2]) == shape(TRICKY[2])


def test_field_reads_one_value_of_a_stored_record() -> None:
    table = filled(Table())
    table["r"] = TRICKY[0] | {"rows": [{"x": 1}]}
    (packed,) = [p for k, p in zip(table, table.packed(), strict=True) if k == "r"]
    assert shape(field(packed, "a")) == shape(-0.0) and field(packed, "d") is False
    assert field(packed, "rows") == [{"x": 1}] and field(packed, "missing", "d") == "d"


def test_every_store_of_the_base_keeps_bytes_once_its_dictionary_is_made() -> None:
    """No store holds a dict per record: a set past its first 64 KB holds one compressed bytes object per object
    (its rows inside), the smaller ones packed tuples until then."""
    ib = Infobase()
    generate(ib, 150, seed=5)
    learned = [name for name, table in ib.sets.items() if table._codec.zdict is not None]
    assert {ORDER, ib.config.roles["bank_receipt"], ib.config.roles["shipment"]} <= set(learned)
    for name, table in ib.sets.items():
        kinds = {type(v) for v in table._rows.values()}
        assert kinds <= ({bytes} if name in learned else {tuple}), (name, kinds)
    orders = ib.sets[ORDER]
    assert sum(len(v) for v in orders._rows.values()) / len(orders) < 600  # an order with its rows: ~0.3 KB


def test_objects_rows_and_register_records_are_stored_as_tuples_and_read_as_copies() -> None:
    ib = Infobase()
    generate(ib, 40, seed=5)
    for table in ib.sets.values():
        assert all(type(v) in (bytes, tuple) for v in table._rows.values())
    order = ib.all(ORDER)[3]
    assert order["Товары"] and list(order)[:3] == ["Ref_Key", "DataVersion", "DeletionMark"]
    order["Комментарий"] = "changed in a copy"
    order["Товары"][0]["Сумма"] = -1
    again = ib.get(ORDER, order["Ref_Key"])
    assert again is not None and again["Комментарий"] != "changed in a copy"
    assert again["Товары"][0]["Сумма"] != -1
    records = ib.records(REGISTER)
    assert records and all(type(r) is dict for r in records)
    records[0]["КОплате"] = 10**9
    assert ib.records(REGISTER)[0]["КОплате"] != 10**9


def test_the_store_stays_within_its_memory_budget_per_order() -> None:
    """One dict per object, row and register record took 14.3 KB per order (deep size, 400 orders; 14 KB at
    2,000); packed, 7.8 KB; with the empty values left out of the tuples, 6.4 KB."""
    ib = Infobase()
    generate(ib, 400, seed=7)
    seen: set[int] = set()
    size = deep_size(ib.sets, seen) + deep_size(ib.movements, seen)
    assert size / 400 < 7 * 1024, size / 400


def test_generating_a_dataset_holds_no_list_of_every_order() -> None:
    """The orders made are kept by reference until their money documents are made: as dicts they were the
    generation's peak (3.1 KB per order above what stays, tracemalloc, 1,000 orders; now 0.1 KB). Measured as the
    growth from 200 to 400 orders: a compressed table's zlib state (~0.3 MB while one record is compressed) is a
    fixed part of the peak."""
    above: list[float] = []
    for orders in (200, 400):
        ib = Infobase()
        tracemalloc.start()
        try:
            generate(ib, orders, seed=7)
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        above.append(peak - current)
    assert (above[1] - above[0]) / 200 < 1024, above


def recorded(ib: Infobase, ref: str) -> list[dict[str, Any]]:
    return [r for r in ib.records(REGISTER) if r["Recorder"] == ref]


def test_register_records_are_made_again_from_the_posted_document_when_read() -> None:
    ib = Infobase()
    generate(ib, 40, seed=5)
    kept = ib.movements[REGISTER]._rows
    assert kept and all(type(v) is str for v in kept.values())  # the entity set's name, no records
    for recorder, entity in kept.items():
        doc = ib.get(entity, recorder)
        assert doc is not None and doc["Posted"]
        assert ib.movements[REGISTER][recorder] == registers.movements(ib, entity, doc)[REGISTER]


def test_a_document_changed_while_posted_keeps_the_records_of_its_last_posting() -> None:
    ib = Infobase()
    generate(ib, 40, seed=5)
    entity = ib.config.roles["bank_receipt"]
    receipt = next(d for d in ib.all(entity) if d["Posted"])
    before = recorded(ib, receipt["Ref_Key"])
    rows = [dict(r, Сумма=1.25) for r in receipt["РасшифровкаПлатежа"]]
    ib.update(entity, receipt["Ref_Key"], {"РасшифровкаПлатежа": rows})  # written, not posted again
    assert before and recorded(ib, receipt["Ref_Key"]) == before
    ib.repost(entity, receipt["Ref_Key"])
    assert [r["КОплате"] for r in recorded(ib, receipt["Ref_Key"])] == [1.25] * len(rows)


def test_records_that_read_another_object_are_kept_as_made() -> None:
    """A shipment row without a settlement object takes its order's: the order may change later."""
    ib = Infobase()
    generate(ib, 40, seed=5)
    entity, orders = ib.config.roles["shipment"], ib.config.roles["order"]
    shipment = next(d for d in ib.all(entity) if d["Posted"])
    order = ib.get(orders, shipment["ЗаказКлиента"])
    assert order is not None
    rows = [dict(r, ОбъектРасчетов_Key=registers.ZERO) for r in shipment["Товары"]]
    ib.update(entity, shipment["Ref_Key"], {"Товары": rows})
    ib.repost(entity, shipment["Ref_Key"])
    before = recorded(ib, shipment["Ref_Key"])
    assert {r["ОбъектРасчетов_Key"] for r in before} == {order["ОбъектРасчетов_Key"]}
    ib.update(orders, order["Ref_Key"], {"ОбъектРасчетов_Key": "11111111-2222-3333-4444-555555555555"})
    assert recorded(ib, shipment["Ref_Key"]) == before
