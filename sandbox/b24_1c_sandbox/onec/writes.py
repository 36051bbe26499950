"""POST / PATCH / PUT / DELETE on entity sets, with 1C's value checks and error codes.

Unknown properties are ignored; numbers sent as strings are accepted; a value of the wrong type is 400 code "4";
`Posted` and `DataVersion` in a body are ignored (posting is `/Post`); tabular sections are replaced whole and
renumbered; a duplicate `Ref_Key` is 400 code "15"; `If-Match` is ignored unless strict mode asks for 412.
"""

from __future__ import annotations

import re
from typing import Any

from b24_1c_sandbox.onec import posting
from b24_1c_sandbox.onec.errors import ODataError, not_found
from b24_1c_sandbox.onec.infobase import EMPTY_REF, Infobase, empty
from b24_1c_sandbox.onec.model import EntityType, Props

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^(\d{4}-\d\d-\d\d)(?:T(\d\d:\d\d)(:\d\d)?(?:\.\d+)?)?$")
_BIND = re.compile(r"^(?:.*/)?(?P<set>[^/()]+)\(guid'(?P<ref>[0-9a-fA-F-]{36})'\)$")
_READ_ONLY = {"DataVersion", "Posted", "Predefined", "PredefinedDataName"}


def bad_value(name: str, value: Any) -> ODataError:
    return ODataError(400, "4", f"Неверное значение свойства {name}: {value!r}")


def coerce_value(name: str, edm: str, value: Any) -> Any:
    """A JSON value converted to how 1C stores it, or 400 code "4"."""
    if value is None:
        return empty(edm)
    if edm == "Edm.Guid":
        if isinstance(value, str) and (_GUID.match(value)):
            return value.lower()
        raise bad_value(name, value)
    if edm in ("Edm.Double", "Edm.Int64", "Edm.Int32", "Edm.Int16"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise bad_value(name, value)
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except ValueError:
            raise bad_value(name, value) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise bad_value(name, value)
        if edm != "Edm.Double":
            if number != int(number):
                raise bad_value(name, value)
            return str(int(number)) if edm == "Edm.Int64" else int(number)
        return int(number) if number == int(number) and abs(number) < 1e15 else number
    if edm == "Edm.Boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        raise bad_value(name, value)
    if edm == "Edm.DateTime":
        match = _DATE.match(value) if isinstance(value, str) else None
        if not match:
            raise bad_value(name, value)  # offsets and `Z` are refused: 1C dates are naive server time
        return f"{match.group(1)}T{match.group(2) or '00:00'}{match.group(3) or ':00'}"
    if isinstance(value, dict | list):
        raise bad_value(name, value)
    return value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def _coerce_props(props: Props, body: dict[str, Any], out: dict[str, Any]) -> None:
    types = dict(props)
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            nav = name[: -len("@odata.bind")]
            match = _BIND.match(value) if isinstance(value, str) else None
            if not match:
                raise bad_value(name, value)
            if f"{nav}_Key" in types:
                out[f"{nav}_Key"] = match["ref"].lower()
            elif f"{nav}_Type" in types:
                out[nav], out[f"{nav}_Type"] = match["ref"].lower(), f"StandardODATA.{match['set']}"
            continue
        if "@" in name or name in _READ_ONLY or name not in types:
            continue  # annotations and unknown properties are ignored, as 1C does
        out[name] = coerce_value(name, types[name], value)


def coerce(etype: EntityType, body: Any) -> dict[str, Any]:
    """A request body converted to stored values."""
    if not isinstance(body, dict):
        raise ODataError(400, "2", "Неверный формат тела запроса: ожидается объект JSON")
    out: dict[str, Any] = {}
    _coerce_props(etype.properties, body, out)
    for tab in etype.tables:
        if tab.name in body:
            rows = body[tab.name]
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise bad_value(tab.name, rows)
            coerced = []
            for row in rows:
                r: dict[str, Any] = {}
                _coerce_props([p for p in tab.properties if p[0] != "LineNumber"], row, r)
                coerced.append(r)
            out[tab.name] = coerced
    return out


def _check_version(current: dict[str, Any], if_match: str | None, strict: bool) -> None:
    # Observed 1C ignores If-Match; DOC promises 412. Strict mode follows DOC.
    if not strict or not if_match or if_match.strip() == "*":
        return
    wanted = if_match.strip().removeprefix("W/").strip('"')
    if wanted != current.get("DataVersion"):
        raise ODataError(412, "-1", "Версия объекта не совпадает с указанной в заголовке If-Match")


def _next_number(ib: Infobase, entity: str, field: str, width: int, prefix: str) -> str:
    highest = 0
    for rec in ib.sets[entity].values():
        tail = str(rec.get(field, "")).removeprefix(prefix)
        if tail.isdigit():
            highest = max(highest, int(tail))
    return f"{prefix}{highest + 1:0{width}d}"


def create(ib: Infobase, entity: str, body: Any, load_mode: bool = False) -> dict[str, Any]:
    """POST <set>: a new object (auto Number/Code/Date when absent)."""
    etype = ib.types[entity]
    data = coerce(etype, body)
    if isinstance(body, dict) and "Ref_Key" in body:
        data["Ref_Key"] = coerce_value("Ref_Key", "Edm.Guid", body["Ref_Key"])
    with ib.lock:
        if data.get("Ref_Key") not in (None, EMPTY_REF) and ib.get(entity, data["Ref_Key"]) is not None:
            raise ODataError(400, "15", f"Объект с ключом {data['Ref_Key']} уже существует")
        if data.get("Ref_Key") == EMPTY_REF:
            del data["Ref_Key"]
        if etype.kind == "Document":
            if not data.get("Number"):
                data["Number"] = _next_number(ib, entity, "Number", 6, "ЦБ00-")
            if data.get("Date") in (None, empty("Edm.DateTime")):
                data["Date"] = ib.now().replace(microsecond=0).isoformat()
        elif "Code" in etype.property_names() and not data.get("Code"):
            data["Code"] = _next_number(ib, entity, "Code", 9, "")
        data["Posted"] = False
        if not load_mode:
            posting.before_write(ib, entity, data, None)
        return ib.insert(entity, data)


def patch(
    ib: Infobase,
    entity: str,
    ref: str,
    body: Any,
    load_mode: bool = False,
    if_match: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """PATCH: listed properties change; a tabular section given replaces all its rows."""
    etype = ib.types[entity]
    data = coerce(etype, body)
    with ib.lock:
        current = ib.get(entity, ref)
        if current is None:
            raise not_found()
        _check_version(current, if_match, strict)
        merged = {**current, **data}
        if not load_mode:
            posting.before_write(ib, entity, merged, current)
        return ib.update(entity, ref, merged)


def put(
    ib: Infobase,
    entity: str,
    ref: str,
    body: Any,
    load_mode: bool = False,
    if_match: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """PUT: full replacement; properties left out become empty."""
    etype = ib.types[entity]
    data = coerce(etype, body)
    with ib.lock:
        current = ib.get(entity, ref)
        if current is None:
            raise not_found()
        _check_version(current, if_match, strict)
        blank = {n: empty(e) for n, e in etype.properties}
        full = {
            **blank,
            **{t.name: [] for t in etype.tables},
            **data,
            "Ref_Key": ref,
            "Posted": current.get("Posted", False),
        }
        if not load_mode:
            posting.before_write(ib, entity, full, current)
        return ib.update(entity, ref, full)


def delete(ib: Infobase, entity: str, ref: str, if_match: str | None = None, strict: bool = False) -> None:
    """DELETE: physical removal (no deletion mark, no reference check)."""
    with ib.lock:
        current = ib.get(entity, ref)
        if current is None:
            raise not_found()
        _check_version(current, if_match, strict)
        ib.delete(entity, ref)
