"""The infobase: entity sets of records as 1C stores them, DataVersion bumps on every write, users."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from pathlib import Path
from typing import Any

from connector.sandbox.onec.model import EntityType, model

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"


def _empty(edm: str) -> Any:
    return {"Edm.Guid": EMPTY_REF, "Edm.DateTime": EMPTY_DATE, "Edm.Boolean": False, "Edm.Double": 0,
            "Edm.Int64": "0", "Edm.Int32": 0, "Edm.Int16": 0}.get(edm, "")


class Infobase:
    """In-memory 1C data in insertion order (what 1C returns when a query has no $orderby)."""

    def __init__(self, profile: str = "ut11.5", users: dict[str, str] | None = None) -> None:
        self.profile = profile
        self.types: dict[str, EntityType] = model(profile)
        self.sets: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.types}
        self.users = dict(users or {"Администратор": "sandbox"})
        self.lock = threading.RLock()
        self._version = 0
        self.published: set[str] | None = None  # None: everything is published

    def _next_version(self) -> str:
        self._version += 1
        return base64.b64encode(self._version.to_bytes(4, "big") + b"\x00\x00\x00\x00").decode()

    def normalize(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """A record with every property of its type, in 1C's key order, empty values where missing."""
        etype = self.types[entity]
        out: dict[str, Any] = {}
        for name, edm in etype.properties:
            if name.endswith("_Type"):
                continue
            out[name] = record.get(name, _empty(edm))
        ref = out["Ref_Key"]
        for table in etype.tables:
            rows = []
            for n, row in enumerate(record.get(table.name) or [], start=1):
                r = {"Ref_Key": ref, "LineNumber": str(n)}
                for pname, edm in table.properties:
                    if pname != "LineNumber":
                        r[pname] = row.get(pname, _empty(edm))
                rows.append(r)
            out[table.name] = rows
        for name, _edm in etype.properties:  # composite type tags come after the tabular sections
            if name.endswith("_Type"):
                base = name[: -len("_Type")]
                out[name] = record.get(name) or ("StandardODATA.Undefined" if out.get(base) in ("", None)
                                                 else "Edm.String")
        return out

    def insert(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        """Write a new object (as a 1C user or the dataset generator would)."""
        with self.lock:
            record = dict(record)
            record.setdefault("Ref_Key", str(uuid.uuid4()))
            record["DataVersion"] = self._next_version()
            stored = self.normalize(entity, record)
            self.sets[entity][stored["Ref_Key"]] = stored
            return stored

    def update(self, entity: str, ref: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change an object; tabular sections given are replaced whole. DataVersion always changes."""
        with self.lock:
            current = self.sets[entity][ref]
            merged = {**current, **changes, "Ref_Key": ref, "DataVersion": self._next_version()}
            stored = self.normalize(entity, merged)
            self.sets[entity][ref] = stored
            return stored

    def delete(self, entity: str, ref: str) -> None:
        with self.lock:
            del self.sets[entity][ref]

    def get(self, entity: str, ref: str) -> dict[str, Any] | None:
        return self.sets.get(entity, {}).get(ref)

    def all(self, entity: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.sets[entity].values())

    # -- persistence --------------------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with self.lock:
            data = {"profile": self.profile, "version": self._version, "sets": self.sets}
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
                    self.sets[name] = rows
        return True
