"""Records kept as tuples, materialised as dicts only when read (issue 13 goal 6: the sandbox at most 1 GB at
100,000 orders).

A Python dict of 35 keys costs about 1.2 KB before its values; the same values in a tuple cost 0.3 KB. The
emulators' stores (1C objects and their tabular sections, register records, Bitrix24 product rows) held one dict
per record and per row: about three quarters of their memory. `pack` turns a dict into a `Packed` tuple (its values,
then its `Layout`: the keys in their order, shared by every record with the same keys), lists into `PackedList`s,
recursively; `unpack` gives back an equal dict with the same key order, new containers each time (a caller may
change what it reads without touching the store), the same value objects (shared strings stay shared).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from typing import Any


class Packed(tuple):  # type: ignore[type-arg]
    """A dict packed: its values in key order, then its Layout."""

    __slots__ = ()


class PackedList(tuple):  # type: ignore[type-arg]
    """A list packed: its items, dicts and lists among them packed too."""

    __slots__ = ()


class Layout:
    """The keys of a packed dict in order: `template` has every key with the values left out of the tuple (the
    common empty ones: a zero GUID, an empty date or string, 0, False, None...) and a placeholder for the others;
    `present` the keys whose values the tuple holds, in its order; `nested` those of them that are packed
    containers. Records with the same keys and the same values left out share one layout."""

    __slots__ = ("nested", "position", "present", "template")

    def __init__(
        self, keys: tuple[Any, ...], present: tuple[int, ...], nested: tuple[int, ...], left: dict[int, Any]
    ):
        self.template = {k: left.get(n) for n, k in enumerate(keys)}
        self.present = tuple(keys[n] for n in present)
        self.nested = tuple(keys[n] for n in nested)
        self.position = {keys[n]: at for at, n in enumerate(present)}


# Values a record repeats in most of its fields, left out of its tuple (kept once, in its layout's template). The
# type is part of the match: 0, 0.0 and False are equal in Python but not on the wire.
EMPTY_VALUES: dict[tuple[type, Any], Any] = {
    (type(v), v): v
    for v in (
        None,
        True,
        False,
        "",
        0,
        0.0,
        "0",
        "1",
        "N",
        "Y",
        "00000000-0000-0000-0000-000000000000",
        "0001-01-01T00:00:00",
        "StandardODATA.Undefined",
    )
}
_SCALARS = frozenset((type(None), bool, str, int, float))
# Past this many layouts no value is left out of a new record's tuple (a bound on the templates kept).
MAX_LAYOUTS = 50_000
_LAYOUTS: dict[tuple[Any, ...], Layout] = {}
_LOCK = threading.Lock()


def _layout(
    keys: tuple[Any, ...], present: tuple[int, ...], nested: tuple[int, ...], left: dict[int, Any]
) -> Layout:
    key = (keys, nested, tuple((n, type(v), v) for n, v in left.items()))
    found = _LAYOUTS.get(key)
    if found is None:
        with _LOCK:
            found = _LAYOUTS.setdefault(key, Layout(keys, present, nested, left))
    return found


def pack_value(value: Any) -> Any:
    """A value as stored: dicts and lists packed (recursively), anything else as it is."""
    kind = type(value)
    if kind is dict:
        return pack(value)
    if kind is list:
        return PackedList([pack_value(v) for v in value])
    return value


def pack(record: dict[Any, Any]) -> Packed:
    """One dict as a tuple of its values (but the empty ones) followed by its layout."""
    values: list[Any] = []
    present: list[int] = []
    nested: list[int] = []
    left: dict[int, Any] = {}
    elide = len(_LAYOUTS) < MAX_LAYOUTS
    for n, value in enumerate(record.values()):
        kind = type(value)
        if kind is dict or kind is list:
            value = pack_value(value)
            nested.append(n)
        elif (
            elide
            and kind in _SCALARS
            and (kind, value) in EMPTY_VALUES
            and not (kind is float and str(value)[0] == "-")
        ):
            left[n] = EMPTY_VALUES[(kind, value)]  # one object for the value, whichever record brought it
            continue  # (-0.0 equals 0.0 but is written "-0.0": kept)
        present.append(n)
        values.append(value)
    values.append(_layout(tuple(record), tuple(present), tuple(nested), left))
    return Packed(values)


def unpack_value(value: Any) -> Any:
    """The value as it was given to `pack_value`, in new containers."""
    kind = type(value)
    if kind is Packed:
        return unpack(value)
    if kind is PackedList:
        return [unpack_value(v) for v in value]
    return value


def unpack(packed: Packed) -> dict[Any, Any]:
    """The dict `pack` was given (equal, same key order; new containers)."""
    layout: Layout = packed[-1]
    out = layout.template.copy()
    out.update(zip(layout.present, packed, strict=False))  # the layout itself, last, is left out
    for name in layout.nested:
        out[name] = unpack_value(out[name])
    return out


def field(packed: Any, name: str, default: Any = None) -> Any:
    """One value of a packed dict (unpacked), without materialising the rest (of a plain mapping: its value)."""
    if type(packed) is not Packed:
        return packed.get(name, default)
    layout: Layout = packed[-1]
    at = layout.position.get(name)
    if at is None:
        return layout.template.get(name, default)
    return unpack_value(packed[at])


class Table(MutableMapping[Any, Any]):
    """A mapping whose values are stored packed: reading gives a new dict (or list) each time, so a change to what
    was read is a change to a copy: a store changes only by assignment, as the emulators' write paths do."""

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[Any, Any] | None = None) -> None:
        self._rows: dict[Any, Any] = {}
        for key, value in (rows or {}).items():
            self[key] = value

    def __getitem__(self, key: Any) -> Any:
        return unpack_value(self._rows[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._rows[key] = pack_value(value)

    def __delitem__(self, key: Any) -> None:
        del self._rows[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def get(self, key: Any, default: Any = None) -> Any:
        found = self._rows.get(key)
        return default if found is None else unpack_value(found)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        """Every value, materialised one at a time (a scan keeps only what it keeps)."""
        return (unpack_value(v) for v in list(self._rows.values()))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        return ((k, unpack_value(v)) for k, v in list(self._rows.items()))

    def packed(self) -> list[Any]:
        """The stored values as they are (for indexes that read a field or two)."""
        return list(self._rows.values())

    def plain(self) -> dict[Any, Any]:
        """A plain dict of plain values (to save as JSON)."""
        return {k: unpack_value(v) for k, v in self._rows.items()}

    def __repr__(self) -> str:
        return f"Table({len(self._rows)} records)"


class LiveTable(Table):
    """A Table whose records, once read by key (or assigned), stay the same objects until `settle()`: code that
    changes a stored record in place (the portal's write paths do) changes the store, as with plain dicts.
    `settle` packs them back; the portal calls it after every call, so only the records one call touched are
    ever unpacked at a time. Iterating (`values`, `items`) gives the records not read by key as copies."""

    __slots__ = ("_live",)

    def __init__(self, rows: dict[Any, Any] | None = None) -> None:
        self._live: dict[Any, Any] = {}
        super().__init__(rows)

    def __getitem__(self, key: Any) -> Any:
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = unpack_value(self._rows[key])
        return live

    def get(self, key: Any, default: Any = None) -> Any:
        live = self._live.get(key)
        if live is not None:
            return live
        found = self._rows.get(key)
        if found is None:
            return default
        live = self._live[key] = unpack_value(found)
        return live

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self._rows:
            self._rows[key] = None  # its place in the order; the value is packed by `settle`
        self._live[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._rows[key]
        self._live.pop(key, None)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        live = self._live
        return (live[k] if k in live else unpack_value(v) for k, v in list(self._rows.items()))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        live = self._live
        return ((k, live[k] if k in live else unpack_value(v)) for k, v in list(self._rows.items()))

    def packed(self) -> list[Any]:
        self.settle()
        return super().packed()

    def plain(self) -> dict[Any, Any]:
        return dict(self.items())

    def settle(self) -> None:
        """Pack back every record read by key or assigned since the last time."""
        if self._live:
            rows = self._rows
            for key, value in self._live.items():
                if key in rows:
                    rows[key] = pack_value(value)
            self._live.clear()
