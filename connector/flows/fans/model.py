"""The pure grouping of deals into fans: the same end-customer ИНН, or the same products and quantities within a
window of days, from at least two dealers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any


@dataclass(frozen=True)
class DealFacts:
    """What grouping needs of one deal."""

    id: str
    created: date
    dealer: str  # "" when the deal names none: it is never part of a fan
    inn: str = ""
    rows: tuple[tuple[str, str], ...] = ()  # (product, quantity), sorted


def inn_of(value: Any) -> str:
    """An ИНН as digits (10 or 12), or "" when the field holds something else."""
    digits = re.sub(r"\D", "", str(value or ""))
    return digits if len(digits) in (10, 12) else ""


def rows_of(rows: Iterable[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """A deal's product rows as a comparable signature: product (id, else name) and quantity, summed and sorted."""
    total: dict[str, Decimal] = {}
    for row in rows:
        product = str(row.get("PRODUCT_ID") or "")
        product = (
            f"id:{product}"
            if product not in ("", "0")
            else f"name:{str(row.get('PRODUCT_NAME') or '').strip().lower()}"
        )
        try:
            qty = Decimal(str(row.get("QUANTITY") or 0))
        except InvalidOperation:
            qty = Decimal(0)
        total[product] = total.get(product, Decimal(0)) + qty
    return tuple(sorted((p, str(q.normalize())) for p, q in total.items() if q))


def fans_of(deals: Iterable[DealFacts], by: str, window_days: int) -> dict[str, dict[str, Any]]:
    """Facts per deal id for every deal compared: `fan`, the other deals of its group (`fan_deals`), the group's
    stable key (`fan_group`: the rule, the signature's first deal id) and size. A group starts at its first deal;
    a later deal with the same ИНН (or rows, then only within `window_days` of that first deal) joins it."""
    ordered = sorted(deals, key=lambda d: (d.created, int(d.id) if d.id.isdigit() else 0, d.id))
    groups: list[list[DealFacts]] = []
    open_groups: dict[Any, list[DealFacts]] = {}
    window = timedelta(days=window_days)
    for deal in ordered:
        signature: Any = deal.inn if by == "inn" else deal.rows
        if not signature or not deal.dealer:
            continue
        group = open_groups.get(signature)
        if group is not None and (by == "inn" or deal.created - group[0].created <= window):
            group.append(deal)
            continue
        group = [deal]
        groups.append(group)
        open_groups[signature] = group
    out: dict[str, dict[str, Any]] = {
        d.id: {"fan": False, "fan_deals": "", "fan_group": None, "fan_size": 0} for d in ordered
    }
    for group in groups:
        if len({d.dealer for d in group}) < 2:
            continue  # one dealer's repeated order is not a fan
        key = f"{by}:{group[0].id}"
        ids = [d.id for d in group]
        for deal in group:
            out[deal.id] = {
                "fan": True,
                "fan_deals": ", ".join(i for i in ids if i != deal.id),
                "fan_group": key,
                "fan_size": len(ids),
            }
    return out
