"""Per-owner indexes of the sale module's tables: payments by owner and by sale order, sale orders by owner.

The sale module keeps them in SQL tables with indexes on ORDER_ID and on the binding's owner; without ours, every
payment add counted the owner's payments over the whole table and every list scanned every payment, so a backfill
of N orders cost N² (issue 13). The indexes live in the table itself (`IndexedTable`, a dict that updates them on
every insert, overwrite and delete, whoever writes), so they cannot drift from the rows. The indexed fields
(`_owner`, `orderId`) are never changed in place by the emulator (`sale.payment.update` keeps `orderId` read-only);
a remove or overwrite that finds a row's keys changed rebuilds the indexes from the rows. Answers are the scan's: a list narrowed by an index still applies the whole filter to the
narrowed rows, in the table's own order, and falls back to the scan where the filter does not pin the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

from b24_1c_sandbox.bitrix24.portal import Portal
from b24_1c_sandbox.compact import LiveTable

Row = dict[str, Any]
KeyOf = Callable[[Row], Hashable]


class IndexedTable(LiveTable):
    """A side table (id → row) that keeps, per named key, the ids of its rows with each key value in table order.

    Nothing is kept per row (a 100,000-order sandbox holds 200,000 payments): a row's keys are read from the row when
    it is stored and again when it is removed or overwritten; if they changed in place meanwhile, the indexes are
    rebuilt from the rows. Table order is id order while every new id is above the ones before (ids come from the
    portal's counters); otherwise it is read from the table itself. The rows are kept packed between calls
    (compact.LiveTable: 200,000 payments as dicts were about 1.5 KB each, issue 13 goal 6)."""

    def __init__(self, keys: Mapping[str, KeyOf], rows: Mapping[int, Row] | None = None) -> None:
        self._key_of = dict(keys)
        # Per key value its one id, or a list of its ids (2 and more): most values (an owner, a sale order) have
        # one row, and a list of one costs ~64 bytes more (issue 13 goal 6).
        self._index: dict[str, dict[Hashable, int | list[int]]] = {name: {} for name in keys}
        self._top: int | None = None  # the highest id stored so far
        self._rising = True  # every id was stored above all the ids before it: table order is id order
        super().__init__()
        for row_id, row in (rows or {}).items():
            self[row_id] = row

    def ids(self, name: str, key: Hashable) -> list[int]:
        """The ids of the rows whose `name` key is `key`, in table order (a copy: the caller may write)."""
        found = self._index[name].get(key)
        return [] if found is None else list(found) if isinstance(found, list) else [found]

    def in_order(self, ids: Iterable[int]) -> list[int]:
        """These ids (present ones only, once each) in table order."""
        present = {i for i in ids if i in self}
        if self._rising:
            return sorted(present)
        position = {row_id: n for n, row_id in enumerate(self)}
        return sorted(present, key=position.__getitem__)

    def _keys(self, row: Row) -> tuple[Hashable, ...]:
        return tuple(key_of(row) for key_of in self._key_of.values())

    def _add(self, row_id: int, keys: tuple[Hashable, ...], last: bool) -> None:
        for name, key in zip(self._key_of, keys, strict=True):
            index = self._index[name]
            found = index.get(key)
            if found is None:
                index[key] = row_id
                continue
            ids = found if isinstance(found, list) else [found]
            if last:
                ids.append(row_id)  # a new row is the last of the table
            else:  # an overwritten row keeps its place among the key's rows
                ids[:] = self.in_order([*ids, row_id])
            index[key] = ids[0] if len(ids) == 1 else ids

    def _drop(self, row_id: int, row: Row) -> bool:
        """Unindex a row already replaced or removed in the table; False when that took a rebuild instead."""
        for name, key in zip(self._key_of, self._keys(row), strict=True):
            index = self._index[name]
            found = index.get(key)
            ids = [] if found is None else found if isinstance(found, list) else [found]
            if row_id not in ids:
                self._rebuild()  # the row's keys were changed in place: index the table's rows afresh
                return False
            ids.remove(row_id)
            if not ids:
                del index[key]
            elif len(ids) == 1:
                index[key] = ids[0]
        return True

    def _rebuild(self) -> None:
        for index in self._index.values():
            index.clear()
        for row_id, row in self.items():
            self._add(row_id, self._keys(row), last=True)

    def __setitem__(self, row_id: int, row: Row) -> None:
        keys = self._keys(row)  # before the write: a key that cannot be read leaves the table unchanged
        if row_id in self:  # an overwrite keeps the row's place in the table, as a dict does
            old = self[row_id]
            super().__setitem__(row_id, row)
            if self._drop(row_id, old):
                self._add(row_id, keys, last=False)
            return
        if self._top is not None and row_id < self._top:
            self._rising = False
        self._top = row_id if self._top is None else max(self._top, row_id)
        super().__setitem__(row_id, row)
        self._add(row_id, keys, last=True)

    def __delitem__(self, row_id: int) -> None:
        row = self[row_id]
        super().__delitem__(row_id)
        self._drop(row_id, row)

    def pop(self, row_id: int, *default: Any) -> Any:
        """Remove and return a row (or the default), unindexing it."""
        if row_id not in self:
            return super().pop(row_id, *default)
        row = self[row_id]
        del self[row_id]
        return row

    def popitem(self) -> tuple[int, Row]:
        """Remove the last row, unindexing it (as a dict does: the last one)."""
        if not self._rows:
            raise KeyError("popitem(): table is empty")
        row_id = next(reversed(self._rows))
        row = self[row_id]
        LiveTable.__delitem__(self, row_id)
        self._drop(row_id, row)
        return row_id, row

    def setdefault(self, row_id: int, default: Row | None = None) -> Row:
        """The row, or `default` stored and indexed."""
        if row_id not in self:
            self[row_id] = default if default is not None else {}
        row: Row = self[row_id]
        return row

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Store every row given, indexing each."""
        for row_id, row in dict(*args, **kwargs).items():
            self[row_id] = row

    def __ior__(self, other: Any) -> IndexedTable:
        self.update(other)
        return self

    def clear(self) -> None:
        """Remove every row and every index entry."""
        super().clear()
        for index in self._index.values():
            index.clear()

    def index_state(self) -> dict[str, dict[Hashable, list[int]]]:
        """The indexes as plain data (for tests comparing them with a fresh build)."""
        return {
            name: {k: list(v) if isinstance(v, list) else [v] for k, v in index.items()}
            for name, index in self._index.items()
        }


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


def conditions(filter: Any, field: str) -> Iterator[list[Any]]:
    """The values of each equality condition a filter's top-level AND puts on a field (`field`, `=field`, `@field`:
    one value or a list), as a list each; nothing under OR logic or for a filter that is not a mapping."""
    if not isinstance(filter, Mapping):
        return
    logic = next((v for k, v in filter.items() if str(k).upper() == "LOGIC"), "AND")
    if not isinstance(logic, str) or logic.upper() != "AND":
        return
    wanted = field.upper()
    for key, value in filter.items():
        name = str(key)
        name = name[1:] if name[:1] in ("=", "@") else name
        if name.upper() != wanted:
            continue
        if isinstance(value, Mapping):
            yield list(value.values())
        else:
            yield list(value) if isinstance(value, list | tuple) else [value]


def pinned(filter: Any, field: str) -> set[int] | None:
    """The values a filter's top-level AND pins an integer field to (`field`, `=field`, `@field`: one value or a
    list), or None where it does not (no such condition, OR logic, empty or non-integer values): then scan."""
    for items in conditions(filter, field):
        numbers = [_integer(v) for v in items]
        if all(n is not None for n in numbers):
            return {n for n in numbers if n is not None}
    return None
