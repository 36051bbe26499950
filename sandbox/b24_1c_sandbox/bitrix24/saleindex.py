"""Per-owner indexes of the sale module's tables: payments by owner and by sale order, sale orders by owner.

The sale module keeps them in SQL tables with indexes on ORDER_ID and on the binding's owner; without ours, every
payment add counted the owner's payments over the whole table and every list scanned every payment, so a backfill
of N orders cost N² (issue 13). The indexes live in the table itself (`IndexedTable`, a dict that updates them on
every insert, overwrite and delete, whoever writes), so they cannot drift from the rows. A row's keys are read when
it is stored: the indexed fields (`_owner`, `orderId`) are never changed in place (`sale.payment.update` keeps
`orderId` read-only). Answers are the scan's: a list narrowed by an index still applies the whole filter to the
narrowed rows, in the table's own order, and falls back to the scan where the filter does not pin the key.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from b24_1c_sandbox.bitrix24.portal import Portal

Row = dict[str, Any]
KeyOf = Callable[[Row], Hashable]


class IndexedTable(dict[int, Row]):
    """A side table (id → row) that keeps, per named key, the ids of its rows with each key value in table order."""

    def __init__(self, keys: Mapping[str, KeyOf], rows: Mapping[int, Row] | None = None) -> None:
        super().__init__()
        self._key_of = dict(keys)
        self._index: dict[str, dict[Hashable, list[int]]] = {name: {} for name in keys}
        self._held: dict[int, tuple[int, tuple[Hashable, ...]]] = {}  # id → (position, its key values)
        self._next = 0
        for row_id, row in (rows or {}).items():
            self[row_id] = row

    def ids(self, name: str, key: Hashable) -> list[int]:
        """The ids of the rows whose `name` key is `key`, in table order (a copy: the caller may write)."""
        return list(self._index[name].get(key, ()))

    def in_order(self, ids: Iterable[int]) -> list[int]:
        """These ids (present ones only, once each) in table order."""
        held = self._held
        return sorted({i for i in ids if i in held}, key=lambda i: held[i][0])

    def _keys(self, row: Row) -> tuple[Hashable, ...]:
        return tuple(key_of(row) for key_of in self._key_of.values())

    def _add(self, row_id: int, keys: tuple[Hashable, ...]) -> None:
        position = self._held[row_id][0]
        for name, key in zip(self._key_of, keys, strict=True):
            ids = self._index[name].setdefault(key, [])
            if not ids or self._held[ids[-1]][0] < position:
                ids.append(row_id)  # the usual case: a new row is the last of the table
            else:
                bisect.insort(ids, row_id, key=lambda i: self._held[i][0])

    def _drop(self, row_id: int) -> None:
        _, keys = self._held[row_id]
        for name, key in zip(self._key_of, keys, strict=True):
            ids = self._index[name][key]
            ids.remove(row_id)
            if not ids:
                del self._index[name][key]

    def __setitem__(self, row_id: int, row: Row) -> None:
        keys = self._keys(row)  # before the write: a key that cannot be read leaves the table unchanged
        if row_id in self._held:  # an overwrite keeps the row's place in the table, as a dict does
            self._drop(row_id)
            self._held[row_id] = (self._held[row_id][0], keys)
        else:
            self._next += 1
            self._held[row_id] = (self._next, keys)
        super().__setitem__(row_id, row)
        self._add(row_id, keys)

    def __delitem__(self, row_id: int) -> None:
        super().__delitem__(row_id)
        self._drop(row_id)
        del self._held[row_id]

    def pop(self, row_id: int, *default: Any) -> Any:
        """Remove and return a row (or the default), unindexing it."""
        if row_id not in self:
            return super().pop(row_id, *default)
        row = self[row_id]
        del self[row_id]
        return row

    def popitem(self) -> tuple[int, Row]:
        """Remove the last row, unindexing it."""
        row_id, row = super().popitem()
        self._drop(row_id)
        del self._held[row_id]
        return row_id, row

    def setdefault(self, row_id: int, default: Row | None = None) -> Row:
        """The row, or `default` stored and indexed."""
        if row_id not in self:
            self[row_id] = default if default is not None else {}
        return self[row_id]

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Store every row given, indexing each."""
        for row_id, row in dict(*args, **kwargs).items():
            self[row_id] = row

    def __ior__(self, other: Any) -> IndexedTable:  # type: ignore[override,misc]
        self.update(other)
        return self

    def clear(self) -> None:
        """Remove every row and every index entry."""
        super().clear()
        self._held.clear()
        for index in self._index.values():
            index.clear()

    def index_state(self) -> dict[str, dict[Hashable, list[int]]]:
        """The indexes as plain data (for tests comparing them with a fresh build)."""
        return {name: {k: list(v) for k, v in index.items()} for name, index in self._index.items()}


def _owner(row: Row) -> Hashable:
    owner = row.get("_owner")
    return tuple(owner) if isinstance(owner, list | tuple) else owner


def _owner_id(row: Row) -> Hashable:
    owner = row.get("_owner")
    return owner[1] if isinstance(owner, list | tuple) and len(owner) > 1 else None


PAYMENT_KEYS: dict[str, KeyOf] = {"owner": _owner, "orderId": lambda row: row.get("orderId")}
SALE_ORDER_KEYS: dict[str, KeyOf] = {"owner": _owner, "ownerId": _owner_id}


def _indexed(portal: Portal, name: str, keys: Mapping[str, KeyOf]) -> IndexedTable:
    table = portal.table(name)
    if isinstance(table, IndexedTable):
        return table
    indexed = portal.tables[name] = IndexedTable(keys, table)  # once per table (a restored snapshot: again)
    return indexed


def payments(portal: Portal) -> IndexedTable:
    """The `payment` table, indexed by owner ([entityTypeId, id]) and by `orderId`."""
    return _indexed(portal, "payment", PAYMENT_KEYS)


def sale_orders(portal: Portal) -> IndexedTable:
    """The `sale_order` table, indexed by owner ([entityTypeId, id]) and by the owner's id."""
    return _indexed(portal, "sale_order", SALE_ORDER_KEYS)


_DIGITS = re.compile(r"[0-9]+\Z")


def _integer(value: Any) -> int | None:
    """An integer filter value read exactly as the filter reads it (PHP intval), or None where that is not plain."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    return None


def pinned(filter: Any, field: str) -> set[int] | None:
    """The values a filter's top-level AND pins an integer field to (`field`, `=field`, `@field`: one value or a
    list), or None where it does not (no such condition, OR logic, empty or non-integer values): then scan."""
    if not isinstance(filter, Mapping):
        return None
    logic = next((v for k, v in filter.items() if str(k).upper() == "LOGIC"), "AND")
    if not isinstance(logic, str) or logic.upper() != "AND":
        return None
    wanted = field.upper()
    for key, value in filter.items():
        name = str(key)
        name = name[1:] if name[:1] in ("=", "@") else name
        if name.upper() != wanted:
            continue
        many = str(key)[:1] == "@" or isinstance(value, list | tuple | Mapping)
        items = list(value.values()) if isinstance(value, Mapping) else value if many else [value]
        if not isinstance(items, list | tuple):
            items = [items]
        numbers = [_integer(v) for v in items]
        if all(n is not None for n in numbers):
            return {n for n in numbers if n is not None}
    return None
