"""1C invoices (Document_СчетНаОплатуКлиенту) as a flow source, each record enriched with its basis order's money
facts (`order_paid_percent`, `order_fully_paid`, …) and its due date, so the mapping can set the smart invoice's
stage from payment.

Change detection: an invoice's own DataVersion is not enough, because its stage depends on documents that never
touch it (a receipt settling the order, a refund, an edit of the order's amount). So `versions()` also yields the
invoices of orders whose receipts, refunds or order document changed. The changes are found like MoneySource finds
them: a tracker (ledger flow `<flow>:docs`) remembers every watched document's DataVersion and the orders it points
at; a document that is new, re-posted, un-posted, edited, re-pointed or (on a full scan) deleted outright marks its
orders' invoices for a look. Re-examining is cheap: unchanged mapped content is skipped by hash, without a write.
We chose this over "re-examine every invoice of an unpaid order each cycle" because that would miss the way back:
un-posting the payment of a fully paid order must move its invoice from paid to sent again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connector.clock import Clock
from connector.flows.base import Page
from connector.ledger import Ledger
from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.mapping.transforms import is_empty
from connector.money.facts import ORDER, ORDER_TYPE, RECEIPTS, REFUNDS, FactsReader
from connector.onec.odata import ODataClient
from connector.onec.query import EMPTY_REF, F, Guid, literal
from connector.onec.reader import OneCSource
from connector.records import Outcome

BASIS = "ДокументОснование"
SCHEDULE = "ЭтапыГрафикаОплаты"
WATCHED = [*RECEIPTS.values(), *REFUNDS.values(), ORDER]  # documents whose change can move an invoice's stage
FACT_DEFAULTS: dict[str, Any] = {  # an invoice without a (readable) basis order: nothing is known to be paid
    "amount": None,
    "paid_amount": None,
    "paid_percent": None,
    "balance": None,
    "overpaid": False,
    "fully_paid": False,
    "last_payment_date": None,
    "shipped_amount": None,
    "shipped_percent": None,
    "fully_shipped": False,
    "pay_due_date": None,
    "days_overdue": 0,
    "invoiced": True,
}
CHUNK = 20  # references per OData filter


def due_date(invoice: dict[str, Any]) -> Any:
    """The latest ДатаПлатежа of the invoice's payment schedule, or its Date when it has none."""
    dates = [
        str(s.get("ДатаПлатежа"))
        for s in invoice.get(SCHEDULE) or []
        if isinstance(s, dict) and not is_empty(s.get("ДатаПлатежа"))
    ]
    return max(dates) if dates else invoice.get("Date")


class InvoiceSource:
    """OneCSource over invoices whose records carry `order_<fact>` facts of their basis order and `due_date`."""

    def __init__(
        self, client: ODataClient, spec: Mapping, page_size: int, ledger: Ledger, clock: Clock
    ) -> None:
        self.invoices = OneCSource(client, spec, page_size)
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.ledger = ledger
        self.clock = clock
        self.facts = FactsReader(client)
        self.tracker = f"{spec.flow}:docs"

    # -- records -------------------------------------------------------------------------------------------------

    def _enrich(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        basis = sorted({str(r[BASIS]) for r in records if _basis_order(r)})
        orders = list(self.client.by_refs(ORDER, basis).values()) if basis else []
        today = self.clock.now().astimezone(self.client.tz).date()
        facts = self.facts.compute(orders, today) if orders else {}
        out = []
        for r in records:
            found = facts.get(str(r.get(BASIS))) if _basis_order(r) else None
            values = {**FACT_DEFAULTS, **{k: v for k, v in (found or {}).items() if k != "payments"}}
            out.append(
                {
                    **r,
                    **{f"order_{k}": v for k, v in values.items()},
                    "order_found": found is not None,
                    "due_date": due_date(r),
                }
            )
        return out

    def count(self, start: datetime, until: datetime | None) -> int | None:
        return self.invoices.count(start, until)

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if cursor is None:
            self._prime()
        for page in self.invoices.pages(start, until, cursor):
            yield Page(self._enrich(page.records), page.cursor)

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        return self._enrich(self.invoices.fetch(keys))

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return self.invoices.lookups(need)

    # -- change detection ---------------------------------------------------------------------------------------

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        yield from self.invoices.versions(since)
        for entity in WATCHED:
            yield from self._changed_docs(entity, since)

    def _prime(self) -> None:
        """Before a backfill reads facts: note every watched document, so the first incremental cycle looks only
        at what changed after this moment (and nothing in between is missed)."""
        for entity in WATCHED:
            for rows in self._scan(entity, None):
                self._remember(entity, rows)

    def _pointer_columns(self, entity: str) -> list[str]:
        if entity == ORDER:
            return []
        return ["РасшифровкаПлатежа/" + ("ОбъектРасчетов_Key" if self.facts.mode() == "object" else "Заказ")]

    def _scan(self, entity: str, since: datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Versions and pointers of an entity's documents (a few columns only)."""
        flt = F(self.client.tz).ge("Date", since) if since is not None else None
        for _, rows in self.client.pages(
            entity,
            filter=flt,
            orderby="Date asc,Ref_Key asc",
            page_size=max(self.page_size, 1000),
            select=["Ref_Key", "DataVersion", *self._pointer_columns(entity)],
        ):
            yield rows

    def _pointers(self, entity: str, doc: dict[str, Any]) -> set[str]:
        """Orders a document points at: the order itself, order refs (УТ 11.4) or `s:<settlement object>` (11.5)."""
        if entity == ORDER:
            out = {str(doc.get("Ref_Key"))}
        elif self.facts.mode() == "object":
            out = {f"s:{r.get('ОбъектРасчетов_Key')}" for r in doc.get("РасшифровкаПлатежа") or []}
        else:
            out = {str(r.get("Заказ")) for r in doc.get("РасшифровкаПлатежа") or []}
        return {p for p in out if p and EMPTY_REF not in p and not p.endswith("None")}

    def _remember(self, entity: str, rows: list[dict[str, Any]]) -> None:
        self.ledger.commit(
            self.tracker,
            None,
            [
                Outcome(
                    str(r["Ref_Key"]),
                    "update",
                    "applied",
                    ",".join(sorted(self._pointers(entity, r))) or "-",
                    entity,
                    r.get("DataVersion"),
                )
                for r in rows
            ],
        )

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
            yield from self._invoices_of(self._orders_for(pointers))
            self._remember(entity, changed)  # only now: the invoices above are committed
        if since is None:  # a full scan also notices documents deleted outright
            every = self.ledger.links(self.tracker, list(self.ledger.keys(self.tracker)))
            gone = [k for k, link in every.items() if k not in seen and link.content_hash == entity]
            if gone:
                pointers = {t for k in gone for t in every[k].target_id.split(",") if t not in ("", "-")}
                yield from self._invoices_of(self._orders_for(pointers))
                self.ledger.forget(self.tracker, gone)

    def _orders_for(self, pointers: set[str]) -> list[str]:
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

    def _invoices_of(self, orders: list[str]) -> Iterator[list[tuple[str, str | None]]]:
        """(invoice, None) for the matching invoices based on these orders: None makes the runner look again."""
        f = F(self.client.tz)
        for i in range(0, len(orders), CHUNK):
            basis = " or ".join(f.cast_eq(BASIS, o, ORDER) for o in orders[i : i + CHUNK])
            flt = F.and_(self.invoices.base_filter(), basis)
            keys = [
                str(r["Ref_Key"])
                for _, rows in self.client.pages(
                    self.spec.source.entity,
                    filter=flt,
                    orderby="Ref_Key asc",
                    page_size=500,
                    select=["Ref_Key"],
                )
                for r in rows
            ]
            if keys:
                yield [(k, None) for k in keys]


def _basis_order(record: dict[str, Any]) -> bool:
    """The invoice is based on a customer order (not on a contract, a quote or nothing)."""
    kind = str(record.get(f"{BASIS}_Type") or "")
    return not is_empty(record.get(BASIS)) and (kind.endswith(ORDER_TYPE) or not kind)
