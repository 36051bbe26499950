"""1C invoices (Document_СчетНаОплатуКлиенту) as a flow source, each record enriched with its basis order's money
facts (`order_paid_percent`, `order_fully_paid`, …) and its due date, so the mapping can set the smart invoice's
stage from payment.

Change detection: an invoice's own DataVersion is not enough, because its stage depends on documents that never
touch it (a receipt settling the order, a refund, an edit of the order's amount). So `versions()` also yields the
invoices of orders whose receipts, refunds or order document changed. The changes are found by the same DocumentTracker as
MoneySource uses: a tracker (ledger flow `<flow>:docs`) remembers every watched document's DataVersion and the orders it points
at; a document that is new, re-posted, un-posted, edited, re-pointed or (on a full scan) deleted outright marks its
orders' invoices for a look. Re-examining is cheap: unchanged mapped content is skipped by hash, without a write.
We chose this over "re-examine every invoice of an unpaid order each cycle" because that would miss the way back:
un-posting the payment of a fully paid order must move its invoice from paid to sent again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from connector.engine.protocols import Changes, Page
from connector.flows.facts import ORDER, ORDER_TYPE, RECEIPTS, REFUNDS, FactsReader
from connector.flows.onec_source import OneCSource
from connector.flows.tracker import DocumentTracker, spread
from connector.ledger import Ledger
from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.mapping.transforms import is_empty
from connector.onec.odata import ODataClient
from connector.onec.query import F
from connector.records import SourceState

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
        self,
        client: ODataClient,
        spec: Mapping,
        page_size: int,
        ledger: Ledger,
        today: Callable[[], date],
        installation: str | None = None,
    ) -> None:
        self.invoices = OneCSource(client, spec, page_size, installation)
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.ledger = ledger
        self.today = today  # the run's one 1C business date (facts: days overdue), as the money flow has it
        self.facts = FactsReader(client)
        self.tracker = DocumentTracker(client, ledger, self.facts, f"{spec.flow}:docs", WATCHED, page_size)

    # -- records -------------------------------------------------------------------------------------------------

    def _enrich(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        basis = sorted({str(r[BASIS]) for r in records if _basis_order(r)})
        orders = list(self.client.by_refs(ORDER, basis).values()) if basis else []
        facts = self.facts.compute(orders, self.today()) if orders else {}
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
        primed = self.tracker.prime() if cursor is None else None  # recorded a chunk per page
        pages = (Page(self._enrich(p.records), p.cursor) for p in self.invoices.pages(start, until, cursor))
        yield from spread(pages, primed)

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        return self._enrich(self.invoices.fetch(keys))

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return self.invoices.lookups(need)

    # -- change detection ---------------------------------------------------------------------------------------

    def plan(self) -> tuple[str, str] | None:
        """The exchange plan and node this flow reads its invoices' and documents' changes from, if any."""
        return self.invoices.plan()

    @property
    def acknowledge(self) -> bool:
        return self.invoices.acknowledge

    @acknowledge.setter
    def acknowledge(self, value: bool) -> None:
        self.invoices.acknowledge = value

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        if self.invoices.plan():  # one package: the invoices, then the documents, acknowledged after both
            yield from self.invoices.versions(
                since, extra=lambda items: self._touched(self.tracker.from_package(items))
            )
            return
        yield from self.invoices.versions(since)
        yield from self._touched(self.tracker.changed(since))

    def _touched(
        self, changes: Iterator[tuple[list[str], tuple[SourceState, ...]]]
    ) -> Iterator[list[tuple[str, str | None]]]:
        for orders, seen in changes:
            batches = list(self._invoices_of(orders))
            # The tracker's documents are recorded with the last batch of their invoices (alone when there is none).
            yield from batches[:-1]
            yield Changes(batches[-1] if batches else [], seen)

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
