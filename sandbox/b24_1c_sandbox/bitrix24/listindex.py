"""Which CRM objects a list filter can only match, found without reading the others (issue 13 goal 6).

A portal's database answers `crm.deal.list` with `@ID` or `@ORIGIN_ID` (and `crm.item.list` with `@id` or
`@xmlId`) from an index; the emulator's list handlers read and matched every stored object per command, so a
100,000-order backfill's lookups cost N² and took the run from 2,200 to 500 orders a minute. `candidates` narrows
the records to those a top-level AND condition pins by key (`ID`) or by an indexed string field (equality, `=` or
`@`, non-empty values); the handler then applies its whole filter to them, in table order, so the answer is the
scan's. Anything else (OR logic, an empty value, a LIKE, a negation, an unindexed field) returns None: scan.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from b24_1c_sandbox.bitrix24.filtering import text_key
from b24_1c_sandbox.bitrix24.saleindex import conditions, pinned
from b24_1c_sandbox.compact import LiveTable

# String fields kept in an index (by their stored UPPER_CASE names): the external keys the connector looks up by.
INDEXED_TEXT = ("ORIGIN_ID", "XML_ID")


def _file_under(value: Any) -> Iterable[Hashable]:
    """A stored string field's index keys: what the filter compares (case-folded text), one per element."""
    values = value if isinstance(value, list | tuple) else [value]
    keys = (text_key(v) for v in values)
    return [k for k in keys if k is not None]


def pinned_text(filter: Any, name: str) -> set[str] | None:
    """The case-folded values a filter's top-level AND pins a string field to (`name`, `=name`, `@name`: one
    value or a list of scalars, none empty), or None where it does not."""
    for items in conditions(filter, name):
        # An empty value matches empty fields and a nested list is the scan's: neither is pinned.
        if any(item is None or item == "" or isinstance(item, list | tuple | Mapping) for item in items):
            continue
        return {key for key in map(text_key, items) if key is not None}  # an empty IN list: nothing
    return None


def candidates(
    store: Any, filter: Any, types: Mapping[str, str], names: Mapping[str, str]
) -> list[dict[str, Any]] | None:
    """The only records `filter` can match, in table order (live ones as they are, others as copies), or None:
    scan them all.

    `types` are the filter's field types by the names the filter uses; `names` maps the stored names `ID` and
    those of INDEXED_TEXT to the names the filter uses (crm.item.list's camelCase)."""
    if not isinstance(store, LiveTable):
        return None
    keys: list[Any] | None = None
    ids = pinned(filter, names.get("ID", "ID"))
    if ids is not None:
        keys = store.in_order(ids)
    else:
        for stored in INDEXED_TEXT:
            name = names.get(stored, stored)
            wanted = pinned_text(filter, name) if types.get(name) == "string" else None
            if wanted is not None:
                keys = store.where(stored, _file_under, wanted)
                break
    return None if keys is None else [store.peek(key) for key in keys]
