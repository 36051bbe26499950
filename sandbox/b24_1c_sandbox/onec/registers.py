"""Settlement movements that posting makes, and the register virtual tables (Balance, Turnovers, ...).

`AccumulationRegister_РасчетыСКлиентами` (УТ 11) per settlement object (11.5: `ОбъектРасчетов_Key`; 11.4:
`ЗаказКлиента` + `_Type`), resources:
- `КОплате`: the order's amount is a Receipt; payments are Expense, refunds are Expense with negative amounts
  (1C's "сторно"), so `КОплатеExpense` turnover is what is paid and `КОплатеBalance` what remains to pay;
- `КОтгрузке`: the order's amount is a Receipt, shipments are Expense (`КОтгрузкеExpense` = shipped);
- `Сумма`: the customer's debt: shipments are Receipt, payments Expense (negative balance = prepayment).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from b24_1c_sandbox.onec.query import compile_parsed, index_terms

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.infobase import Infobase

SETTLEMENTS = "AccumulationRegister_РасчетыСКлиентами"
ORDER_TYPE = "StandardODATA.Document_ЗаказКлиента"
ZERO = "00000000-0000-0000-0000-000000000000"


def _num(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _order_link(ib: Infobase, order: dict[str, Any]) -> dict[str, Any]:
    if ib.config.settlement == "ОбъектРасчетов":
        return {"ОбъектРасчетов_Key": order.get("ОбъектРасчетов_Key", ZERO)}
    return {"ЗаказКлиента": order["Ref_Key"], "ЗаказКлиента_Type": ORDER_TYPE}


def _row_link(ib: Infobase, row: dict[str, Any], header: dict[str, Any] | None = None) -> dict[str, Any]:
    """Settlement dimension of a payment or shipment row (falling back on the header's order)."""
    if ib.config.settlement == "ОбъектРасчетов":
        key = row.get("ОбъектРасчетов_Key", ZERO)
        if key == ZERO and header and header.get("ЗаказКлиента_Type") == ORDER_TYPE:
            order = ib.get("Document_ЗаказКлиента", header.get("ЗаказКлиента", ""))
            key = order.get("ОбъектРасчетов_Key", ZERO) if order else ZERO
        return {"ОбъектРасчетов_Key": key}
    value, vtype = (
        row.get("Заказ", row.get("ЗаказКлиента", "")),
        row.get("Заказ_Type", row.get("ЗаказКлиента_Type")),
    )
    if not value and header:
        value, vtype = header.get("ЗаказКлиента", ""), header.get("ЗаказКлиента_Type")
    return {"ЗаказКлиента": value or "", "ЗаказКлиента_Type": vtype if value else "StandardODATA.Undefined"}


def self_contained(ib: Infobase, entity: str, doc: dict[str, Any]) -> bool:
    """Whether `movements` of this document read nothing but the document (no shipment row falls back on the
    header's order for its settlement object: that reads the order, which may change later)."""
    if ib.config.settlement != "ОбъектРасчетов" or ib.config.roles.get("shipment") != entity:
        return True
    if doc.get("ЗаказКлиента_Type") != ORDER_TYPE:
        return True
    return all(row.get("ОбъектРасчетов_Key", ZERO) != ZERO for row in doc.get("Товары", []))


def movements(ib: Infobase, entity: str, doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Register records a posted document makes (empty for documents without settlement movements)."""
    if SETTLEMENTS not in ib.config.registers:
        return {}
    roles = {v: k for k, v in ib.config.roles.items()}
    role = roles.get(entity, "")
    head = {
        "Организация_Key": doc.get("Организация_Key", ZERO),
        "Контрагент_Key": doc.get("Контрагент_Key", ZERO),
        "Валюта_Key": doc.get("Валюта_Key", ZERO),
    }
    raw: list[tuple[str, dict[str, Any], dict[str, float]]] = []
    if role == "order":
        total = _num(doc.get("СуммаДокумента"))
        raw.append(
            (
                "Receipt",
                {**head, "Партнер_Key": doc.get("Партнер_Key", ZERO), **_order_link(ib, doc)},
                {"КОплате": total, "КОтгрузке": total},
            )
        )
    elif role in ("bank_receipt", "cash_receipt", "bank_refund", "cash_refund"):
        sign = -1.0 if role.endswith("refund") else 1.0
        for row in doc.get("РасшифровкаПлатежа", []):
            amount = sign * _num(row.get("Сумма"))
            raw.append(
                (
                    "Expense",
                    {**head, "Партнер_Key": row.get("Партнер_Key", ZERO), **_row_link(ib, row)},
                    {"Сумма": amount, "КОплате": amount},
                )
            )
    elif role == "shipment":
        for row in doc.get("Товары", []):
            dims = {**head, "Партнер_Key": doc.get("Партнер_Key", ZERO), **_row_link(ib, row, doc)}
            amount = _num(row.get("Сумма"))
            raw.append(("Receipt", dims, {"Сумма": amount}))
            raw.append(("Expense", dims, {"КОтгрузке": amount}))
    register = ib.config.registers[SETTLEMENTS]
    records = []
    for n, (kind, dims, res) in enumerate(raw, start=1):
        rec: dict[str, Any] = {
            "Recorder": doc["Ref_Key"],
            "Recorder_Type": sys.intern(f"StandardODATA.{entity}"),
            "Period": doc["Date"],
            "LineNumber": sys.intern(str(n)),
            "Active": True,
            "RecordType": kind,
        }
        for name, _edm in register.dimensions:
            rec[name] = dims.get(name, "" if name.endswith("_Type") or name == "ЗаказКлиента" else ZERO)
        for name in register.resources:
            rec[name] = round(res.get(name, 0.0), 2)
        records.append(rec)
    return {SETTLEMENTS: records} if records else {}


def _group(
    ib: Infobase, register: str, condition: str | None, dimensions: list[str] | None, keep: Any
) -> tuple[list[str], dict[tuple[Any, ...], list[dict[str, Any]]]]:
    reg = ib.config.registers[register]
    props = {p for p, _ in reg.record_properties()}
    dims = dimensions or [d for d, _ in reg.dimensions]
    dims = [f"{d}_Key" if d not in props and f"{d}_Key" in props else d for d in dims]  # `ОбъектРасчетов` too
    dims = [d for name in dims for d in ([name, f"{name}_Type"] if f"{name}_Type" in props else [name])]
    types = dict(reg.record_properties())
    pred, records = None, None
    if condition:
        pred, node = compile_parsed(condition, properties=props, types=types)
        records = ib.indexes.register_records(register, index_terms(node))  # the totals' dimension index
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for rec in ib.scan_records(register) if records is None else records:
        if rec["Active"] and keep(rec) and (pred is None or pred(rec, None)):
            groups.setdefault(tuple(rec.get(d) for d in dims), []).append(rec)
    return dims, groups


def _signed(rec: dict[str, Any], res: str) -> float:
    return _num(rec[res]) * (1 if rec["RecordType"] == "Receipt" else -1)


def balance(
    ib: Infobase, register: str, period: str | None, condition: str | None, dimensions: list[str] | None
) -> list[dict[str, Any]]:
    """`/Balance(Period=…, Condition=…, Dimensions=…)`: `<Resource>Balance` per dimension combination."""
    resources = ib.config.registers[register].resources
    dims, groups = _group(
        ib, register, condition, dimensions, lambda r: period is None or r["Period"] < period
    )
    out = []
    for key, recs in groups.items():
        row = dict(zip(dims, key, strict=True))
        for res in resources:
            row[f"{res}Balance"] = round(sum(_signed(r, res) for r in recs), 2)
        if any(row[f"{res}Balance"] for res in resources):
            out.append(row)
    return out


def turnovers(
    ib: Infobase,
    register: str,
    start: str | None,
    end: str | None,
    condition: str | None,
    dimensions: list[str] | None,
    with_balance: bool = False,
) -> list[dict[str, Any]]:
    """`/Turnovers(StartPeriod, EndPeriod, …)` and `/BalanceAndTurnovers`: Receipt/Expense/Turnover per resource."""
    resources = ib.config.registers[register].resources

    def inside(r: dict[str, Any]) -> bool:
        return (start is None or r["Period"] >= start) and (end is None or r["Period"] <= end)

    keep = (lambda r: end is None or r["Period"] <= end) if with_balance else inside
    dims, groups = _group(ib, register, condition, dimensions, keep)
    out = []
    for key, recs in groups.items():
        row: dict[str, Any] = dict(zip(dims, key, strict=True))
        moved = [r for r in recs if inside(r)]
        for res in resources:
            receipt = sum(_num(r[res]) for r in moved if r["RecordType"] == "Receipt")
            expense = sum(_num(r[res]) for r in moved if r["RecordType"] == "Expense")
            if with_balance:
                opening = sum(_signed(r, res) for r in recs if start is not None and r["Period"] < start)
                row[f"{res}OpeningBalance"] = round(opening, 2)
            row[f"{res}Receipt"], row[f"{res}Expense"] = round(receipt, 2), round(expense, 2)
            row[f"{res}Turnover"] = round(receipt - expense, 2)
            if with_balance:
                row[f"{res}ClosingBalance"] = round(row[f"{res}OpeningBalance"] + receipt - expense, 2)
        if any(v for k, v in row.items() if k not in dims):
            out.append(row)
    return out


def order_state(ib: Infobase, order: dict[str, Any]) -> dict[str, float]:
    """Ordered / paid / shipped of one order, read from the settlement register like a client would."""
    link = _order_link(ib, order)
    recs: Iterable[dict[str, Any]] = (
        r for r in ib.scan_records(SETTLEMENTS) if all(r.get(k) == v for k, v in link.items()) and r["Active"]
    )
    paid = shipped = 0.0
    for r in recs:
        if r["RecordType"] == "Expense":
            paid += _num(r["КОплате"])
            shipped += _num(r["КОтгрузке"])
    return {"Оплачено": round(paid, 2), "Отгружено": round(shipped, 2)}
