"""The emulator's list indexes (listindex.py, issue 13 goal 6): `crm.deal.list` by `ID`/`ORIGIN_ID` and
`crm.item.list` by `id`/`xmlId` read only the records the filter pins, and answer exactly what the full scan answers,
after adds, in-place updates, deletes and writes earlier in the same batch."""

from __future__ import annotations

import random
from typing import Any

import pytest
from b24_1c_sandbox.bitrix24 import items, legacy
from b24_1c_sandbox.bitrix24.filtering import sort_records
from b24_1c_sandbox.compact import Codec, FieldIndex, LiveTable
from conftest import Emu

DEAL_FILTERS: list[dict[str, Any]] = [
    {"@ORIGIN_ID": ["K1", "K2", "K7", "NONE"]},
    {"ORIGIN_ID": "k3"},  # strings compare case-insensitively
    {"=ORIGIN_ID": "K5", "ORIGINATOR_ID": "inst"},
    {"@ORIGIN_ID": "K4"},  # a scalar given to @
    {"ORIGIN_ID": ["K6", "K8"]},  # a list given to = is IN
    {"@ORIGIN_ID": []},
    {"@ORIGIN_ID": ["K1", ""]},  # an empty value: left to the scan
    {"ORIGIN_ID": ""},
    {"LOGIC": "OR", "ORIGIN_ID": "K1", "TITLE": "D3"},  # OR: left to the scan
    {"@ID": [1, 3, 5, 999]},
    {"ID": "4"},
    {"@ID": []},
    {"!ORIGIN_ID": "K1"},
    {"%ORIGIN_ID": "K1"},
]


def _deal_list(emu: Emu, flt: dict[str, Any], keyset: bool) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"filter": flt, "select": ["ID", "ORIGIN_ID", "TITLE"], "order": {"ID": "ASC"}}
    if keyset:
        params.update(filter={**flt, ">ID": 2}, start=-1)
    return [dict(r) for r in emu.ok("crm.deal.list", params)]


def _both(emu: Emu, monkeypatch: pytest.MonkeyPatch, flt: dict[str, Any], keyset: bool = False) -> Any:
    indexed = _deal_list(emu, flt, keyset)
    with monkeypatch.context() as m:
        m.setattr(legacy, "candidates", lambda *a: None)
        scanned = _deal_list(emu, flt, keyset)
    return indexed, scanned


def _seed(emu: Emu, n: int = 40) -> None:
    for i in range(n):
        fields = {"TITLE": f"D{i}", "ORIGIN_ID": f"K{i % 15}", "ORIGINATOR_ID": "inst" if i % 2 else "other"}
        emu.ok("crm.deal.add", {"fields": fields})


def test_deal_lists_answer_what_the_scan_answers(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(emu)
    emu.ok("crm.deal.list", {"filter": {"ORIGIN_ID": "K1"}})  # the index exists from here on
    for deal_id in (2, 9, 17):
        emu.ok("crm.deal.update", {"id": deal_id, "fields": {"ORIGIN_ID": "K7"}})
    emu.ok("crm.deal.update", {"id": 4, "fields": {"ORIGIN_ID": ""}})
    for deal_id in (3, 8, 16):
        emu.ok("crm.deal.delete", {"id": deal_id})
    for flt in DEAL_FILTERS:
        for keyset in (False, True):
            indexed, scanned = _both(emu, monkeypatch, flt, keyset)
            assert indexed == scanned, (flt, keyset)
    assert [d["ID"] for d in _both(emu, monkeypatch, {"ORIGIN_ID": "K7"})[0]] == [
        "2",
        "9",
        "17",
        "23",
        "38",
    ]  # IDs i + 1; 8 deleted


def test_a_write_earlier_in_the_batch_is_found(emu: Emu) -> None:
    _seed(emu, 10)
    emu.ok("crm.deal.list", {"filter": {"ORIGIN_ID": "K1"}})  # the index exists before the batch writes
    cmd = {
        "add": "crm.deal.add?fields[TITLE]=new&fields[ORIGIN_ID]=NEW",
        "move": "crm.deal.update?id=5&fields[ORIGIN_ID]=new",
        "drop": "crm.deal.delete?id=7",
        "find": "crm.deal.list?filter[@ORIGIN_ID][]=NEW&filter[@ORIGIN_ID][]=K5&order[ID]=ASC&select[]=ID",
        "gone": "crm.deal.list?filter[ORIGIN_ID]=K6&select[]=ID",
    }
    result = emu.ok("batch", {"cmd": cmd})["result"]
    # deal i is ID i + 1 with K{i % 15}: 5 moved to "new", 6 has K5, 7 (K6) deleted
    assert [r["ID"] for r in result["find"]] == ["5", "6", str(result["add"])]
    assert result["gone"] == []
    after = emu.ok("crm.deal.list", {"filter": {"@ORIGIN_ID": ["new", "k5", "K6"]}, "order": {"ID": "ASC"}})
    assert [r["ID"] for r in after] == ["5", "6", str(result["add"])]


def test_a_pinned_list_reads_only_the_pinned_records(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(emu, 200)
    emu.ok("crm.deal.list", {"filter": {"ORIGIN_ID": "K1"}})  # builds the index (one read of every deal)
    reads = []
    real = Codec.read
    monkeypatch.setattr(Codec, "read", lambda self, stored: reads.append(1) or real(self, stored))
    found = emu.ok("crm.deal.list", {"filter": {"@ORIGIN_ID": ["K2", "K3"], "ORIGINATOR_ID": "inst"}})
    pinned = [i for i in range(200) if i % 15 in (2, 3)]
    assert sorted(int(d["ID"]) for d in found) == [i + 1 for i in pinned if i % 2]
    by_origin = len(reads)
    reads.clear()
    assert len(emu.ok("crm.deal.list", {"filter": {"@ID": [5, 6, 7]}})) == 3
    assert (by_origin, len(reads)) == (len(pinned), 3)  # the deals with K2 or K3, of 200


def test_smart_invoice_lists_by_id_and_xml_id(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(30):
        emu.ok("crm.item.add", {"entityTypeId": 31, "fields": {"title": f"I{i}", "xmlId": f"X{i % 10}"}})
    emu.ok("crm.item.update", {"entityTypeId": 31, "id": 4, "fields": {"xmlId": "X9"}})
    emu.ok("crm.item.delete", {"entityTypeId": 31, "id": 10})
    filters: list[dict[str, Any]] = [
        {"@xmlId": ["x9", "X2"]},
        {"xmlId": "X3", ">id": 5},
        {"@id": [1, 4, 10, 11]},
        {"=xmlId": "X0"},
        {"!xmlId": "X1"},
    ]
    for flt in filters:
        params = {"entityTypeId": 31, "filter": flt, "select": ["id", "xmlId"], "order": {"id": "ASC"}}
        indexed = emu.ok("crm.item.list", params)["items"]
        with monkeypatch.context() as m:
            m.setattr(items, "candidates", lambda *a: None)
            scanned = emu.ok("crm.item.list", params)["items"]
        assert indexed == scanned, flt
    found = emu.ok("crm.item.list", {"entityTypeId": 31, "filter": {"xmlId": "X9"}, "order": {"id": "ASC"}})
    assert [r["id"] for r in found["items"]] == [4, 20, 30]  # ids i + 1; 10 deleted


def test_the_index_stays_what_a_fresh_build_gives() -> None:
    """Random adds, in-place changes, overwrites and deletes, settled at random: the index is always the one a
    build from the stored rows gives (a drift would lose a record from a list)."""
    rnd = random.Random(13)
    table = LiveTable()
    for key in range(300):
        table[key] = {"ID": str(key), "ORIGIN_ID": f"k{rnd.randrange(40)}", "TAGS": ["a"]}
    table.settle()
    table.where("ORIGIN_ID", lambda v: [] if v in (None, "") else [str(v).casefold()], [])
    next_key = 300
    for step in range(2000):
        op = rnd.random()
        if op < 0.4 and len(table):
            key = rnd.choice(list(table))
            table[key]["ORIGIN_ID"] = rnd.choice([f"K{rnd.randrange(40)}", "", None])  # changed in place
        elif op < 0.55 and len(table):
            del table[rnd.choice(list(table))]
        elif op < 0.7 and len(table):
            table[rnd.choice(list(table))] = {"ID": "x", "ORIGIN_ID": f"k{rnd.randrange(40)}"}
        else:
            table[next_key] = {"ID": str(next_key), "ORIGIN_ID": f"k{rnd.randrange(40)}"}
            next_key += 1
        if rnd.random() < 0.3:
            table.settle()
            index = table._indexes["ORIGIN_ID"]
            fresh = FieldIndex("ORIGIN_ID", index.key_of)
            for key, stored in table._rows.items():
                fresh.add(key, fresh.keys_of(table._codec.load(stored)))
            assert index.by_value == fresh.by_value, step
    table.settle()
    for wanted in ("k1", "k7", "k33"):
        expected = [k for k, r in table.items() if str(r.get("ORIGIN_ID") or "").casefold() == wanted]
        assert table.where("ORIGIN_ID", lambda v: [], [wanted]) == expected


def test_a_record_changed_in_place_before_settle_is_named() -> None:
    """Within one call a handler may change a record it read by key and list afterwards: the index, still filed
    by the stored value, must not hide it (the caller's filter decides)."""
    table = LiveTable()
    for key in range(5):
        table[key] = {"ORIGIN_ID": f"k{key}"}
    table.settle()
    key_of = lambda v: [str(v).casefold()] if v else []  # noqa: E731
    assert table.where("ORIGIN_ID", key_of, ["k9"]) == []
    table[3]["ORIGIN_ID"] = "k9"  # not settled yet
    table[7] = {"ORIGIN_ID": "k9"}
    assert table.where("ORIGIN_ID", key_of, ["k9"]) == [3, 7]
    table.settle()
    assert table.where("ORIGIN_ID", key_of, ["k9"]) == [3, 7]
    assert table.where("ORIGIN_ID", key_of, ["k3"]) == []


def test_a_keyset_page_by_origin_is_50_in_id_order(emu: Emu, monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = {f"a{i}": "crm.deal.add?fields[TITLE]=x&fields[ORIGIN_ID]=SAME" for i in range(50)}
    emu.ok("batch", {"cmd": cmd})
    emu.ok("batch", {"cmd": dict(list(cmd.items())[:20])})
    indexed, scanned = _both(emu, monkeypatch, {"ORIGIN_ID": "SAME"}, keyset=True)
    assert indexed == scanned
    assert [int(d["ID"]) for d in indexed] == list(range(3, 53))


@pytest.mark.parametrize(
    "order",
    [{"OPPORTUNITY": "DESC", "ID": "ASC"}, {"title": "asc"}, {"DATE_CREATE": "DESC", "TITLE": "DESC"}],
)
def test_a_scanned_list_keeps_keys_and_reads_only_its_page(emu: Emu, order: dict[str, str]) -> None:
    """The scan keeps each match as its key and the fields `order` sorts by; the page it answers is the one the
    whole records sorted the same way give (a lost or wrong sort field would reorder it)."""
    rnd = random.Random(5)
    for _ in range(120):
        fields = {"TITLE": f"T{rnd.randrange(30):02d}", "OPPORTUNITY": rnd.randrange(5) * 100}
        emu.ok("crm.deal.add", {"fields": fields})
        emu.clock.advance(rnd.choice([0, 1, 60]))
    every = [r for r in emu.portal.deals() if float(r["OPPORTUNITY"] or 0) >= 100]
    types = {"OPPORTUNITY": "double", "ID": "integer", "TITLE": "string", "DATE_CREATE": "datetime"}
    expected = [r["ID"] for r in sort_records(every, order, types, portal_offset=emu.portal.tz)]
    got: list[str] = []
    for start in range(0, len(expected) + 50, 50):
        params = {"filter": {">=OPPORTUNITY": 100}, "order": order, "select": ["ID"], "start": start}
        got += [r["ID"] for r in emu.ok("crm.deal.list", params)]
    assert got == expected
