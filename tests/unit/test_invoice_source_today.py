"""The invoices flow computes its basis orders' facts on the run's one business date, never the wall clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import time_machine

from connector.flows.invoices.source import InvoiceSource
from connector.ledger import Ledger
from connector.mapping.schema import load_mapping
from connector.onec.odata import ODataClient

ROOT = Path(__file__).resolve().parents[2]
ORDER_REF = "00000000-0000-0000-0000-00000000000a"


class _Metadata:
    def has(self, entity: str, name: str, table: str | None = None) -> bool:
        return name == "ОбъектРасчетов_Key"


class _OneC:
    """An УТ 11.5 base with one order due on 10 Jan 2024 and no payments, shipments or invoices posted."""

    tz = ZoneInfo("Europe/Moscow")
    metadata = _Metadata()

    def by_refs(self, entity: str, refs: list[str]) -> dict[str, dict[str, Any]]:
        order = {
            "Ref_Key": ORDER_REF,
            "ОбъектРасчетов_Key": "00000000-0000-0000-0000-00000000000b",
            "СуммаДокумента": 1000,
            "ЭтапыГрафикаОплаты": [{"ДатаПлатежа": "2024-01-10T00:00:00", "СуммаПлатежа": 1000}],
        }
        return {ORDER_REF: order} if ORDER_REF in refs else {}

    def pages(self, *args: Any, **kwargs: Any) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
        yield from ()


def test_invoice_facts_use_the_runs_business_date() -> None:
    spec = load_mapping(ROOT / "mappings" / "invoices.yaml")
    asked: list[int] = []

    def today() -> date:
        asked.append(1)
        return date(2024, 2, 9)

    source = InvoiceSource(cast(ODataClient, _OneC()), spec, 50, cast(Ledger, None), today)
    invoice = {"Ref_Key": "i1", "Number": "1", "ДокументОснование": ORDER_REF}
    with time_machine.travel("2031-06-01T12:00:00Z", tick=False):  # the wall clock is far from the run's date
        (record,) = source._enrich([invoice])
    assert record["order_pay_due_date"] == "2024-01-10"
    assert record["order_days_overdue"] == 30  # 9 Feb − 10 Jan on the run's date, not on 1 Jun 2031
    assert record["order_balance"] == "1000.00"
    assert asked  # the date came from the injected `today`
