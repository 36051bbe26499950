"""$metadata, fetched once and cached: which entity sets and properties this 1C base really has.

Field names differ between УТ 11.4, УТ 11.5 and БП 3.0 (`СтавкаНДС` vs `СтавкаНДС_Key`, `Заказ` vs
`ОбъектРасчетов_Key`, `ЮрФизЛицо` vs `ЮридическоеФизическоеЛицо`); mappings list candidates and the first one the
base has wins.
"""

from __future__ import annotations

import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from connector.errors import ConfigError, TransientError

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


@dataclass
class EntityInfo:
    """One entity type: its properties (name → Edm type), tabular sections and navigation properties."""

    name: str
    properties: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    navigation: set[str] = field(default_factory=set)


_CHUNK = 1 << 20
_ENTITY, _COMPLEX, _PROPERTY, _NAVIGATION = (
    f"{_EDM}{tag}" for tag in ("EntityType", "ComplexType", "Property", "NavigationProperty")
)
_DONE = frozenset(
    f"{_EDM}{tag}"
    for tag in ("EnumType", "Association", "EntitySet", "AssociationSet", "FunctionImport", "Using")
)


def _entity(et: ET.Element, row_types: dict[str, str]) -> EntityInfo:
    info = EntityInfo(et.get("Name", ""))
    for child in et:
        if child.tag == _PROPERTY:
            name, edm = child.get("Name", ""), sys.intern(child.get("Type", ""))
            if edm.startswith("Collection("):
                row_types[f"{info.name}\0{name}"] = edm[len("Collection(") : -1].split(".", 1)[-1]
                info.tables[name] = {}
            else:
                info.properties[name] = edm
        elif child.tag == _NAVIGATION:
            info.navigation.add(child.get("Name", ""))
    return info


def parse_edmx(xml: bytes | str) -> dict[str, EntityInfo]:
    """Entity types of an EDMX document, tabular sections resolved from their row complex types.

    Streams: a whole УТ 11.5 publishes ~15 MB of $metadata, so every element is dropped as soon as it is read
    and only entity types and the row types of their tabular sections are kept (benchmarks/bench_onec_metadata.py).
    """
    data = xml.encode() if isinstance(xml, str) else xml
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("end",))
    entities: dict[str, EntityInfo] = {}
    row_types: dict[str, str] = {}  # "<entity>\0<table>" -> row complex type name
    complex_types: dict[str, dict[str, str]] = {}
    try:
        for at in range(0, max(len(data), 1), _CHUNK):
            parser.feed(data[at : at + _CHUNK])
            for _event, elem in cast("Iterator[tuple[str, ET.Element]]", parser.read_events()):
                tag = elem.tag
                if tag == _ENTITY:
                    info = _entity(elem, row_types)
                    entities[info.name] = info
                elif tag == _COMPLEX:
                    name = elem.get("Name", "")
                    if name.endswith("_RowType"):
                        complex_types[name] = {
                            p.get("Name", ""): sys.intern(p.get("Type", ""))
                            for p in elem
                            if p.tag == _PROPERTY
                        }
                elif tag not in _DONE:
                    continue
                elem.clear()  # an empty shell stays in its parent; its children and attributes are freed
        parser.close()
    except ET.ParseError as exc:
        raise TransientError(
            f"1C $metadata is not valid XML ({exc}); is the publication answering with HTML?"
        ) from None
    for key, row_type in row_types.items():
        entity, table = key.split("\0", 1)
        entities[entity].tables[table] = complex_types.get(row_type, {})
    return entities


class MetadataCache:
    """Loads $metadata on first use (one request per process) and answers name questions from it."""

    def __init__(self, fetch: object) -> None:
        self._fetch = fetch
        self._entities: dict[str, EntityInfo] | None = None
        self._lock = threading.Lock()

    @property
    def entities(self) -> dict[str, EntityInfo]:
        with self._lock:
            if self._entities is None:
                assert callable(self._fetch)
                self._entities = parse_edmx(self._fetch())
            return self._entities

    def entity(self, name: str) -> EntityInfo:
        found = self.entities.get(name)
        if found is None:
            close = sorted(n for n in self.entities if n.split("_", 1)[-1][:6] == name.split("_", 1)[-1][:6])
            hint = f"; similar: {', '.join(close[:5])}" if close else ""
            raise ConfigError(f"1C does not publish {name}{hint} (check the OData content settings in 1C)")
        return found

    def resolve(self, entity: str, *candidates: str, table: str | None = None) -> str:
        """The first candidate property the base has (e.g. "СтавкаНДС_Key", "СтавкаНДС")."""
        info = self.entity(entity)
        names = info.tables.get(table, {}) if table else info.properties
        for candidate in candidates:
            if candidate in names:
                return candidate
        where = f"{entity}.{table}" if table else entity
        raise ConfigError(
            f"{where} has none of {', '.join(candidates)} (it has: {', '.join(sorted(names)[:30])})"
        )

    def has(self, entity: str, prop: str, table: str | None = None) -> bool:
        info = self.entities.get(entity)
        if info is None:
            return False
        return prop in (info.tables.get(table, {}) if table else info.properties)
