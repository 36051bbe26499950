"""The 1C emulator keeps one object per distinct value its documents repeat (organisation, partner, currency,
product, warehouse references, type tags, line numbers, register tags): at 100,000 orders the copies were about a
third of its memory (issue 13 goal 6)."""

from __future__ import annotations

from collections import defaultdict

from b24_1c_sandbox.dataset import generate
from b24_1c_sandbox.onec.infobase import Infobase

REPEATED = ("Организация_Key", "Валюта_Key", "Партнер_Key", "Номенклатура_Key", "LineNumber", "Recorder_Type")


def test_repeated_values_are_one_object_each_in_documents_rows_and_register_records() -> None:
    ib = Infobase()
    generate(ib, 120, seed=3)
    objects: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    seen = 0

    def note(record: dict[str, object]) -> None:
        nonlocal seen
        for name in REPEATED:
            value = record.get(name)
            if isinstance(value, str) and value:
                objects[name][value].add(id(value))
                seen += 1

    for entity, records in ib.sets.items():
        if entity.startswith("Document_"):
            for doc in records.values():
                note(doc)
                for value in doc.values():
                    if isinstance(value, list):
                        for row in value:
                            note(row)
    for register in ib.movements:
        for record in ib.records(register):
            note(record)
    assert seen > 2000 and set(objects) == set(REPEATED)
    copies = {name: sum(len(ids) - 1 for ids in by_value.values()) for name, by_value in objects.items()}
    assert copies == dict.fromkeys(REPEATED, 0)
