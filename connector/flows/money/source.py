"""Orders with their money facts, as a flow source. An order is re-examined when it changes, when any receipt,
refund, shipment or invoice that points at it changes (posted, re-posted, un-posted, deleted), and daily while a
payment is due (so reminders and overdue rules fire without any change in 1C)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from connector.engine.protocols import Changes, Page
from connector.flows.facts import MONEY_DOCS, FactsReader
from connector.flows.money.bp_facts import BP_DOCS, InvoiceFactsReader, InvoiceTracker, is_bp
from connector.flows.money.reminders import WATCHED
from connector.flows.onec_source import OneCSource
from connector.flows.tracker import DocumentTracker, spread
from connector.ledger import Ledger
from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.mapping.transforms import is_empty
from connector.onec.odata import ODataClient
from connector.records import SourceState


class MoneySource:
    """OneCSource over orders, each record extended with facts (paid, shipped, due …) under their names."""

    def __init__(
        self,
        client: ODataClient,
        spec: Mapping,
        page_size: int,
        ledger: Ledger,
        today: Callable[[], date],
        by_quantity: bool = False,
        installation: str | None = None,
    ) -> None:
        # БП 3.0's invoice trackers do not read exchange-plan packages: windows and scans there, as before.
        self.orders = OneCSource(client, spec, page_size, None if is_bp(spec.source.entity) else installation)
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.ledger = ledger
        self.today = today  # the run's 1C business date (facts: days overdue; the daily look at due orders)
        if is_bp(spec.source.entity):  # БП 3.0: the invoice is the order
            self.facts: FactsReader = InvoiceFactsReader(client, by_quantity)
            self.tracker: DocumentTracker = InvoiceTracker(
                client, ledger, self.facts, f"{spec.flow}:docs", BP_DOCS, page_size
            )
        else:
            self.facts = FactsReader(client, by_quantity)
            self.tracker = DocumentTracker(
                client, ledger, self.facts, f"{spec.flow}:docs", MONEY_DOCS, page_size
            )
        self.watch = f"{spec.flow}:due"

    def _with_facts(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        facts = self.facts.compute(records, self.today()) if records else {}
        kinds = self._contract_kinds(records)
        return [{**r, **facts[str(r["Ref_Key"])], **self._contract(r, kinds)} for r in records]

    def _contract_kinds(self, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]] | None:
        """The orders' contracts (money.contract), read by reference in one request per page."""
        contract = self.spec.money.contract if self.spec.money is not None else None
        if contract is None:
            return None
        table = contract.kind.split(".", 1)[0]
        refs = {str(r.get(contract.source)) for r in records if not is_empty(r.get(contract.source))}
        return self.orders.lookups({table: refs}).get(table, {})

    def _contract(self, record: dict[str, Any], kinds: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        """contract_kind: the kind of the order's contract, None without a contract or a kind."""
        contract = self.spec.money.contract if self.spec.money is not None else None
        if kinds is None or contract is None:
            return {}
        row = kinds.get(str(record.get(contract.source))) or {}
        kind = row.get(contract.kind.split(".", 1)[1])
        return {"contract_kind": None if is_empty(kind) else str(kind).strip()}

    def count(self, start: datetime, until: datetime | None) -> int | None:
        return self.orders.count(start, until)

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        primed = self.tracker.prime() if cursor is None else None  # recorded a chunk per page
        pages = (Page(self._with_facts(p.records), p.cursor) for p in self.orders.pages(start, until, cursor))
        yield from spread(pages, primed)

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        return self._with_facts(self.orders.fetch(keys))

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return self.orders.lookups(need)

    # -- change detection ---------------------------------------------------------------------------------------

    def plan(self) -> tuple[str, str] | None:
        """The exchange plan and node this flow reads its orders' and documents' changes from, if any."""
        return self.orders.plan()

    @property
    def acknowledge(self) -> bool:
        return self.orders.acknowledge

    @acknowledge.setter
    def acknowledge(self, value: bool) -> None:
        self.orders.acknowledge = value

    def _documents(self, items: list[dict[str, Any]]) -> Iterator[list[tuple[str, str | None]]]:
        for orders, seen in self.tracker.from_package(items):
            yield Changes([(o, None) for o in orders], seen)

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        if self.orders.plan():  # one package: the orders, then the documents, acknowledged after both
            yield from self.orders.versions(since, extra=self._documents)
        else:
            yield from self.orders.versions(since)
            for orders, seen in self.tracker.changed(since):
                yield Changes([(o, None) for o in orders], seen)
        today = self.today().isoformat()
        due = [
            k for k, seen in self.ledger.source_state(self.watch, WATCHED).items() if seen.version != today
        ]
        # Once a day: reminders and overdue rules need no change in 1C to become due.
        for i in range(0, len(due), self.page_size):
            part = due[i : i + self.page_size]
            yield Changes(
                [(k, None) for k in part], [SourceState(self.watch, WATCHED, k, today) for k in part]
            )
