"""БП 3.0 money facts: there is no customer order, the invoice (СчетНаОплатуПокупателю) is the order.

Receipts and refunds settle an invoice through their РасшифровкаПлатежа rows (`СчетНаОплату_Key`, amount in
`СуммаПлатежа`); a shipment (РеализацияТоваровУслуг) points at it through its header's composite `Сделка`. The
invoice's `СрокОплаты` is its one payment date. The arithmetic is the УТ one (`facts_of`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from connector.flows.facts import CHUNK, FactsReader, Payment, facts_of, payment_rows
from connector.flows.tracker import DocumentTracker
from connector.onec.query import EMPTY_REF, Guid, literal

BP_INVOICE = "Document_СчетНаОплатуПокупателю"
BP_RECEIPTS = {"bank": "Document_ПоступлениеНаРасчетныйСчет", "cash": "Document_ПриходныйКассовыйОрдер"}
BP_REFUNDS = {"bank": "Document_СписаниеСРасчетногоСчета", "cash": "Document_РасходныйКассовыйОрдер"}
BP_SHIPMENT = "Document_РеализацияТоваровУслуг"
BP_DOCS = [*BP_RECEIPTS.values(), *BP_REFUNDS.values(), BP_SHIPMENT]
SETTLES = "СчетНаОплату_Key"
DEAL = "Сделка"


def is_bp(entity: str) -> bool:
    """A money mapping over БП invoices (instead of УТ / КА customer orders)."""
    return entity == BP_INVOICE


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except ArithmeticError:
        return Decimal(0)


class InvoiceFactsReader(FactsReader):
    """FactsReader for БП 3.0: each record is an invoice; its payments, refunds and shipments are read by its key."""

    def mode(self) -> str:
        return "invoice"

    def _refs(self, keys: list[str], field: str, table: bool) -> str:
        tz = self.client.tz
        if table:
            return " or ".join(f"d/{field} eq {literal(Guid(k), tz)}" for k in keys)
        return " or ".join(f"{field} eq cast({literal(Guid(k), tz)}, '{BP_INVOICE}')" for k in keys)

    def compute(self, orders: list[dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
        refs = [str(o["Ref_Key"]) for o in orders]
        payments: dict[str, list[Payment]] = defaultdict(list)
        shipped: dict[str, tuple[Decimal, Decimal]] = {}
        wanted = set(refs)
        for i in range(0, len(refs), CHUNK):
            part = refs[i : i + CHUNK]
            for refund, docs in ((False, BP_RECEIPTS), (True, BP_REFUNDS)):
                for kind, entity in docs.items():
                    cond = self._refs(part, SETTLES, table=True)
                    for doc in self._docs(entity, "РасшифровкаПлатежа", cond):
                        for ref, payment in payment_rows(doc, SETTLES, kind, refund, "СуммаПлатежа"):
                            if ref in wanted:
                                payments[ref].append(payment)
            flt = f"Posted eq true and DeletionMark eq false and ({self._refs(part, DEAL, table=False)})"
            for _, rows in self.client.pages(
                BP_SHIPMENT,
                filter=flt,
                orderby="Date asc,Ref_Key asc",
                page_size=500,
                select=["Ref_Key", "Date", DEAL, "Товары"],
            ):
                for doc in rows:
                    ref = str(doc.get(DEAL))
                    amount, qty = shipped.get(ref, (Decimal(0), Decimal(0)))
                    for row in doc.get("Товары") or []:
                        amount, qty = amount + _dec(row.get("Сумма")), qty + _dec(row.get("Количество"))
                    shipped[ref] = (amount, qty)
        out = {}
        for order in orders:
            ref = str(order["Ref_Key"])
            due = str(order.get("СрокОплаты") or "")
            schedule = (
                [{"ДатаПлатежа": due, "СуммаПлатежа": order.get("СуммаДокумента")}]
                if due and not due.startswith("0001")
                else []
            )
            out[ref] = facts_of(
                {**order, "ЭтапыГрафикаОплаты": schedule},
                payments.get(ref, []),
                shipped.get(ref, (Decimal(0), Decimal(0))),
                True,  # the invoice is its own invoice
                today,
                self.by_quantity,
            )
        return out


class InvoiceTracker(DocumentTracker):
    """Which БП invoices the changed receipts, refunds and shipments point at."""

    def _columns(self, entity: str) -> list[str]:
        if entity == BP_SHIPMENT:
            return [DEAL]
        return [f"РасшифровкаПлатежа/{SETTLES}"]

    def pointers(self, entity: str, doc: dict[str, Any]) -> set[str]:
        if entity == BP_SHIPMENT:
            out = {str(doc.get(DEAL))}
        else:
            out = {str(r.get(SETTLES)) for r in doc.get("РасшифровкаПлатежа") or []}
        return {p for p in out if p and p != EMPTY_REF and p != "None"}

    def orders_for(self, pointers: set[str]) -> list[str]:
        return sorted(pointers)
