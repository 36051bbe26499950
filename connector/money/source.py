"""Orders with their money facts, as a flow source. An order is re-examined when it changes, when any receipt,
refund, shipment or invoice that points at it changes (posted, re-posted, un-posted, deleted), and daily while a
payment is due (so reminders and overdue rules fire without any change in 1C)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connector.clock import Clock
from connector.flows.base import Page
from connector.ledger import Ledger
from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.money.facts import MONEY_DOCS, SHIPMENT, FactsReader
from connector.onec.odata import ODataClient
from connector.onec.query import EMPTY_REF, F, Guid, literal
from connector.onec.reader import OneCSource
from connector.records import Outcome

ORDER_LINK_FIELDS = {SHIPMENT: ("Товары", "ЗаказКлиента")}


class MoneySource:
    """OneCSource over orders, each record extended with facts (paid, shipped, due …) under their names."""

    def __init__(
        self,
        client: ODataClient,
        spec: Mapping,
        page_size: int,
        ledger: Ledger,
        clock: Clock,
        by_quantity: bool = False,
    ) -> None:
        self.orders = OneCSource(client, spec, page_size)
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.ledger = ledger
        self.clock = clock
        self.facts = FactsReader(client, by_quantity)
        self.tracker = f"{spec.flow}:docs"
        self.watch = f"{spec.flow}:due"

    def _with_facts(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        today = self.clock.now().astimezone(self.client.tz).date()
        facts = self.facts.compute(records, today) if records else {}
        return [{**r, **facts[str(r["Ref_Key"])]} for r in records]

    def count(self, start: datetime, until: datetime | None) -> int | None:
        return self.orders.count(start, until)

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if cursor is None:
            self._prime()
        for page in self.orders.pages(start, until, cursor):
            yield Page(self._with_facts(page.records), page.cursor)

    def _prime(self) -> None:
        """Before a backfill computes facts: note every money document's version and pointers, so the first
        incremental cycle only looks at what changed after this moment (and nothing is missed in between)."""
        for entity in MONEY_DOCS:
            for rows in self._scan(entity, None):
                self._remember(entity, rows)

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        return self._with_facts(self.orders.fetch(keys))

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return self.orders.lookups(need)

    # -- change detection ---------------------------------------------------------------------------------------

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        yield from self.orders.versions(since)
        for entity in MONEY_DOCS:
            yield from self._changed_docs(entity, since)
        today = self.clock.now().astimezone(self.client.tz).date().isoformat()
        due = [
            link.source_key
            for link in self.ledger.links(self.watch, list(self.ledger.keys(self.watch))).values()
            if link.content_hash != today
        ]
        for i in range(
            0, len(due), self.page_size
        ):  # once a day: reminders and overdue rules need no 1C change
            part = due[i : i + self.page_size]
            yield [(k, None) for k in part]
            self.ledger.put_links(self.watch, [(k, "-", today, None) for k in part])

    def _pointer_columns(self, entity: str) -> list[str]:
        if entity in ORDER_LINK_FIELDS:
            table, field = ORDER_LINK_FIELDS[entity]
            return [field, f"{table}/{field}"]
        if entity in MONEY_DOCS[:4]:
            key = "ОбъектРасчетов_Key" if self.facts.mode() == "object" else "Заказ"
            return [f"РасшифровкаПлатежа/{key}"]
        return ["ДокументОснование"]

    def _scan(self, entity: str, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Versions and pointers of an entity's documents (light: a few columns)."""
        f = F(self.client.tz)
        flt = f.ge("Date", since) if since is not None else None
        for _, rows in self.client.pages(
            entity,
            filter=flt,
            orderby="Date asc,Ref_Key asc",
            page_size=max(self.page_size, 1000),
            select=["Ref_Key", "DataVersion", *self._pointer_columns(entity)],
        ):
            yield rows

    def _remember(self, entity: str, rows: list[dict[str, Any]]) -> None:
        outcomes = [
            Outcome(
                str(r["Ref_Key"]),
                "update",
                "applied",
                ",".join(sorted(self._pointers(entity, r))) or "-",
                entity,
                r.get("DataVersion"),
            )
            for r in rows
        ]
        self.ledger.commit(self.tracker, None, outcomes)

    def _changed_docs(self, entity: str, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        seen: set[str] = set()
        for rows in self._scan(entity, since):
            keys = [str(r["Ref_Key"]) for r in rows]
            seen.update(keys)
            known = self.ledger.links(self.tracker, keys)
            changed = [
                r
                for r in rows
                if str(r["Ref_Key"]) not in known
                or known[str(r["Ref_Key"])].source_version != r.get("DataVersion")
            ]
            if not changed:
                continue
            pointers: set[str] = set()
            for row in changed:
                pointers |= self._pointers(entity, row)
                link = known.get(str(row["Ref_Key"]))
                if link is not None:  # a document that stopped pointing at an order still affects that order
                    pointers |= set(link.target_id.split(",")) - {"", "-"}
            orders = self._orders_for(pointers)
            if orders:
                yield [(o, None) for o in orders]
            self._remember(entity, changed)  # only now: the orders above are committed
        if since is None:  # a full scan also notices documents deleted outright
            gone = [
                k
                for k, link in self.ledger.links(self.tracker, list(self.ledger.keys(self.tracker))).items()
                if k not in seen and link.content_hash == entity
            ]
            if gone:
                known = self.ledger.links(self.tracker, gone)
                orders = self._orders_for(
                    {t for k in gone for t in known[k].target_id.split(",") if t not in ("", "-")}
                )
                if orders:
                    yield [(o, None) for o in orders]
                self.ledger.forget(self.tracker, gone)

    def _pointers(self, entity: str, doc: dict[str, Any]) -> set[str]:
        """What a document points at: settlement objects / orders in its rows, or its basis order."""
        out: set[str] = set()
        if entity in ORDER_LINK_FIELDS:
            table, field = ORDER_LINK_FIELDS[entity]
            out.update(str(r.get(field)) for r in doc.get(table) or [])
            out.add(str(doc.get(field)))
        elif "РасшифровкаПлатежа" in doc:
            rows = doc.get("РасшифровкаПлатежа") or []
            if self.facts.mode() == "object":  # settlement objects: resolved to orders in _orders_for
                out.update(f"s:{r.get('ОбъектРасчетов_Key')}" for r in rows)
            else:
                out.update(str(r.get("Заказ")) for r in rows)
        else:
            out.add(str(doc.get("ДокументОснование")))
        return {p for p in out if p and EMPTY_REF not in p and p != "None"}

    def _orders_for(self, pointers: set[str]) -> list[str]:
        """Order refs for pointers: order refs as they are, settlement objects (`s:<ref>`) through the orders."""
        orders = {p for p in pointers if not p.startswith("s:")}
        objects = [p[2:] for p in pointers if p.startswith("s:")]
        for i in range(0, len(objects), 20):
            part = objects[i : i + 20]
            flt = " or ".join(f"ОбъектРасчетов_Key eq {literal(Guid(o), self.client.tz)}" for o in part)
            for row in self.client.query(self.spec.source.entity, filter=flt, select=["Ref_Key"]):
                orders.add(str(row["Ref_Key"]))
        return sorted(orders)
