"""The 1C contract as data (onec.yaml, shipped in the wheel) and the check of one OData request against it.

`load_onec()` gives the whole contract: per configuration profile (ut11.5, ut11.4, bp3.0) every entity set with its
properties and Edm types, navigations, tabular sections and functions; the protocol's functions; the SOAP
operations. `onec_objects_for(profile)` lists the objects of a profile (for `b24-1c verify`); `check_request` is
pure: the 1C emulator uses it to record every request outside the contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from connector.contracts import ContractError

__all__ = [
    "EntityContract",
    "OnecContract",
    "OnecProblem",
    "RequestShape",
    "check_request",
    "check_soap",
    "filter_names",
    "load_onec",
    "onec_objects_for",
]

CONTRACT_FILE = "onec.yaml"
_SOURCES = ("DOC §17.4", "metadata: ", "reference: ")
_ENTITY_KEYS = {
    "source",
    "unverified",
    "unverified_note",
    "properties",
    "navigations",
    "tables",
    "functions",
    "resources",
}


@dataclass(frozen=True)
class EntityContract:
    """One published object (entity set or register) of a configuration."""

    name: str
    source: str
    properties: dict[str, str]
    navigations: dict[str, str] = field(default_factory=dict)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    functions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    unverified: bool = False

    def names(self) -> set[str]:
        """What a $select, $filter, $orderby or body may name: properties, sections, navigations."""
        return set(self.properties) | set(self.tables) | set(self.navigations)


@dataclass(frozen=True)
class OnecContract:
    """Every profile's objects, the protocol's functions, the SOAP services."""

    profiles: dict[str, dict[str, EntityContract]]
    functions: dict[str, dict[str, Any]]
    standard_names: frozenset[str]
    soap: dict[str, dict[str, Any]]
    extension_patterns: tuple[re.Pattern[str], ...] = ()

    def entity(self, profile: str, name: str) -> EntityContract | None:
        """An object of a profile (None when the contract does not have it)."""
        return self.profiles.get(profile, {}).get(name)


def _types(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ContractError(f"{where}: expected a map of name → Edm type")
    return {str(k): v for k, v in raw.items()}


def _source(raw: dict[str, Any], where: str) -> str:
    source = raw.get("source")
    if not isinstance(source, str) or not source.startswith(_SOURCES):
        raise ContractError(f"{where}: 'source' must start with one of {', '.join(_SOURCES)}")
    if raw.get("unverified") and not raw.get("unverified_note"):
        raise ContractError(f"{where}: an unverified entry needs 'unverified_note' saying why")
    return source


def _entity(name: str, raw: Any, where: str, known_functions: set[str]) -> EntityContract:
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected a map")
    unknown = sorted(set(raw) - _ENTITY_KEYS)
    if unknown:
        raise ContractError(f"{where}: unknown key(s) {', '.join(unknown)}")
    functions = tuple(str(f) for f in raw.get("functions") or [])
    strange = [f for f in functions if f not in known_functions]
    if strange:
        raise ContractError(f"{where}.functions: {', '.join(strange)} not in protocol.functions")
    tables = raw.get("tables") or {}
    if not isinstance(tables, dict):
        raise ContractError(f"{where}.tables: expected a map of section → properties")
    return EntityContract(
        name=name,
        source=_source(raw, where),
        properties=_types(raw.get("properties"), f"{where}.properties"),
        navigations=_types(raw.get("navigations"), f"{where}.navigations"),
        tables={str(t): _types(cols, f"{where}.tables.{t}") for t, cols in tables.items()},
        functions=functions,
        resources=tuple(str(r) for r in raw.get("resources") or []),
        unverified=bool(raw.get("unverified")),
    )


def parse(text: str, origin: str = CONTRACT_FILE) -> OnecContract:
    """A contract from YAML text; errors name the file, the profile, the object and the key."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as err:
        raise ContractError(f"{origin}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("profiles"), dict):
        raise ContractError(f"{origin}: expected a map with 'protocol:', 'soap:' and 'profiles:'")
    protocol = data.get("protocol") or {}
    functions = dict(protocol.get("functions") or {})
    for fname, spec in functions.items():
        _source(spec, f"{origin}: protocol.functions.{fname}")
    for sname, spec in (data.get("soap") or {}).items():
        _source(spec, f"{origin}: soap.{sname}")
    profiles: dict[str, dict[str, EntityContract]] = {}
    for pname, raw in data["profiles"].items():
        where = f"{origin}: profiles.{pname}"
        if not isinstance(raw, dict):
            raise ContractError(f"{where}: expected a map with 'entities:'")
        objects: dict[str, EntityContract] = {}
        for group in ("entities", "registers"):
            for ename, spec in (raw.get(group) or {}).items():
                objects[str(ename)] = _entity(str(ename), spec, f"{where}.{group}.{ename}", set(functions))
        profiles[str(pname)] = objects
    standard = (protocol.get("standard_names") or {}).get("names") or []
    try:
        patterns = tuple(re.compile(p) for p in (protocol.get("extension") or {}).get("patterns") or [])
    except re.error as err:
        raise ContractError(f"{origin}: protocol.extension.patterns: {err}") from None
    return OnecContract(profiles, functions, frozenset(standard), dict(data.get("soap") or {}), patterns)


@cache
def load_onec() -> OnecContract:
    """The shipped 1C contract (read once)."""
    text = resources.files(__package__).joinpath(CONTRACT_FILE).read_text(encoding="utf-8")
    return parse(text, f"connector/contracts/{CONTRACT_FILE}")


def onec_objects_for(profile: str, kinds: Iterable[str] = ()) -> list[str]:
    """The objects (entity sets and registers) the contract lists for a profile, sorted; `kinds` narrows them to
    prefixes such as "Document_"."""
    contract = load_onec()
    if profile not in contract.profiles:
        raise ContractError(
            f"connector/contracts/{CONTRACT_FILE}: no profile '{profile}' "
            f"(known: {', '.join(contract.profiles)})"
        )
    wanted = tuple(kinds)
    return sorted(n for n in contract.profiles[profile] if not wanted or n.startswith(wanted))


# -- checking one request ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnecProblem:
    """One departure of a request from the contract: what (entity, property, section, function), which name, why."""

    entity: str
    kind: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.entity}: {self.kind} '{self.name}' {self.detail}"


@dataclass
class RequestShape:
    """What one OData request names: the object, a tabular section or function of it, and the property names of
    $select, $filter, $orderby, $expand and the body."""

    entity: str
    section: str = ""
    function: str = ""
    select: list[str] = field(default_factory=list)
    filter: list[str] = field(default_factory=list)
    orderby: list[str] = field(default_factory=list)
    expand: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)


_STRING = re.compile(r"'(?:[^']|'')*'")
_NAME = re.compile(r"(?<![\w/])([^\W\d]\w*)(\s*\(|\s*:)?")
_WORDS = {
    *("eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "add", "sub", "mul", "div", "mod"),
    *("true", "false", "null", "guid", "datetime", "datetimeoffset", "any", "all", "asc", "desc"),
}


def filter_names(text: str) -> list[str]:
    """The property names a $filter expression starts its paths with (functions, operators, literals and lambda
    variables left out)."""
    bare = _STRING.sub("''", text)
    variables = {m[1] for m in _NAME.finditer(bare) if m[2] and m[2].strip() == ":"}
    out: list[str] = []
    for m in _NAME.finditer(bare):
        name, after = m[1], (m[2] or "").strip()
        if after or name.lower() in _WORDS or name in variables or name in out:
            continue
        out.append(name)
    return out


def _head(path: str) -> str:
    return path.strip().split("/", 1)[0].strip()


def check_request(
    contract: OnecContract, profile: str, shape: RequestShape, declared: Iterable[str] = ()
) -> list[OnecProblem]:
    """Every departure of one request from the contract; `declared` are the names a profile extension file added
    to the object (allowed by declaration); names matching the contract's extension patterns are allowed too."""
    entity = contract.entity(profile, shape.entity)
    if entity is None:
        return [OnecProblem(shape.entity, "entity", shape.entity, f"is not in the contract of {profile}")]
    out: list[OnecProblem] = []
    if shape.function and shape.function not in entity.functions:
        out.append(OnecProblem(entity.name, "function", shape.function, "is not a function of the object"))
    allowed = entity.names() | contract.standard_names | set(declared)
    if shape.section:
        if shape.section not in entity.tables and shape.section not in declared:
            out.append(
                OnecProblem(entity.name, "section", shape.section, "is not a tabular section of the object")
            )
        allowed = set(entity.tables.get(shape.section, {})) | contract.standard_names | set(declared)
    if (
        entity.resources
    ):  # virtual tables name resources with their suffixes (СуммаBalance, СуммаTurnover, ...)
        suffixes = ("Balance", "Turnover", "Receipt", "Expense", "OpeningBalance", "ClosingBalance")
        allowed |= {r + s for r in entity.resources for s in suffixes}
    for kind in ("select", "filter", "orderby", "expand", "body"):
        for raw in getattr(shape, kind):
            name = _head(raw)
            if kind == "body":
                name = name.split("@", 1)[0]  # "Товары@odata.type", "Организация@odata.bind"
            if (
                name in ("", "*")
                or name in allowed
                or any(p.match(name) for p in contract.extension_patterns)
            ):
                continue
            if kind == "expand" and name in entity.navigations:
                continue
            out.append(
                OnecProblem(entity.name, kind, raw.strip(), f"names no property of {profile}'s object")
            )
    return out


def check_soap(
    contract: OnecContract, service: str, operation: str, params: Iterable[str]
) -> list[OnecProblem]:
    """Every departure of one SOAP call from the contract: the service, the operation, its parameters."""
    spec = contract.soap.get(service)
    if spec is None:
        return [OnecProblem(service, "service", service, "is not a web service in the contract")]
    op = (spec.get("operations") or {}).get(operation)
    if op is None:
        return [OnecProblem(service, "operation", operation, "is not an operation of the service")]
    known = set(op.get("params") or {})
    return [
        OnecProblem(service, "param", name, f"is not a parameter of {operation}")
        for name in params
        if name not in known
    ]
