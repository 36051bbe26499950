"""Facts of an order, recomputed from the FULL current set of its 1C documents (never by increments), so that
re-posting, un-posting and deleting in 1C heal themselves on the next run.

УТ 11.5 links money rows to an order through the order's settlement object (`ОбъектРасчетов_Key`); УТ 11.4 through
the composite `Заказ`. Shipments point at the order in `ЗаказКлиента` (rows). Names are checked against $metadata.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.clock import BusinessDay as BusinessDay  # moved to the clock; importers here keep working
from connector.errors import ConfigError
from connector.flows.facts_index import DocumentIndex as DocumentIndex
from connector.flows.facts_index import Payment as Payment
from connector.flows.facts_index import dec as _dec
from connector.onec.odata import ODataClient
from connector.onec.query import EMPTY_REF, F, Guid, literal

ORDER = "Document_ЗаказКлиента"
ORDER_TYPE = "Document_ЗаказКлиента"
RECEIPTS = {
    "bank": "Document_ПоступлениеБезналичныхДенежныхСредств",
    "cash": "Document_ПриходныйКассовыйОрдер",
}
REFUNDS = {"bank": "Document_СписаниеБезналичныхДенежныхСредств", "cash": "Document_РасходныйКассовыйОрдер"}
SHIPMENT = "Document_РеализацияТоваровУслуг"
INVOICE = "Document_СчетНаОплатуКлиенту"
REFUND_OPERATION = "ВозвратОплатыКлиенту"
RECEIPT_OPERATIONS = ("ПоступлениеОплатыОтКлиента", "ПоступлениеОплатыПоПлатежнойКарте")
MONEY_DOCS = [*RECEIPTS.values(), *REFUNDS.values(), SHIPMENT, INVOICE]
CHUNK = 40  # references per filter: one request per 40 orders and document type
# From this many orders asked for in one run (a backfill's first page, a reconcile), every posted money document is
# read once, keyset-paged by (Date, Ref_Key) — the document date index of a real base — and grouped here: the
# run's 1C reads are then linear in the data. Fewer orders (an incremental cycle) are looked up by reference.
WHOLE_READ_FROM = 200
WHOLE_PAGE = 1000
CENT = Decimal("0.01")


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


class FactsReader:
    """Reads the documents around a batch of orders and computes their facts."""

    def __init__(self, client: ODataClient, by_quantity: bool = False) -> None:
        self.client = client
        self.by_quantity = by_quantity
        self._mode: str | None = None
        self._asked = 0  # orders asked for in this reader's life (one run: app.py builds a source per run)
        self._index: DocumentIndex | None = None

    def mode(self) -> str:
        """ "object" (УТ 11.5 settlement objects) or "order" (УТ 11.4 composite Заказ), from $metadata."""
        if self._mode is None:
            meta = self.client.metadata
            table = "РасшифровкаПлатежа"
            if meta.has(RECEIPTS["bank"], "ОбъектРасчетов_Key", table=table):
                self._mode = "object"
            elif meta.has(RECEIPTS["bank"], "Заказ", table=table):
                self._mode = "order"
            else:
                raise ConfigError(
                    f"{RECEIPTS['bank']}.{table} has neither ОбъектРасчетов_Key (УТ 11.5) nor Заказ "
                    "(УТ 11.4): money flows need an УТ / КА / ERP base"
                )
        return self._mode

    def settle_key(self, order: dict[str, Any]) -> str:
        if self.mode() == "object":
            return str(order.get("ОбъектРасчетов_Key") or EMPTY_REF)
        return str(order["Ref_Key"])

    def _row_key(self) -> str:
        return "ОбъектРасчетов_Key" if self.mode() == "object" else "Заказ"

    def _row_matches(self, keys: list[str]) -> str:
        tz = self.client.tz
        if self.mode() == "object":
            return " or ".join(f"d/ОбъектРасчетов_Key eq {literal(Guid(k), tz)}" for k in keys)
        return " or ".join(f"d/Заказ eq cast({literal(Guid(k), tz)}, '{ORDER_TYPE}')" for k in keys)

    def _docs(self, entity: str, table: str, cond: str, extra: str = "") -> list[dict[str, Any]]:
        flt = f"Posted eq true and DeletionMark eq false and {table}/any(d: {cond})" + extra
        out: list[dict[str, Any]] = []
        for _, rows in self.client.pages(
            entity,
            filter=flt,
            orderby="Date asc,Ref_Key asc",
            page_size=500,
            select=["Ref_Key", "Number", "Date", table],
        ):
            out.extend(rows)
        return out

    def payments(self, orders: list[dict[str, Any]]) -> dict[str, list[Payment]]:
        """Posted receipt and refund rows per order Ref_Key."""
        by_settle = {self.settle_key(o): str(o["Ref_Key"]) for o in orders if self.settle_key(o) != EMPTY_REF}
        found: dict[str, list[Payment]] = defaultdict(list)
        row_key = self._row_key()
        keys = list(by_settle)
        for i in range(0, len(keys), CHUNK):
            cond = self._row_matches(keys[i : i + CHUNK])
            for refund, docs in ((False, RECEIPTS), (True, REFUNDS)):
                for kind, entity in docs.items():
                    extra = f" and ХозяйственнаяОперация eq '{REFUND_OPERATION}'" if refund else ""
                    for doc in self._docs(entity, "РасшифровкаПлатежа", cond, extra):
                        for key, payment in payment_rows(doc, row_key, kind, refund):
                            order = by_settle.get(key)
                            if order is not None:
                                found[order].append(payment)
        return found

    def shipped(self, orders: list[dict[str, Any]]) -> dict[str, tuple[Decimal, Decimal]]:
        """(amount, quantity) shipped per order, from posted shipments' rows that point at the order."""
        refs = [str(o["Ref_Key"]) for o in orders]
        out: dict[str, tuple[Decimal, Decimal]] = {}
        tz = self.client.tz
        for i in range(0, len(refs), CHUNK):
            part = refs[i : i + CHUNK]
            cond = " or ".join(
                f"d/ЗаказКлиента eq cast({literal(Guid(r), tz)}, '{ORDER_TYPE}')" for r in part
            )
            for doc in self._docs(SHIPMENT, "Товары", cond):
                _add_shipped(out, doc, set(part))
        return out

    def invoiced(self, orders: list[dict[str, Any]]) -> set[str]:
        """Orders with at least one posted invoice based on them."""
        refs = [str(o["Ref_Key"]) for o in orders]
        out: set[str] = set()
        tz = self.client.tz
        for i in range(0, len(refs), CHUNK):
            part = refs[i : i + CHUNK]
            flt = (
                "Posted eq true and DeletionMark eq false and ("
                + " or ".join(
                    f"ДокументОснование eq cast({literal(Guid(r), tz)}, '{ORDER_TYPE}')" for r in part
                )
                + ")"
            )
            for _, rows in self.client.pages(
                INVOICE,
                filter=flt,
                orderby="Ref_Key asc",
                page_size=500,
                select=["Ref_Key", "ДокументОснование"],
            ):
                out.update(str(r["ДокументОснование"]) for r in rows)
        return out

    def read_all(self) -> DocumentIndex:
        """Every posted, unmarked money document once, keyset-paged by (Date, Ref_Key), grouped by what it
        points at: a constant number of requests per document, whatever the number of orders; the groups go to
        a temporary file page by page (`DocumentIndex`), so memory does not grow with the base."""
        row_key = self._row_key()
        index = DocumentIndex()
        for refund, docs in ((False, RECEIPTS), (True, REFUNDS)):
            for kind, entity in docs.items():
                extra = f"ХозяйственнаяОперация eq '{REFUND_OPERATION}'" if refund else None
                select = ["Ref_Key", "Number", "Date", "РасшифровкаПлатежа"]
                for doc in self._keyset(entity, extra, select):
                    index.add_payments(payment_rows(doc, row_key, kind, refund))
        for doc in self._keyset(SHIPMENT, None, ["Ref_Key", "Date", "Товары"]):
            index.add_shipped(doc)
        index.add_invoiced(
            str(doc.get("ДокументОснование"))
            for doc in self._keyset(INVOICE, None, ["Ref_Key", "Date", "ДокументОснование"])
        )
        return index.indexed()

    def _keyset(self, entity: str, extra: str | None, select: list[str]) -> Iterator[dict[str, Any]]:
        """Posted documents in (Date, Ref_Key) order, a page at a time from a (date, rows seen at that date)
        cursor: each request starts at the date index's position instead of skipping every earlier row."""
        f = F(self.client.tz)
        since: datetime | None = None
        skip = 0
        while True:
            flt = F.and_(
                "Posted eq true and DeletionMark eq false", extra, f.ge("Date", since) if since else None
            )
            rows = self.client.query(
                entity, filter=flt, select=select, orderby="Date asc,Ref_Key asc", top=WHOLE_PAGE, skip=skip
            )
            yield from rows
            if len(rows) < WHOLE_PAGE:
                return
            last = datetime.fromisoformat(rows[-1]["Date"])
            at_last = sum(1 for r in rows if datetime.fromisoformat(r["Date"]) == last)
            skip = skip + len(rows) if last == since else at_last
            since = last

    def compute(self, orders: list[dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
        """Facts per order Ref_Key (added to the order record for mapping)."""
        self._asked += len(orders)
        if self._index is None and self._asked >= WHOLE_READ_FROM:
            self._index = self.read_all()
        if self._index is not None:
            index = self._index
            settle = {str(o["Ref_Key"]): self.settle_key(o) for o in orders}
            payments = {ref: index.payments.get(key, []) for ref, key in settle.items() if key != EMPTY_REF}
            zero = (Decimal(0), Decimal(0))
            shipped = {ref: index.shipped.get(ref, zero) for ref in settle}
            invoiced = {ref for ref in settle if ref in index.invoiced}
        else:
            payments = self.payments(orders)
            shipped = self.shipped(orders)
            invoiced = self.invoiced(orders)
        out = {}
        for order in orders:
            ref = str(order["Ref_Key"])
            out[ref] = facts_of(
                order,
                payments.get(ref, []),
                shipped.get(ref, (Decimal(0), Decimal(0))),
                ref in invoiced,
                today,
                self.by_quantity,
            )
        return out


def payment_rows(
    doc: dict[str, Any], row_key: str, kind: str, refund: bool, amount_field: str = "Сумма"
) -> Iterator[tuple[str, Payment]]:
    """(what the row settles, the payment) for each row of a receipt or refund (БП keeps the amount in
    СуммаПлатежа)."""
    for row in doc.get("РасшифровкаПлатежа") or []:
        amount = _dec(row.get(amount_field))
        yield (
            str(row.get(row_key)),
            Payment(
                f"{doc['Ref_Key']}:{row['LineNumber']}",
                doc["Ref_Key"],
                str(doc.get("Number", "")).strip(),
                doc["Date"],
                -amount if refund else amount,
                kind,
                refund,
            ),
        )


def _add_shipped(out: dict[str, tuple[Decimal, Decimal]], doc: dict[str, Any], only: set[str] | None) -> None:
    """Add a shipment's rows to (amount, quantity) per order they point at (`only`: just these orders)."""
    for row in doc.get("Товары") or []:
        ref = str(row.get("ЗаказКлиента"))
        if only is None or ref in only:
            amount, qty = out.get(ref, (Decimal(0), Decimal(0)))
            out[ref] = (amount + _dec(row.get("Сумма")), qty + _dec(row.get("Количество")))


def facts_of(
    order: dict[str, Any],
    payments: list[Payment],
    shipped: tuple[Decimal, Decimal],
    invoiced: bool,
    today: date,
    by_quantity: bool = False,
) -> dict[str, Any]:
    """The pure arithmetic: paid, balance, percentages, last payment, due date, overdue days."""
    amount = _dec(order.get("СуммаДокумента"))
    paid = sum((p.amount for p in payments), Decimal(0))
    received = [p for p in payments if not p.refund]
    last = max((p.date for p in received), default=None)
    ordered_qty = sum((_dec(r.get("Количество")) for r in order.get("Товары") or []), Decimal(0))
    shipped_amount, shipped_qty = shipped
    base, done = (ordered_qty, shipped_qty) if by_quantity else (amount, shipped_amount)
    due = None
    cumulative = Decimal(0)
    for stage in sorted(order.get("ЭтапыГрафикаОплаты") or [], key=lambda s: str(s.get("ДатаПлатежа"))):
        cumulative += _dec(stage.get("СуммаПлатежа"))
        if cumulative > paid + CENT / 2 and str(stage.get("ДатаПлатежа", "")).strip()[:4] not in ("", "0001"):
            due = str(stage["ДатаПлатежа"])[:10]
            break
    # No schedule (or every stage covered): nothing is due by a date, so `due` stays None.
    overdue = (today - datetime.fromisoformat(due).date()).days if due else 0
    return {
        "amount": _money(amount),
        "paid_amount": _money(paid),
        "paid_percent": _money(paid / amount * 100) if amount else "0.00",
        "balance": _money(amount - paid),
        "overpaid": paid > amount + CENT / 2,
        "fully_paid": amount > 0 and paid + CENT / 2 >= amount,
        "last_payment_date": last[:10] if last else None,
        "shipped_amount": _money(shipped_amount),
        "shipped_percent": _money(done / base * 100) if base else "0.00",
        "fully_shipped": base > 0 and done >= base,
        "pay_due_date": due,
        "days_overdue": max(0, overdue),
        "invoiced": invoiced,
        "payments": [
            {
                "key": p.key,
                "document": p.document,
                "number": p.number,
                "date": p.date,
                "amount": _money(p.amount),
                "kind": p.kind,
                "refund": p.refund,
            }
            for p in payments
        ],
    }
