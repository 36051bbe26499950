"""The Bitrix24 REST contract as data (bitrix24.yaml, shipped in the wheel) and the method list derived from it.

`methods_for(flows)` gives the online check and the admin guide every method the configured flows call, with the
scope and rights each needs; `load_bitrix24()` gives the whole contract (the sandbox enforces it).
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

__all__ = [
    "FLOWS",
    "PARTS",
    "ContractError",
    "MethodContract",
    "MethodSpec",
    "load_bitrix24",
    "methods_for",
    "selectable",
]

CONTRACT_FILE = "bitrix24.yaml"
# The connector's flows and the parts that call Bitrix24 besides them.
FLOWS = ("managers", "counterparties", "orders", "money", "deals_to_orders", "invoices", "rollups", "fans")
PARTS = ("setup", "verify", "reconcile", "alerts")
_KEYS = {
    "source",
    "scope",
    "scope_alternatives",
    "rights",
    "flows",
    "params",
    "params_note",
    "params_as_filter",
    "required",
    "fields",
    "fields_by_entity_type",
    "field_patterns",
    "fields_note",
    "user_fields",
    "options",
    "options_note",
    "rows",
    "filter",
    "filter_note",
    "select",
    "order",
    "errors",
    "result",
    "note",
    "not_enforced",
    "unverified",
    "unverified_note",
}


class ContractError(ValueError):
    """The contract file is malformed (names the file, the method and the key)."""


@dataclass(frozen=True)
class MethodSpec:
    """What a method needs from the portal: its scope and the rights of the calling user."""

    name: str
    scope: str
    rights: str

    @property
    def admin(self) -> bool:
        """Only an administrator (of the portal or of the CRM) may call it, per the docs."""
        return "администратор" in self.rights.lower()


@dataclass(frozen=True)
class MethodContract:
    """One method as the vendor documents it."""

    name: str
    source: str
    scope: str
    rights: str
    flows: tuple[str, ...]
    params: dict[str, str]
    params_as_filter: bool = False  # filter fields also taken as top-level parameters (user.get)
    required: tuple[str, ...] = ()
    fields: dict[str, str] | None = None
    fields_by_entity_type: dict[str, dict[str, str]] | None = None
    field_patterns: tuple[re.Pattern[str], ...] = ()
    user_fields: bool = False
    options: dict[str, str] | None = None
    rows_param: str | None = None
    row_fields: dict[str, str] | None = None
    filter: frozenset[str] | None = None
    select: frozenset[str] | None = None
    order: frozenset[str] | None = None
    errors: tuple[dict[str, Any], ...] = ()
    result: str = ""
    unverified: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def spec(self) -> MethodSpec:
        """Name, scope and rights."""
        return MethodSpec(self.name, self.scope, self.rights)

    @property
    def item_style(self) -> bool:
        """crm.item.* names fields in camelCase (user fields ufCrm...)."""
        return self.fields_by_entity_type is not None

    def writable(self, entity_type: Any = None) -> dict[str, str] | None:
        """The writable fields (for crm.item.* those of one entity type; smart processes share `dynamic`)."""
        if self.fields_by_entity_type is None:
            return self.fields
        key = str(entity_type)
        return self.fields_by_entity_type.get(key) or self.fields_by_entity_type.get("dynamic")

    def field_allowed(self, name: str, entity_type: Any = None) -> bool:
        """Whether `fields` may name this field."""
        writable = self.writable(entity_type) or {}
        if name in writable or any(p.match(name) for p in self.field_patterns):
            return True
        return self.user_fields and is_user_field(name, self.item_style)


@dataclass(frozen=True)
class Contract:
    """Every method of the contract plus the portal's behaviour for what is outside it."""

    methods: dict[str, MethodContract]
    behaviour: dict[str, Any]

    def method(self, name: str) -> MethodContract | None:
        """A method by its (case-insensitive) name."""
        return self.methods.get(name.lower())


_UF_LEGACY = re.compile(r"^UF_CRM_[A-Z0-9_]+$")
_UF_ITEM = re.compile(r"^ufCrm[0-9]*_[0-9A-Za-z_]+$")


def is_user_field(name: str, item_style: bool = False) -> bool:
    """UF_CRM_* (legacy and crm.item with useOriginalUfNames) or ufCrm*_* (crm.item)."""
    return bool(_UF_LEGACY.match(name) or (item_style and _UF_ITEM.match(name)))


def _names(raw: Any, where: str) -> frozenset[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ContractError(f"{where}: expected a list of names")
    return frozenset(raw)


def _types(raw: Any, where: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ContractError(f"{where}: expected a map of name → type")
    return {str(k): v for k, v in raw.items()}


def _method(name: str, raw: Any, where: str) -> MethodContract:
    if not isinstance(raw, dict):
        raise ContractError(f"{where}: expected a map")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ContractError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})"
        )
    for key in ("source", "scope", "result"):
        if not isinstance(raw.get(key), str):
            raise ContractError(f"{where}: '{key}' is required (a string)")
    if not raw["source"].startswith(("api-reference/", "settings/")) and not raw.get("unverified"):
        raise ContractError(f"{where}: 'source' must be a b24-rest-docs path, or the entry marked unverified")
    flows = raw.get("flows", [])
    if not isinstance(flows, list):
        raise ContractError(f"{where}: 'flows' must be a list of flow names")
    unknown_parts = [str(f) for f in flows if f not in FLOWS + PARTS]
    if unknown_parts:
        raise ContractError(
            f"{where}.flows: unknown {', '.join(unknown_parts)} (known: {', '.join(FLOWS + PARTS)})"
        )
    by_type = raw.get("fields_by_entity_type")
    if by_type is not None and not isinstance(by_type, dict):
        raise ContractError(f"{where}.fields_by_entity_type: expected a map of entity type → fields")
    rows = raw.get("rows")
    if rows is not None and (not isinstance(rows, dict) or not isinstance(rows.get("param"), str)):
        raise ContractError(f"{where}.rows: expected {{param: <name>, fields: {{...}}}}")
    try:
        patterns = tuple(re.compile(p) for p in raw.get("field_patterns", []))
    except re.error as err:
        raise ContractError(f"{where}.field_patterns: {err}") from None
    notes = [
        str(raw[k]) for k in ("note", "params_note", "fields_note", "options_note", "filter_note") if k in raw
    ]
    notes += [str(x) for x in raw.get("not_enforced", [])]
    if raw.get("unverified"):
        if not raw.get("unverified_note"):
            raise ContractError(f"{where}: an unverified entry needs 'unverified_note' saying why")
        notes.append(str(raw["unverified_note"]))
    return MethodContract(
        name=name.lower(),
        source=raw["source"],
        scope=raw["scope"],
        rights=str(raw.get("rights") or ""),
        flows=tuple(flows),
        params=_types(raw.get("params", {}), f"{where}.params") or {},
        params_as_filter=bool(raw.get("params_as_filter")),
        required=tuple(raw.get("required", [])),
        fields=_types(raw.get("fields"), f"{where}.fields"),
        fields_by_entity_type=(
            {str(k): _types(v, f"{where}.fields_by_entity_type.{k}") or {} for k, v in by_type.items()}
            if by_type is not None
            else None
        ),
        field_patterns=patterns,
        user_fields=bool(raw.get("user_fields")),
        options=_types(raw.get("options"), f"{where}.options"),
        rows_param=rows["param"] if rows else None,
        row_fields=_types(rows.get("fields"), f"{where}.rows.fields") if rows else None,
        filter=_names(raw.get("filter"), f"{where}.filter"),
        select=_names(raw.get("select"), f"{where}.select"),
        order=_names(raw.get("order"), f"{where}.order"),
        errors=tuple(raw.get("errors", [])),
        result=raw["result"],
        unverified=bool(raw.get("unverified")),
        notes=tuple(notes),
    )


def parse(text: str, origin: str = CONTRACT_FILE) -> Contract:
    """A contract from YAML text; errors name the file, the method and the key."""
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as err:
        raise ContractError(f"{origin}: not valid YAML: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("methods"), dict):
        raise ContractError(f"{origin}: expected a map with 'methods:'")
    methods = {
        str(name).lower(): _method(str(name), raw, f"{origin}: methods.{name}")
        for name, raw in data["methods"].items()
    }
    return Contract(methods, dict(data.get("behaviour") or {}))


@cache
def load_bitrix24() -> Contract:
    """The shipped Bitrix24 contract (read once)."""
    text = resources.files(__package__).joinpath(CONTRACT_FILE).read_text(encoding="utf-8")
    return parse(text, f"connector/contracts/{CONTRACT_FILE}")


def methods_for(flows: Iterable[str], parts: Iterable[str] = ()) -> list[MethodSpec]:
    """Every method the named flows (and parts: setup, verify, reconcile) call, sorted by name, with scope and
    rights; `batch` is included when any of them sends batches."""
    wanted = set(flows) | set(parts)
    return [
        m.spec
        for m in sorted(load_bitrix24().methods.values(), key=lambda m: m.name)
        if wanted & set(m.flows)
    ]


def selectable(method: str, names: Iterable[str]) -> list[str]:
    """The names a list method documents for `select` (user fields pass by pattern), in the given order: a shared
    field list asks each entity only for what it has."""
    m = load_bitrix24().method(method)
    if m is None or m.select is None:
        return list(names)
    return [n for n in names if n in m.select or is_user_field(n, m.item_style)]
