"""Reads every posted order of the 1C base once a run and the money documents around them (facts.py's whole-base
read), and serves one record per counterparty that has orders: its rollups, versioned by their content."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from connector.flows.computed import ComputedSource
from connector.flows.facts import ORDER, BusinessDay, DocumentIndex, FactsReader, Payment
from connector.flows.rollups.model import OrderTotals, rollups_of
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.onec.query import EMPTY_REF
from connector.records import content_hash

CLIENTS = "Catalog_Контрагенты"
NAMES_BY_REF = 200  # more counterparties than this: their names come from one paged read of the catalog


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except ArithmeticError:
        return Decimal(0)


class RollupSource(ComputedSource):
    """Counterparties with their rollups; computed once per run (a source is built per run)."""

    def __init__(self, client: ODataClient, spec: Mapping, page_size: int, today: BusinessDay) -> None:
        assert spec.rollups is not None
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.today = today
        self.months = spec.rollups.dormant_after_months
        self._records: dict[str, dict[str, Any]] | None = None

    def records(self) -> dict[str, dict[str, Any]]:
        """{counterparty Ref_Key: record}, sorted by key: the counterparty's name and its rollup facts."""
        if self._records is None:
            self._records = self._compute()
        return self._records

    def _compute(self) -> dict[str, dict[str, Any]]:
        reader = FactsReader(self.client)
        object_mode = reader.mode() == "object"
        select = ["Ref_Key", "Date", "Контрагент_Key", "СуммаДокумента"]
        if object_mode:
            select.append("ОбъектРасчетов_Key")
        index = reader.read_all()
        # Keyset-paged by (Date, Ref_Key), the document date index, as facts.py reads the money documents: each
        # request starts at its position instead of skipping every earlier order. Summed as they come: a run
        # holds one total per client, never every order (issue 13 goal 6).
        totals = (
            OrderTotals(
                str(order["Контрагент_Key"]),
                datetime.fromisoformat(str(order["Date"])).date(),
                _dec(order.get("СуммаДокумента")),
                sum((p.amount for p in self._payments(reader, index, order)), Decimal(0)),
                index.shipped.get(str(order["Ref_Key"]), (Decimal(0), Decimal(0)))[0],
            )
            for order in reader._keyset(ORDER, None, select)  # the one whole-base reader
            if str(order.get("Контрагент_Key") or EMPTY_REF) != EMPTY_REF
        )
        facts = rollups_of(totals, self.today(), self.months)
        names = self._names(list(facts))
        out: dict[str, dict[str, Any]] = {}
        for key in sorted(facts):
            name = str(names.get(key, {}).get("Description") or key)
            out[key] = {"Ref_Key": key, "Description": name, **facts[key]}
            out[key]["DataVersion"] = content_hash(out[key])
        return out

    @staticmethod
    def _payments(reader: FactsReader, index: DocumentIndex, order: dict[str, Any]) -> list[Payment]:
        settle = reader.settle_key(order)  # УТ 11.5: the settlement object; УТ 11.4: the order itself
        return index.payments.get(settle, []) if settle != EMPTY_REF else []

    def _names(self, refs: list[str]) -> dict[str, dict[str, Any]]:
        """Counterparty names: by reference for a few, else the whole catalog a page of 1,000 at a time."""
        select = ["Ref_Key", "Description"]
        if len(refs) <= NAMES_BY_REF:
            return self.client.by_refs(CLIENTS, refs, select=select)
        wanted = set(refs)
        out: dict[str, dict[str, Any]] = {}
        for _, rows in self.client.pages(
            CLIENTS, filter=None, orderby="Ref_Key asc", page_size=1000, select=select
        ):
            out.update((str(r["Ref_Key"]), r) for r in rows if str(r["Ref_Key"]) in wanted)
        return out

    def business_day(self) -> date:
        return self.today()
