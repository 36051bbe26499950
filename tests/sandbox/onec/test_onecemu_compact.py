"""The 1C emulator keeps objects, tabular rows and register records as tuples, not one dict each (compact.py):
what a read gives is equal to what was written, in 1C's key order, and a change to it changes nothing stored;
the store's deep size per order stays within a budget (issue 13 goal 6: the sandbox at most 1 GB at 100,000
orders)."""

from __future__ import annotations

import sys
import tracemalloc
from typing import Any

from b24_1c_sandbox.compact import Packed, PackedList, Table, field, pack, unpack
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
    assert type(packed) is Packed and type(packed[1]) is PackedList and type(packed[1][0]) is Packed
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


def test_objects_rows_and_register_records_are_stored_as_tuples_and_read_as_copies() -> None:
    ib = Infobase()
    generate(ib, 40, seed=5)
    for table in ib.sets.values():
        assert all(type(v) is Packed for v in table._rows.values())
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
    generation's peak (3.1 KB per order above what stays, tracemalloc, 1,000 orders; now 0.1 KB)."""
    ib = Infobase()
    tracemalloc.start()
    try:
        generate(ib, 300, seed=7)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (peak - current) / 300 < 1024, (peak - current) / 300


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
