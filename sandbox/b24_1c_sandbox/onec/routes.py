"""The resource-path grammar of 1C's standard OData interface, parsed into a Route.

Set | Set/$count | Set(guid'…') | Set(guid'…')/Post[()] | Set(guid'…')/Unpost[()] | Set(guid'…')/Nav
Document_X_ТЧ | Document_X_ТЧ(Ref_Key=guid'…',LineNumber=1)
AccumulationRegister_X | AccumulationRegister_X_RecordType | AccumulationRegister_X/Balance(Period=…,Condition='…')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from b24_1c_sandbox.onec.errors import ODataError, not_published
from b24_1c_sandbox.onec.infobase import Infobase

_GUID_KEY = re.compile(r"^guid'(?P<ref>[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})'$")
_ROW_KEY = re.compile(r"^Ref_Key\s*=\s*guid'(?P<ref>[0-9a-fA-F-]{36})'\s*,\s*LineNumber\s*=\s*(?P<n>\d+)$")
_VIRTUAL = ("Balance", "Turnovers", "BalanceAndTurnovers")


@dataclass
class Route:
    """What a path addresses."""

    kind: str  # entity | count | table | records | recordsets | virtual
    base: str  # the published object (entity set, owner of a tabular section, register)
    ref: str | None = None
    action: str | None = None  # Post | Unpost
    nav: str | None = None
    section: str = ""  # tabular section name, or the virtual table function
    args: str = ""  # virtual-table parameters inside the parentheses
    row_key: tuple[str, int] | None = None


def _split(rest: str) -> tuple[str, str | None, str]:
    """name, key text inside balanced parentheses (or None), remainder after them."""
    i = 0
    while i < len(rest) and rest[i] not in "(/":
        i += 1
    name = rest[:i]
    if i == len(rest) or rest[i] == "/":
        return name, None, rest[i + 1 :]
    depth, j = 0, i
    while j < len(rest):
        depth += {"(": 1, ")": -1}.get(rest[j], 0)
        if depth == 0:
            break
        j += 1
    if depth:
        raise ODataError(400, "6", f"Неверный адрес ресурса: {rest}")
    tail = rest[j + 1 :]
    return name, rest[i + 1 : j], tail[1:] if tail.startswith("/") else tail


def _table_owner(ib: Infobase, name: str) -> tuple[str, str] | None:
    for tname, etype in ib.types.items():
        for tab in etype.tables:
            if name == f"{tname}_{tab.name}":
                return tname, tab.name
    return None


def parse_route(ib: Infobase, rest: str) -> Route:
    """Route for a path below the service root; 404 for what is not there (or not published)."""
    name, key, tail = _split(rest)
    registers = ib.config.registers
    if name in ib.types:
        if key is None:
            if tail == "$count":
                return Route("count", name)
            if tail:
                raise ODataError(400, "6", f"Неверный адрес ресурса: {rest}")
            return Route("entity", name)
        match = _GUID_KEY.match(key.strip())
        if not match:
            raise ODataError(400, "7", f"Не указан ключ сущности или он указан неверно: {key}")
        ref = match["ref"].lower()
        tail_name = tail.removesuffix("()")
        if tail_name in ("Post", "Unpost"):
            return Route("entity", name, ref, action=tail_name)
        if tail and tail_name not in ib.types[name].refs:
            raise ODataError(404, "10", f"Свойство не найдено: {tail}")
        return Route("entity", name, ref, nav=tail or None)
    if name in registers:
        if key is None and tail == "":
            return Route("recordsets", name)
        func, args, after = _split(tail) if tail else ("", None, "")
        if func in _VIRTUAL and not after:
            return Route("virtual", name, section=func, args=args or "")
        raise ODataError(400, "11", f"Метод не найден: {tail or key}")
    if name.endswith("_RecordType") and name.removesuffix("_RecordType") in registers:
        return Route("records", name.removesuffix("_RecordType"))
    owner = _table_owner(ib, name)
    if owner is not None:
        if key is None:
            return Route("table", owner[0], section=owner[1])
        match = _ROW_KEY.match(key.strip())
        if not match:
            raise ODataError(400, "7", f"Не указан элемент ключа строки табличной части: {key}")
        return Route("table", owner[0], section=owner[1], row_key=(match["ref"].lower(), int(match["n"])))
    raise not_published(name)
