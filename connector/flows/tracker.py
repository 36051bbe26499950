"""Which orders a change in 1C touches: a tracker of watched documents, shared by the money and invoices flows.

1C has no change feed, and an order's money facts change through documents that never touch the order itself. The
tracker (ledger flow `<flow>:docs`) remembers every watched document's DataVersion and the orders it points at; a
document that is new, re-posted, un-posted, edited or re-pointed — or, on a full scan, deleted outright — marks its
orders (the ones it points at now and the ones it pointed at before) for a look. The tracker writes nothing: each
batch of orders comes with the document state to remember, and the runner records them in the same commit as the
orders' outcomes (a crash in between makes the next cycle look again; a dry run leaves no trace).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import datetime
from typing import Any

from connector.engine.protocols import Page
from connector.flows.facts import ORDER, SHIPMENT, FactsReader
from connector.ledger import Ledger
from connector.onec.odata import ODataClient
from connector.onec.query import EMPTY_REF, F, Guid, literal
from connector.records import SourceState

PAYMENT_ROWS = "РасшифровкаПлатежа"
ORDER_ROWS = {SHIPMENT: ("Товары", "ЗаказКлиента")}  # documents that name the order in their rows
BASIS = "ДокументОснование"
CHUNK = 20  # references per OData filter


class DocumentTracker:
    """Watches a list of 1C entity sets and answers "which orders were touched since last time"."""

    def __init__(
        self,
        client: ODataClient,
        ledger: Ledger,
        facts: FactsReader,
        flow: str,
        entities: list[str],
        page_size: int,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.facts = facts
        self.flow = flow
        self.entities = entities
        self.page_size = max(page_size, 1000)

    def prime(self) -> Primed:
        """Before a backfill computes facts: every document as it is now, so the first incremental cycle looks
        only at what changed after this moment (and nothing in between is missed). Kept in a temporary file and
        recorded a chunk per page (`spread`): at 100,000 orders they are some 300,000 documents."""
        primed = Primed(self.flow)
        for entity in self.entities:
            for rows in self._scan(entity, None):
                primed.add(self._remember(entity, rows))
        return primed

    def changed(self, since: datetime | None) -> Iterator[tuple[list[str], tuple[SourceState, ...]]]:
        """Batches of order refs touched by documents changed (dated) since `since` (None: a full scan), each with
        the document links to record once those orders are committed (the list may be empty, the links not)."""
        for entity in self.entities:
            yield from self._changed(entity, since)

    def _changed(
        self, entity: str, since: datetime | None
    ) -> Iterator[tuple[list[str], tuple[SourceState, ...]]]:
        seen: set[str] = set()
        for rows in self._scan(entity, since):
            seen.update(str(r["Ref_Key"]) for r in rows)
            yield from self._compare(entity, rows)
        if since is None:  # a full scan also notices documents deleted outright
            every = self.ledger.source_state(self.flow, entity)
            yield from self._gone(entity, [k for k in every if k not in seen])

    def _compare(
        self, entity: str, rows: list[dict[str, Any]]
    ) -> Iterator[tuple[list[str], tuple[SourceState, ...]]]:
        known = self.ledger.source_state(self.flow, entity, [str(r["Ref_Key"]) for r in rows])
        changed = [
            r
            for r in rows
            if str(r["Ref_Key"]) not in known or known[str(r["Ref_Key"])].version != r.get("DataVersion")
        ]
        if not changed:
            return
        pointers: set[str] = set()
        for row in changed:
            pointers |= self.pointers(entity, row)
            before = known.get(str(row["Ref_Key"]))
            if before is not None:  # a document that stopped pointing at an order still affects that order
                pointers |= set(before.pointers)
        yield self.orders_for(pointers), self._remember(entity, changed)

    def _gone(self, entity: str, keys: list[str]) -> Iterator[tuple[list[str], tuple[SourceState, ...]]]:
        every = self.ledger.source_state(self.flow, entity, keys) if keys else {}
        if every:
            orders = self.orders_for({p for k in every for p in every[k].pointers})
            yield orders, tuple(SourceState(self.flow, entity, k, drop=True) for k in every)

    def from_package(
        self, items: list[dict[str, Any]]
    ) -> Iterator[tuple[list[str], tuple[SourceState, ...]]]:
        """The watched documents of an exchange-plan package (whole objects, or deletions), compared as a scan's."""
        for entity in self.entities:
            prefix = f"/{entity}(guid'"
            rows: list[dict[str, Any]] = []
            gone: list[str] = []
            for item in items:
                ident = str(item.get("odata.id", ""))
                at = ident.find(prefix)
                if at < 0:
                    continue
                ref = ident[at + len(prefix) : at + len(prefix) + 36]
                if item.get("odata.deleted"):
                    gone.append(ref)
                else:
                    rows.append({**item, "Ref_Key": ref})
            if rows:
                yield from self._compare(entity, rows)
            yield from self._gone(entity, gone)

    def _columns(self, entity: str) -> list[str]:
        if entity == ORDER:
            return []
        if entity in ORDER_ROWS:
            table, field = ORDER_ROWS[entity]
            return [field, f"{table}/{field}"]
        if entity.startswith("Document_СчетНаОплату"):
            return [BASIS]
        key = "ОбъектРасчетов_Key" if self.facts.mode() == "object" else "Заказ"
        return [f"{PAYMENT_ROWS}/{key}"]

    def _scan(self, entity: str, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Versions and pointers of an entity's documents (a few columns only)."""
        flt = F(self.client.tz).ge("Date", since) if since is not None else None
        for _, rows in self.client.pages(
            entity,
            filter=flt,
            orderby="Date asc,Ref_Key asc",
            page_size=self.page_size,
            select=["Ref_Key", "DataVersion", *self._columns(entity)],
        ):
            yield rows

    def _remember(self, entity: str, rows: list[dict[str, Any]]) -> tuple[SourceState, ...]:
        return tuple(
            SourceState(
                self.flow,
                entity,
                str(r["Ref_Key"]),
                r.get("DataVersion"),
                tuple(sorted(self.pointers(entity, r))),
            )
            for r in rows
        )

    def pointers(self, entity: str, doc: dict[str, Any]) -> set[str]:
        """What a document points at: the order itself, orders (УТ 11.4, shipments, invoices) or `s:<settlement
        object>` (УТ 11.5 payment rows, resolved to their orders in orders_for)."""
        out: set[str] = set()
        if entity == ORDER:
            out.add(str(doc.get("Ref_Key")))
        elif entity in ORDER_ROWS:
            table, field = ORDER_ROWS[entity]
            out.update(str(r.get(field)) for r in doc.get(table) or [])
            out.add(str(doc.get(field)))
        elif PAYMENT_ROWS in doc:
            rows = doc.get(PAYMENT_ROWS) or []
            if self.facts.mode() == "object":
                out.update(f"s:{r.get('ОбъектРасчетов_Key')}" for r in rows)
            else:
                out.update(str(r.get("Заказ")) for r in rows)
        else:
            out.add(str(doc.get(BASIS)))
        return {p for p in out if p and EMPTY_REF not in p and not p.endswith("None")}

    def orders_for(self, pointers: set[str]) -> list[str]:
        """Order refs for pointers: order refs as they are, settlement objects through the orders that own them."""
        orders = {p for p in pointers if not p.startswith("s:")}
        objects = sorted(p[2:] for p in pointers if p.startswith("s:"))
        for i in range(0, len(objects), CHUNK):
            flt = " or ".join(
                f"ОбъектРасчетов_Key eq {literal(Guid(o), self.client.tz)}" for o in objects[i : i + CHUNK]
            )
            orders.update(
                str(row["Ref_Key"]) for row in self.client.query(ORDER, filter=flt, select=["Ref_Key"])
            )
        return sorted(orders)


class Primed:
    """The watched documents' states noted before a backfill, in a private temporary SQLite file (pages beyond its
    small cache go to a file deleted on close), handed out `CHUNK` at a time."""

    CHUNK = 5000

    def __init__(self, flow: str) -> None:
        self.flow = flow
        # The run reads its next page in a thread (engine/readahead.py); one thread at a time uses this.
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.execute("CREATE TABLE state (entity TEXT, key TEXT, version TEXT, pointers TEXT)")

    def add(self, states: Iterable[SourceState]) -> None:
        self._db.executemany(
            "INSERT INTO state VALUES (?, ?, ?, ?)",
            ((s.entity, s.key, s.version, " ".join(s.pointers)) for s in states),
        )

    def chunks(self) -> Iterator[tuple[SourceState, ...]]:
        last = 0
        while True:
            rows = self._db.execute(
                "SELECT rowid, entity, key, version, pointers FROM state WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, self.CHUNK),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield tuple(SourceState(self.flow, e, k, v, tuple(p.split())) for _, e, k, v, p in rows)

    def __del__(self) -> None:
        with suppress(Exception):
            self._db.close()


def spread(pages: Iterable[Page], primed: Primed | None) -> Iterator[Page]:
    """The pages, each carrying the next chunk of the primed states to record with it, and the last one whatever
    is left (a page is held until the next one is read, to know which is last). A backfill stopped half-way has
    recorded part of them: the next cycle looks again at the orders of the rest (unchanged ones skip by hash)."""
    if primed is None:
        yield from pages
        return
    chunks = primed.chunks()
    held: Page | None = None
    for page in pages:
        if held is not None:
            yield Page(held.records, held.cursor, (*held.state, *next(chunks, ())))
        held = page
    if held is not None:
        yield Page(held.records, held.cursor, (*held.state, *(s for chunk in chunks for s in chunk)))
