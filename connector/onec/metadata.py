"""$metadata, fetched once and cached: which entity sets and properties this 1C base really has.

Field names differ between УТ 11.4, УТ 11.5 and БП 3.0 (`СтавкаНДС` vs `СтавкаНДС_Key`, `Заказ` vs
`ОбъектРасчетов_Key`, `ЮрФизЛицо` vs `ЮридическоеФизическоеЛицо`); mappings list candidates and the first one the
base has wins.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from connector.errors import ConfigError, TransientError

_EDM = "{http://schemas.microsoft.com/ado/2009/11/edm}"


@dataclass
class EntityInfo:
    """One entity type: its properties (name → Edm type), tabular sections and navigation properties."""

    name: str
    properties: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    navigation: set[str] = field(default_factory=set)


def parse_edmx(xml: bytes | str) -> dict[str, EntityInfo]:
    """Entity types of an EDMX document, tabular sections resolved from their row complex types."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise TransientError(
            f"1C $metadata is not valid XML ({exc}); is the publication answering with HTML?"
        ) from None
    complex_types: dict[str, dict[str, str]] = {}
    for ct in root.iter(f"{_EDM}ComplexType"):
        complex_types[ct.get("Name", "")] = {
            p.get("Name", ""): p.get("Type", "") for p in ct.iter(f"{_EDM}Property")
        }
    entities: dict[str, EntityInfo] = {}
    for et in root.iter(f"{_EDM}EntityType"):
        info = EntityInfo(et.get("Name", ""))
        for prop in et.findall(f"{_EDM}Property"):
            name, edm = prop.get("Name", ""), prop.get("Type", "")
            if edm.startswith("Collection("):
                row_type = edm[len("Collection(") : -1].split(".", 1)[-1]
                info.tables[name] = complex_types.get(row_type, {})
            else:
                info.properties[name] = edm
        info.navigation = {n.get("Name", "") for n in et.findall(f"{_EDM}NavigationProperty")}
        entities[info.name] = info
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
