"""Records kept as compressed bytes, materialised as dicts only when read (issue 13 goal 6: the sandbox at most 1 GB
at 100,000 orders).

A Python dict of 35 keys costs about 1.2 KB before its values; the same values in a tuple 0.3 KB; the tuple
written with `marshal` and compressed with zlib against a dictionary made of the table's own first records, about
0.3 KB for a whole 1C order with its rows (one allocation instead of dozens). `pack` turns a dict into a tuple of
its values followed by the index of its `Layout` (the keys in their order, shared by every record with the same
keys; the common empty values left out), lists into lists, recursively: plain tuples, lists and scalars that
`marshal` writes and reads back exactly (0, 0.0, -0.0 and False stay apart). `unpack` gives back an equal dict with
the same key order, in new containers each time (a caller may change what it reads without touching the store).

`Table` stores each record as one `bytes` (once it has seen enough records to make its zlib dictionary: before
that, and for a value `marshal` cannot write, the packed tuple itself); `Table(compress=False)` keeps the packed
tuples (cheaper to read: the Bitrix24 list handlers read every CRM object per call).
"""

from __future__ import annotations

import contextlib
import marshal
import threading
import zlib
from collections.abc import Callable, Hashable, Iterable, Iterator, MutableMapping
from typing import Any

# A packed dict: its values (but the empty ones) then its layout's index; a packed tuple ends with TUPLE instead.
Packed = tuple[Any, ...]
TUPLE = -1


class Layout:
    """The keys of a packed dict in order: `template` has every key with the values left out of the tuple (the
    common empty ones: a zero GUID, an empty date or string, 0, False, None...) and a placeholder for the others;
    `present` the keys whose values the tuple holds, in its order; `nested` those of them that are packed
    containers. Records with the same keys and the same values left out share one layout, known by its `index`."""

    __slots__ = ("index", "nested", "position", "present", "template")

    def __init__(
        self,
        index: int,
        keys: tuple[Any, ...],
        present: tuple[int, ...],
        nested: tuple[int, ...],
        left: dict[int, Any],
    ):
        self.index = index
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
_BY_INDEX: list[Layout] = []  # every layout by its index (a packed tuple names its layout by index)
_LOCK = threading.Lock()


def _layout(
    keys: tuple[Any, ...], present: tuple[int, ...], nested: tuple[int, ...], left: dict[int, Any]
) -> int:
    key = (keys, nested, tuple((n, type(v), v) for n, v in left.items()))
    found = _LAYOUTS.get(key)
    if found is None:
        with _LOCK:
            found = _LAYOUTS.get(key)
            if found is None:
                found = _LAYOUTS[key] = Layout(len(_BY_INDEX), keys, present, nested, left)
                _BY_INDEX.append(found)
    return found.index


def layout_of(packed: Packed) -> Layout:
    """The layout of a packed dict."""
    return _BY_INDEX[packed[-1]]


def pack_value(value: Any) -> Any:
    """A value as stored: dicts, lists and tuples packed (recursively), anything else as it is."""
    kind = type(value)
    if kind is dict:
        return pack(value)
    if kind is list:
        return [pack_value(v) for v in value]
    if kind is tuple:
        return (*[pack_value(v) for v in value], TUPLE)
    return value


def pack(record: dict[Any, Any]) -> Packed:
    """One dict as a tuple of its values (but the empty ones) followed by its layout's index."""
    values: list[Any] = []
    present: list[int] = []
    nested: list[int] = []
    left: dict[int, Any] = {}
    elide = len(_BY_INDEX) < MAX_LAYOUTS
    for n, value in enumerate(record.values()):
        kind = type(value)
        if kind is dict or kind is list or kind is tuple:
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
    return tuple(values)


def unpack_value(value: Any) -> Any:
    """The value as it was given to `pack_value`, in new containers."""
    kind = type(value)
    if kind is tuple:
        return unpack(value)
    if kind is list:
        return [unpack_value(v) for v in value]
    return value


def unpack(packed: Packed) -> Any:
    """The dict `pack` was given (equal, same key order; new containers); a packed tuple gives the tuple."""
    at = packed[-1]
    if at == TUPLE:
        return tuple([unpack_value(v) for v in packed[:-1]])
    layout = _BY_INDEX[at]
    out = layout.template.copy()
    out.update(zip(layout.present, packed, strict=False))  # the layout's index, last, is left out
    for name in layout.nested:
        out[name] = unpack_value(out[name])
    return out


def field(packed: Any, name: str, default: Any = None) -> Any:
    """One value of a packed dict (unpacked), without materialising the rest (of a plain mapping: its value)."""
    if type(packed) is not tuple:
        return packed.get(name, default)
    layout = _BY_INDEX[packed[-1]]
    at = layout.position.get(name)
    if at is None:
        return layout.template.get(name, default)
    return unpack_value(packed[at])


# zlib settings of the stored bytes: raw deflate (no header or checksum: 6 bytes less a record), a 32 KB window.
_WBITS = -15
_LEVEL = 6
# Marshalled bytes a table sees before it makes its dictionary from them (the last 32 KB: the window).
SAMPLE_BYTES = 64 * 1024
_WINDOW = 32 * 1024


class Codec:
    """How one table stores its values: packed (`pack_value`), then, once the table has seen SAMPLE_BYTES of
    them, written with `marshal` and compressed with a zlib preset dictionary made from those first records (the
    keys, references and words its records repeat). A value marshal cannot write (an object of another type) stays
    packed. Stored values are `bytes` (compressed) or packed values: a stored value is never bytes otherwise."""

    __slots__ = ("_compressor", "_seen", "compress", "zdict")

    def __init__(self, compress: bool = True) -> None:
        self.compress = compress
        self.zdict: bytes | None = None
        self._compressor: Any = None
        self._seen = 0

    @property
    def learning(self) -> bool:
        """Still gathering the records its dictionary is made of."""
        return self.compress and self.zdict is None

    def store(self, value: Any) -> Any:
        """The value as stored."""
        return self.stored(pack_value(value))

    def stored(self, packed: Any) -> Any:
        """A packed value as stored."""
        compressor = self._compressor
        if compressor is None:
            if self.compress:
                with contextlib.suppress(ValueError):  # what marshal cannot write stays packed
                    self._seen += len(marshal.dumps(packed))
            return packed
        try:
            data = marshal.dumps(packed)
        except ValueError:  # an object marshal does not write (not from JSON): kept packed
            return packed
        c = compressor.copy()
        return c.compress(data) + c.flush()

    def ready(self) -> bool:
        """Enough records seen to make the dictionary."""
        return self.learning and self._seen >= SAMPLE_BYTES

    def learn(self, samples: list[Any]) -> None:
        """Make the dictionary from these packed values (the table's first records, in order)."""
        parts: list[bytes] = []
        for packed in samples:
            try:
                parts.append(marshal.dumps(packed))
            except ValueError:
                continue
        zdict = b"".join(parts)[-_WINDOW:]
        self._compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, 8, zlib.Z_DEFAULT_STRATEGY, zdict)
        self.zdict = zdict

    def load(self, stored: Any) -> Any:
        """A stored value packed (`unpack_value` makes it plain)."""
        if type(stored) is not bytes:
            return stored
        assert self.zdict is not None
        return marshal.loads(zlib.decompressobj(_WBITS, self.zdict).decompress(stored))

    def read(self, stored: Any) -> Any:
        """A stored value as it was given: a new dict (list...) each time."""
        if type(stored) is not bytes:
            return unpack_value(stored)
        assert self.zdict is not None
        return unpack_value(marshal.loads(zlib.decompressobj(_WBITS, self.zdict).decompress(stored)))


class Table(MutableMapping[Any, Any]):
    """A mapping whose values are stored packed and compressed (`Codec`): reading gives a new dict (or list) each
    time, so a change to what was read is a change to a copy: a store changes only by assignment, as the emulators'
    write paths do."""

    __slots__ = ("_codec", "_rows")

    def __init__(self, rows: dict[Any, Any] | None = None, *, compress: bool = True) -> None:
        self._rows: dict[Any, Any] = {}
        self._codec = Codec(compress)
        for key, value in (rows or {}).items():
            self[key] = value

    def _put(self, key: Any, value: Any) -> None:
        codec = self._codec
        self._rows[key] = codec.store(value)
        if codec.learning and codec.ready():
            self._learn()

    def _learn(self) -> None:
        """Make the codec's dictionary from the records stored so far, then store them compressed."""
        codec, rows = self._codec, self._rows
        codec.learn([v for v in rows.values() if v is not None and type(v) is not bytes])
        for key, value in list(rows.items()):
            if value is not None and type(value) is not bytes:
                rows[key] = codec.stored(value)

    def __getitem__(self, key: Any) -> Any:
        return self._codec.read(self._rows[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._put(key, value)

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
        return default if found is None else self._codec.read(found)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        """Every value, materialised one at a time (a scan keeps only what it keeps)."""
        read = self._codec.read
        return (read(v) for v in list(self._rows.values()))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        read = self._codec.read
        return ((k, read(v)) for k, v in list(self._rows.items()))

    def packed(self) -> Iterator[Any]:
        """The stored values packed, one at a time, in the table's order (for indexes that read a field or two:
        `field`)."""
        load = self._codec.load
        return (load(v) for v in list(self._rows.values()))

    def plain(self) -> dict[Any, Any]:
        """A plain dict of plain values (to save as JSON)."""
        read = self._codec.read
        return {k: read(v) for k, v in self._rows.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._rows)} records)"


# What a field index files a record under: the keys of its field's value (none, one, or one per element of a list).
KeyOf = Callable[[Any], Iterable[Hashable]]


class FieldIndex:
    """The keys of a table's records by the value of one field, as the records are stored (packed): a value maps
    to one record key, or to a set of them. `LiveTable` keeps it equal to what its stored rows hold: built from them
    when first asked for, then changed at every `settle` and delete by the stored value it replaces."""

    __slots__ = ("by_value", "key_of", "name")

    def __init__(self, name: str, key_of: KeyOf) -> None:
        self.name = name
        self.key_of = key_of
        self.by_value: dict[Hashable, Any] = {}

    def keys_of(self, record: Any) -> set[Hashable]:
        """What a record (plain or packed) is filed under."""
        return set(self.key_of(field(record, self.name)))

    def add(self, row: Any, values: Iterable[Hashable]) -> None:
        by_value = self.by_value
        for value in values:
            found = by_value.get(value, by_value)
            if found is by_value:
                by_value[value] = row
            elif type(found) is set:
                found.add(row)
            elif found != row:
                by_value[value] = {found, row}

    def remove(self, row: Any, values: Iterable[Hashable]) -> None:
        by_value = self.by_value
        for value in values:
            found = by_value.get(value, by_value)
            if type(found) is set:
                found.discard(row)
                if len(found) == 1:
                    by_value[value] = next(iter(found))
            elif found is not by_value and found == row:
                del by_value[value]

    def rows(self, value: Hashable) -> set[Any]:
        found = self.by_value.get(value, self.by_value)
        if found is self.by_value:
            return set()
        return set(found) if type(found) is set else {found}


class LiveTable(Table):
    """A Table whose records, once read by key (or assigned), stay the same objects until `settle()`: code that
    changes a stored record in place (the portal's write paths do) changes the store, as with plain dicts.
    `settle` packs them back; the portal calls it after every call, so only the records one call touched are
    ever unpacked at a time. Iterating (`values`, `items`) gives the records not read by key as copies.

    `where` finds records by a field's value through a `FieldIndex` (what a database's index on that column does
    for the list handlers), kept by `settle` and deletes; a record read or written since the last `settle` may
    have changed in place, so `where` names it too and the caller's filter decides."""

    __slots__ = ("_indexes", "_live")

    def __init__(self, rows: dict[Any, Any] | None = None, *, compress: bool = True) -> None:
        self._live: dict[Any, Any] = {}
        self._indexes: dict[str, FieldIndex] = {}
        super().__init__(rows, compress=compress)

    def __getitem__(self, key: Any) -> Any:
        live = self._live.get(key)
        if live is None:
            live = self._live[key] = self._codec.read(self._rows[key])
        return live

    def get(self, key: Any, default: Any = None) -> Any:
        live = self._live.get(key)
        if live is not None:
            return live
        found = self._rows.get(key)
        if found is None:
            return default
        live = self._live[key] = self._codec.read(found)
        return live

    def peek(self, key: Any) -> Any:
        """A record as `values()` gives it: the live one if read by key since the last settle, else a copy (the
        record does not become live)."""
        live = self._live.get(key)
        return live if live is not None else self._codec.read(self._rows[key])

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self._rows:
            self._rows[key] = None  # its place in the order; the value is packed by `settle`
        self._live[key] = value

    def __delitem__(self, key: Any) -> None:
        stored = self._rows[key]
        if stored is not None and self._indexes:
            packed = self._codec.load(stored)
            for index in self._indexes.values():
                index.remove(key, index.keys_of(packed))
        del self._rows[key]
        self._live.pop(key, None)

    def clear(self) -> None:
        """Remove every record (and every index entry)."""
        self._rows.clear()
        self._live.clear()
        self._indexes.clear()

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        live, read = self._live, self._codec.read
        return (live[k] if k in live else read(v) for k, v in list(self._rows.items()))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        live, read = self._live, self._codec.read
        return ((k, live[k] if k in live else read(v)) for k, v in list(self._rows.items()))

    def packed(self) -> Iterator[Any]:
        self.settle()
        return super().packed()

    def plain(self) -> dict[Any, Any]:
        return dict(self.items())

    def where(self, name: str, key_of: KeyOf, wanted: Iterable[Hashable]) -> list[Any]:
        """The keys, in table order, of the records whose `name` field is filed (by `key_of`) under one of
        `wanted`, and of every record read or written since the last `settle` (it may have changed in place: the
        caller applies its whole filter to what it reads). The index on `name` is built on first use, with the
        `key_of` given then."""
        index = self._indexes.get(name)
        if index is None:
            index = FieldIndex(name, key_of)
            load = self._codec.load
            for key, stored in self._rows.items():
                if stored is not None:
                    index.add(key, index.keys_of(load(stored)))
            self._indexes[name] = index
        found: set[Any] = set()
        for value in wanted:
            found |= index.rows(value)
        found.update(k for k in self._live if k in self._rows)
        return self.in_order(found)

    def in_order(self, keys: Iterable[Any]) -> list[Any]:
        """These keys (the present ones, once each) in table order."""
        present = {k for k in keys if k in self._rows}
        if len(present) <= 1:
            return list(present)
        return [k for k in self._rows if k in present]

    def settle(self) -> None:
        """Pack back every record read by key or assigned since the last time (and refile it in the indexes)."""
        if self._live:
            rows, codec, indexes = self._rows, self._codec, self._indexes.values()
            for key, value in self._live.items():
                if key in rows:
                    if indexes:
                        stored = rows[key]
                        old = None if stored is None else codec.load(stored)
                        for index in indexes:
                            before = set() if old is None else index.keys_of(old)
                            after = index.keys_of(value)
                            if before != after:
                                index.remove(key, before - after)
                                index.add(key, after - before)
                    rows[key] = codec.store(value)
            self._live.clear()
            if codec.learning and codec.ready():
                self._learn()
