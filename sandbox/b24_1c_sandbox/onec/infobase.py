"""The infobase: entity sets of records as 1C stores them, DataVersion bumps on every write, users and rights.

Every write goes through `_written`, which keeps the two derived stores honest: register movements of posted
documents (`registers.py`) and change registrations for exchange-plan nodes (`exchange.py`).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from b24_1c_sandbox.clock import Clock, SystemClock
from b24_1c_sandbox.compact import Packed, Table, pack_value, unpack
from b24_1c_sandbox.onec import registers
from b24_1c_sandbox.onec.exchange import Registrations
from b24_1c_sandbox.onec.extension import apply as apply_extension
from b24_1c_sandbox.onec.extension import from_environment as extension_from_environment
from b24_1c_sandbox.onec.indexes import Indexes
from b24_1c_sandbox.onec.model import EntityType, Props
from b24_1c_sandbox.onec.profiles import load

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
UNDEFINED = "StandardODATA.Undefined"


_EMPTY: dict[str, Any] = {
    "Edm.Guid": EMPTY_REF,
    "Edm.DateTime": EMPTY_DATE,
    "Edm.Boolean": False,
    "Edm.Double": 0,
    "Edm.Int64": "0",
    "Edm.Int32": 0,
    "Edm.Int16": 0,
}


def empty(edm: str) -> Any:
    """The value 1C shows for an unfilled attribute of this Edm type."""
    return _EMPTY.get(edm, "")


_empty = empty  # the skeleton's name


@dataclass
class Grant:
    """What one infobase user may do: sets readable / writable (None = all) and row-level filters per set."""

    read: set[str] | None = None
    write: set[str] | None = None
    rls: dict[str, str] = field(default_factory=dict)  # entity set -> $filter a visible row must satisfy


def shared(value: Any) -> Any:
    """One object for equal strings: a base repeats the same references (organisation, partner, currency,
    product, warehouse), type tags and line numbers in every document and row; at 100,000 orders the copies
    were about a third of the emulator's memory (issue 13 goal 6)."""
    return sys.intern(value) if type(value) is str else value


# An object's own reference, version, number and date are its alone (or nearly): interning them only grew the
# interpreter's table of interned strings (about 1 KB per order, tracemalloc, 1,000 orders).
_OWN = frozenset(("Ref_Key", "DataVersion", "Number", "Date"))


def _fill(props: Props, source: dict[str, Any], into: dict[str, Any]) -> None:
    for name, edm in props:
        if name.endswith("_Type") and name[:-5] in into:
            value = into[name[:-5]]
            into[name] = shared(source.get(name) or (UNDEFINED if value in ("", None) else "Edm.String"))
        elif name in _OWN:
            into[name] = source.get(name, empty(edm))
        else:
            into[name] = shared(source.get(name, empty(edm)))


class Movements(Table):
    """One register's records by recorder. A document's records are kept as the name of its entity set and made
    again from the document whenever they are read (`registers.movements`, the function that made them when it was
    posted): 29 % of the base was register records (issue 13 goal 6). They are kept as records instead ("frozen")
    when reading them again could give something else: the document was changed while it stayed posted (its
    records stay those of its last posting), or making them read another object (`registers.self_contained`)."""

    __slots__ = ("_ib", "_register")

    def __init__(self, ib: Infobase, register: str, rows: dict[Any, Any] | None = None) -> None:
        self._ib, self._register = ib, register
        super().__init__(rows, compress=False)  # records are kept rarely (frozen): packed, not compressed

    def _made(self, recorder: str, kept: Any) -> Any:
        if type(kept) is not str:
            return self._codec.read(kept)
        doc = self._ib.get(kept, recorder)
        return registers.movements(self._ib, kept, doc).get(self._register, []) if doc is not None else []

    def __getitem__(self, key: Any) -> Any:
        return self._made(key, self._rows[key])

    def get(self, key: Any, default: Any = None) -> Any:
        kept = self._rows.get(key)
        return default if kept is None else self._made(key, kept)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        return (self._made(k, v) for k, v in list(self._rows.items()))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        return ((k, self._made(k, v)) for k, v in list(self._rows.items()))

    def packed(self) -> Iterator[Any]:
        return (pack_value(self._made(k, v)) if type(v) is str else v for k, v in list(self._rows.items()))

    def plain(self) -> dict[Any, Any]:
        return dict(self.items())

    def derived(self, recorder: str, entity: str) -> None:
        """The recorder's records are made from the document when read."""
        self._rows[recorder] = sys.intern(entity)

    def discard(self, recorder: str) -> None:
        """Forget the recorder's records (without making them to return them, as `pop` would)."""
        self._rows.pop(recorder, None)

    def is_derived(self, recorder: str) -> bool:
        return type(self._rows.get(recorder)) is str


class Infobase:
    """In-memory 1C data in insertion order (what 1C returns when a query has no $orderby)."""

    def __init__(
        self,
        profile: str = "ut11.5",
        users: dict[str, str] | None = None,
        timezone: str = "Europe/Moscow",
        clock: Clock | None = None,
        extension: Path | None = None,
    ) -> None:
        self.profile = profile
        self.tz = ZoneInfo(timezone)
        self.clock = clock or SystemClock()
        self.config = load(profile)
        if extension is not None:
            apply_extension(self.config, extension)  # a customized base: custom attributes and sections
        else:
            extension_from_environment(self.config)
        self.types: dict[str, EntityType] = self.config.types
        # Objects and register records are stored packed (compact.py): a read gives a new dict each time.
        self.sets: dict[str, Table] = {name: Table() for name in self.types}
        self.movements: dict[str, Movements] = {r: Movements(self, r) for r in self.config.registers}
        self.users = dict(users or {"Администратор": "sandbox"})
        self.grants: dict[str, Grant] = {}  # a user without a grant has full rights
        self.lock = threading.RLock()
        self._version = 0
        self.published: set[str] | None = None  # None: everything is published
        self.keys: dict[str, str] = {}  # SOAP idempotency key -> order Ref_Key
        self.now: Callable[[], datetime] = self.server_now  # tests may pin it
        self.closed_before: str | None = (
            None  # дата запрета изменения: documents dated before it are read-only
        )
        self.changes = Registrations(self)
        self.indexes = Indexes(self)  # Ref_Key, document date/number, catalog code/description (indexes.py)
        self.this_node = self.insert(
            self.config.exchange_plan,
            {
                "Ref_Key": "1b4d4b8e-0000-11ee-8000-00155d000001",
                "Code": "ЦБ",
                "Description": "Центральная база",
                "Predefined": True,
            },
        )["Ref_Key"]

    def server_now(self) -> datetime:
        """The server's wall clock: naive local time in the server's time zone (not the emulator process's)."""
        return self.clock.now().astimezone(self.tz).replace(tzinfo=None)

    def _next_version(self) -> str:
        self._version += 1
        return base64.b64encode(self._version.to_bytes(4, "big") + b"\x00\x00\x00\x00").decode()

    def normalize(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record with every property of its type, in 1C's key order, empty values where missing."""
        etype = self.types[entity]
        tags = {f"{c}_Type" for c in etype.composites()}
        head = [(n, e) for n, e in etype.properties if n not in tags]
        out: dict[str, Any] = {}
        _fill(head, record, out)
        ref = out["Ref_Key"]
        for tab in etype.tables:
            rows = []
            for n, row in enumerate(record.get(tab.name) or [], start=1):
                r: dict[str, Any] = {"Ref_Key": ref}
                _fill(tab.properties, row, r)
                r["LineNumber"] = shared(str(n))
                rows.append(r)
            out[tab.name] = rows
        _fill([(n, e) for n, e in etype.properties if n in tags], record, out)  # `_Type` tags go last
        return out

    # -- writes (the dataset, the OData front and SOAP all come through here) --------------------------------

    def insert(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write a new object as stored; a document inserted with Posted=true gets its register movements."""
        with self.lock:
            record = dict(record)
            record["Ref_Key"] = str(record.get("Ref_Key") or uuid.uuid4()).lower()
            record["DataVersion"] = self._next_version()
            stored = self.normalize(entity, record)
            previous = self.sets[entity].get(stored["Ref_Key"])
            self.sets[entity][stored["Ref_Key"]] = stored
            self.indexes.written(entity, previous, stored)
            self._written(entity, None, stored)
            return stored

    def update(self, entity: str, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change an object; tabular sections given are replaced whole. DataVersion always changes."""
        with self.lock:
            current = self.sets[entity][ref]
            merged = {**current, **changes, "Ref_Key": ref, "DataVersion": self._next_version()}
            if merged.get("DeletionMark") and current.get("Posted"):
                merged["Posted"] = False  # marking a posted document for deletion un-posts it
            stored = self.normalize(entity, merged)
            self.sets[entity][ref] = stored
            self.indexes.written(entity, current, stored)
            self._written(entity, current, stored)
            return stored

    def delete(self, entity: str, ref: str) -> None:
        """Physical deletion (what OData DELETE does)."""
        with self.lock:
            old = self.sets[entity].pop(ref)
            self.indexes.written(entity, old, None)
            self._written(entity, old, None)

    def repost(self, entity: str, ref: str) -> dict[str, Any]:
        """Set Posted and rebuild the document's movements (the end of a successful /Post)."""
        with self.lock:
            stored = self.update(entity, ref, {"Posted": True})
            self._move(entity, stored)
            return stored

    def drop_movements(self, entity: str, ref: str) -> None:
        """Remove a document's register records (posting in data-load mode makes none)."""
        with self.lock:
            self._move(entity, None, ref)

    def _written(self, entity: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        etype = self.types[entity]
        if etype.postable:
            if new is None or not new.get("Posted"):
                self._move(entity, None, (old or new or {}).get("Ref_Key", ""))
            elif old is None or not old.get("Posted"):
                self._move(entity, new)
            else:  # changed while it stays posted: its records stay those of its last posting
                self._freeze(entity, old)
        if etype.kind != "ExchangePlan":
            self.changes.register(entity, (new or old or {})["Ref_Key"])

    def _freeze(self, entity: str, doc: dict[str, Any]) -> None:
        """Keep a document's derived records as records, made from `doc` (the document as it was posted)."""
        made: dict[str, list[dict[str, Any]]] | None = None
        for name, sets in self.movements.items():
            if sets.is_derived(doc["Ref_Key"]):
                made = registers.movements(self, entity, doc) if made is None else made
                sets[doc["Ref_Key"]] = made.get(name, [])
                self.indexes.moved(name)

    def _move(self, entity: str, doc: dict[str, Any] | None, ref: str = "") -> None:
        recorder = doc["Ref_Key"] if doc else ref
        made = registers.movements(self, entity, doc) if doc else {}
        own = doc is not None and registers.self_contained(self, entity, doc)
        for name, sets in self.movements.items():
            if made.get(name):
                if own:
                    sets.derived(recorder, entity)
                else:
                    sets[recorder] = made[name]
            else:
                sets.discard(recorder)
            self.indexes.moved(name)

    # -- reads ----------------------------------------------------------------------------------------------

    def get(self, entity: str, ref: str) -> dict[str, Any] | None:
        """The object as stored (a new dict: changing it changes nothing; `update` does), or None."""
        table = self.sets.get(entity)
        found: dict[str, Any] | None = None if table is None else table.get(ref)
        return found

    def all(self, entity: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.sets[entity].values())

    def scan(self, entity: str) -> Iterator[dict[str, Any]]:
        """Every object in insertion order, materialised one at a time (a filtered scan keeps only its matches)."""
        with self.lock:
            return self.sets[entity].values()

    def records(self, register: str) -> list[dict[str, Any]]:
        """Every record of a register, recorder by recorder."""
        return list(self.scan_records(register))

    def scan_records(self, register: str) -> Iterator[dict[str, Any]]:
        """`records`, materialised one at a time."""
        return (unpack(r) for r in self.packed_records(register))

    def packed_records(self, register: str) -> list[Packed]:
        """Every record of a register packed (compact.pack), recorder by recorder."""
        with self.lock:
            return [r for recs in self.movements[register].packed() for r in recs]

    def grant(
        self,
        user: str,
        password: str,
        read: set[str] | None = None,
        write: set[str] | None = None,
        rls: dict[str, str] | None = None,
    ) -> None:
        """Add an infobase user with limited rights."""
        self.users[user] = password
        self.grants[user] = Grant(read, write, dict(rls or {}))

    # -- persistence --------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with self.lock:
            data = {
                "profile": self.profile,
                "version": self._version,
                "sets": {name: table.plain() for name, table in self.sets.items()},
                "movements": {name: table.plain() for name, table in self.movements.items()},
                "changes": self.changes.dump(),
                "keys": self.keys,
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)

    def load(self, path: Path) -> bool:
        if not path.exists():
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
        with self.lock:
            self._version = data["version"]
            for name, rows in data["sets"].items():
                if name in self.sets:
                    self.sets[name] = Table(rows)
            for name, recs in data.get("movements", {}).items():
                if name in self.movements:
                    self.movements[name] = Movements(self, name, recs)
            self.changes.restore(data.get("changes", {}))
            self.keys = dict(data.get("keys", {}))
            self.indexes.clear()
        return True
