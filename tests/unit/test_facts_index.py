"""The money flow's whole read of a base's money documents keeps no Python object per document: the groups go to a
temporary SQLite file (facts_index.DocumentIndex), so a 100,000-order backfill holds the same memory on its last
page as on its first. The answers equal what the in-memory grouping gave."""

from __future__ import annotations

import tracemalloc
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.flows import facts
from connector.flows.facts import INVOICE, RECEIPTS, REFUNDS, SHIPMENT, FactsReader

DOCS = 1_500  # per document type; each receipt has two rows
ORDERS = 600


def ref(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


class Metadata:
    def has(self, entity: str, name: str, table: str | None = None) -> bool:
        return name == "ОбъектРасчетов_Key"


class Pages:
    """A 1C client whose keyset reads return each document type's documents, a page at a time (made on the fly,
    so only what the reader keeps stays allocated)."""

    def __init__(self) -> None:
        self.tz = ZoneInfo("Europe/Moscow")
        self.metadata = Metadata()
        self.at: dict[str, int] = {}

    def query(self, entity: str, **kw: Any) -> list[dict[str, Any]]:
        start = self.at.get(entity, 0)
        stop = min(start + kw["top"], DOCS)
        self.at[entity] = stop
        return [self.doc(entity, i) for i in range(start, stop)]

    def doc(self, entity: str, i: int) -> dict[str, Any]:
        head = {
            "Ref_Key": f"{entity}-{i}",
            "Number": f"№{i:06d}",
            "Date": f"2020-01-01T00:{i // 60 % 60:02d}:00",
        }
        if entity == SHIPMENT:
            rows = [{"ЗаказКлиента": ref(i % ORDERS), "Сумма": "10.50", "Количество": "2"}]
            return {**head, "Товары": rows}
        if entity == INVOICE:
            return {**head, "ДокументОснование": ref(i % ORDERS)}
        rows = [
            {"LineNumber": str(n), "ОбъектРасчетов_Key": ref((i + n) % ORDERS), "Сумма": f"{i % 97}.{n}5"}
            for n in (1, 2)
        ]
        return {**head, "РасшифровкаПлатежа": rows}


def expected(client: Pages) -> tuple[dict[str, list[Any]], dict[str, tuple[Decimal, Decimal]], set[str]]:
    """What the in-memory grouping of the same documents gives."""
    payments: dict[str, list[Any]] = {}
    for refund, docs in ((False, RECEIPTS), (True, REFUNDS)):
        for kind, entity in docs.items():
            for i in range(DOCS):
                doc = client.doc(entity, i)
                for key, p in facts.payment_rows(doc, "ОбъектРасчетов_Key", kind, refund):
                    payments.setdefault(key, []).append(p)
    shipped: dict[str, tuple[Decimal, Decimal]] = {}
    for i in range(DOCS):
        facts._add_shipped(shipped, client.doc(SHIPMENT, i), None)
    invoiced = {str(client.doc(INVOICE, i)["ДокументОснование"]) for i in range(DOCS)}
    return payments, shipped, invoiced


def test_the_whole_read_keeps_no_object_per_document_and_answers_as_the_grouping_did() -> None:
    client = Pages()
    reader = FactsReader(client)  # type: ignore[arg-type]
    reader.mode()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = reader.read_all()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 6,000 payment rows, 1,500 shipment rows, 600 invoiced orders: as Python objects (a Payment, its strings
    # and Decimal, the group lists) that is about 10 MB; in the file, only the reader's own few objects.
    assert kept < 1_000_000, f"the whole read kept {kept:,} bytes of Python objects"
    payments, shipped, invoiced = expected(client)
    for i in range(0, ORDERS, 7):
        key = ref(i)
        assert index.payments.get(key, []) == payments.get(key, []), key
        assert index.shipped.get(key, (Decimal(0), Decimal(0))) == shipped[key], key
        assert (key in index.invoiced) == (key in invoiced), key
    assert index.payments.get("no such key", []) == []
    assert "no such key" not in index.invoiced
