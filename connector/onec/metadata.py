"""$metadata, fetched once and cached: which entity sets and properties this 1C base really has.

Field names differ between УТ 11.4, УТ 11.5 and БП 3.0 (`СтавкаНДС` vs `СтавкаНДС_Key`, `Заказ` vs
`ОбъектРасчетов_Key`, `ЮрФизЛицо` vs `ЮридическоеФизическоеЛицо`); mappings list candidates and the first one the
base has wins.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from xml.parsers import expat

from connector.errors import ConfigError, TransientError


@dataclass
class EntityInfo:
    """One entity type: its properties (name → Edm type), tabular sections and navigation properties."""

    name: str
    properties: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    navigation: set[str] = field(default_factory=set)


_NS = "http://schemas.microsoft.com/ado/2009/11/edm "  # expat joins namespace and name with the separator
_ENTITY, _COMPLEX, _PROPERTY, _NAVIGATION = (
    _NS + tag for tag in ("EntityType", "ComplexType", "Property", "NavigationProperty")
)
_INSIDE = frozenset({_NS + "Key", _NS + "PropertyRef"})


class _Reader:
    """SAX-style reading: one call per element start, nothing kept but entity types and tabular row types."""

    def __init__(self) -> None:
        self.entities: dict[str, EntityInfo] = {}
        self.row_types: dict[str, dict[str, str]] = {}
        self.sections: list[tuple[EntityInfo, str, str]] = []  # (entity, section, its row complex type)
        self.entity: EntityInfo | None = None
        self.row: dict[str, str] | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == _PROPERTY:
            name, edm = attrs.get("Name", ""), sys.intern(attrs.get("Type", ""))
            if self.row is not None:
                self.row[name] = edm
            elif self.entity is not None:
                if edm.startswith("Collection("):
                    self.sections.append((self.entity, name, edm[len("Collection(") : -1].split(".", 1)[-1]))
                else:
                    self.entity.properties[name] = edm
        elif tag == _NAVIGATION:
            if self.entity is not None:
                self.entity.navigation.add(attrs.get("Name", ""))
        elif tag == _ENTITY:
            self.row, self.entity = None, EntityInfo(attrs.get("Name", ""))
            self.entities[self.entity.name] = self.entity
        elif tag == _COMPLEX:
            name, self.entity = attrs.get("Name", ""), None
            self.row = self.row_types.setdefault(name, {}) if name.endswith("_RowType") else None
        elif tag not in _INSIDE:
            self.entity = self.row = None


def parse_edmx(xml: bytes | str) -> dict[str, EntityInfo]:
    """Entity types of an EDMX document, tabular sections resolved from their row complex types.

    A whole УТ 11.5 publishes ~15 MB of $metadata, so it is read with expat, element by element, without building
    a tree; only entity types and the row types of their tabular sections are kept
    (benchmarks/bench_onec_metadata.py measures it against the tree parser it replaced).
    """
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = reader.start
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise TransientError(
            f"1C $metadata is not valid XML ({expat.ErrorString(exc.code)}, line {exc.lineno}); "
            "is the publication answering with HTML?"
        ) from None
    for entity, section, row_type in reader.sections:
        entity.tables[section] = reader.row_types.get(row_type, {})
    return reader.entities


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
