"""Checks one Bitrix24 call against the contract: the method, its parameters, the fields it writes and their types.

Pure: the sandbox uses it to hold itself (and so every client) to the vendor's contract, and tests use it to hold the
connector to it. Values are checked in the forms a portal accepts (PHP query strings make every scalar a string).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.contracts import Contract, MethodContract

__all__ = ["Problem", "check_call", "type_ok"]

_INTEGER = re.compile(r"^-?\d+$")
_FILTER_OPS = re.compile(r"^(?:>=|<=|!=|!@|=%|%=|><|!><|>|<|@|!|=|%)")
_INTEGER_KINDS = {
    "integer",
    "user",
    "user.id",
    "crm_company",
    "crm_contact",
    "crm_category",
    "crm_lead",
    "crm_quote",
    "crm_entity",
    "location",
    "sale_order_payment.id",
    "sale_paysystem.id",
    "catalog_product.id",
}
_STRING_KINDS = {"string", "text", "crm_status", "crm_currency"}
_YES_NO = {"Y", "N"}
_BOOLEAN = {"Y", "N", "1", "0", "TRUE", "FALSE", ""}


@dataclass(frozen=True)
class Problem:
    """One departure from the contract: what (method, param, field, option, row, filter, select, order, type),
    which name, and what the contract says."""

    method: str
    kind: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.method}: {self.kind} '{self.name}' {self.detail}"


def type_ok(kind: str, value: Any) -> bool:
    """Whether a value is one a portal accepts for a documented type (empty clears a field)."""
    kind = kind.rstrip("!")
    if kind.endswith("[]") or kind in ("array", "object"):
        return True  # PHP arrays arrive as lists or maps; a single value is taken as a one-element list
    if value is None or value == "":
        return True
    if isinstance(value, dict | list):
        return False
    if isinstance(value, bool):
        return kind in ("char", "boolean")
    text = str(value).strip()
    if kind in _INTEGER_KINDS:
        return isinstance(value, int) or bool(_INTEGER.match(text))
    if kind == "double":
        try:
            float(text)
        except ValueError:
            return False
        return True
    if kind == "char":
        return text.upper() in _YES_NO
    if kind == "boolean":
        return text.upper() in _BOOLEAN
    if kind in ("date", "datetime"):
        try:
            datetime.fromisoformat(text.replace(" ", "T"))
        except ValueError:
            return False
        return True
    return True  # strings and the docs' composite types take any scalar


def _entries(value: Any) -> list[Any]:
    """A PHP array's values (a list, or a map with numeric keys)."""
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, list) else []


def _check_fields(m: MethodContract, fields: Any, entity_type: Any) -> list[Problem]:
    out: list[Problem] = []
    if not isinstance(fields, dict):
        return out
    writable = m.writable(entity_type) or {}
    for name, value in fields.items():
        key = str(name)
        if not m.field_allowed(key, entity_type):
            out.append(Problem(m.name, "field", key, "is not a writable field of the method"))
        elif key in writable and not type_ok(writable[key], value):
            out.append(Problem(m.name, "type", key, f"must be {writable[key].rstrip('!')}, got {value!r}"))
    return out


def _check_names(m: MethodContract, kind: str, names: list[str]) -> list[Problem]:
    allowed = {"filter": m.filter, "select": m.select, "order": m.order}[kind]
    if allowed is None:
        return []
    out = []
    for raw in names:
        name = _FILTER_OPS.sub("", raw) if kind == "filter" else raw
        upper_ok = name.upper() in allowed and not m.item_style
        if (
            name in allowed
            or upper_ok
            or name.startswith("UF_")
            or (m.item_style and name.startswith("ufCrm"))
        ):
            continue
        out.append(Problem(m.name, kind, raw, f"is not a documented {kind} name of the method"))
    return out


def check_call(contract: Contract, method: str, params: dict[str, Any]) -> list[Problem]:
    """Every departure of one call from the contract (an empty list when the call is within it)."""
    m = contract.method(method)
    if m is None:
        return [Problem(method.lower(), "method", method.lower(), "is not in the contract")]
    out: list[Problem] = []
    # Top-level values are the handlers' to judge: each method documents its own error for them
    # (WRONG_DATETIME_FORMAT, "ID is not defined or invalid", ...).
    for name in params:
        as_filter = m.params_as_filter and m.filter is not None and str(name).upper() in m.filter
        if name not in m.params and name != "start" and not as_filter:
            listed = ", ".join(m.params)
            out.append(Problem(m.name, "param", str(name), f"is not a parameter of the method ({listed})"))
    if "fields" in params and (m.fields is not None or m.fields_by_entity_type is not None):
        out += _check_fields(m, params["fields"], params.get("entityTypeId"))
    options = params.get("params")
    if m.options is not None and isinstance(options, dict):
        out += [
            Problem(m.name, "option", str(k), "is not a documented key of params")
            for k in options
            if k not in m.options
        ]
    if m.rows_param and m.row_fields is not None:
        for n, row in enumerate(_entries(params.get(m.rows_param))):
            if not isinstance(row, dict):
                continue
            for key, value in row.items():
                kind = m.row_fields.get(str(key))
                if kind is None:
                    out.append(
                        Problem(m.name, "row", f"{m.rows_param}[{n}].{key}", "is not a field of a row")
                    )
                elif not type_ok(kind, value):
                    out.append(
                        Problem(
                            m.name, "type", f"{m.rows_param}[{n}].{key}", f"must be {kind}, got {value!r}"
                        )
                    )
    for kind in ("filter", "select", "order"):
        value = params.get(kind, params.get(kind.upper()))
        names = [str(k) for k in value] if isinstance(value, dict) and kind != "select" else []
        if kind == "select":
            names = [str(v) for v in _entries(value)]
        out += _check_names(m, kind, names)
    return out
