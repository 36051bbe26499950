"""The 1C base held to the connector's 1C contract (connector/contracts/onec.yaml).

Every OData request the emulator routes is checked against the contract of its profile before it is served: the
entity set, the tabular section or function it addresses, and the property names in `$select`, `$filter`,
`$orderby`, `$expand` and the body of a POST/PATCH/PUT. A departure is recorded here (`mark`, `violations_since`,
read by the test suite to fail any test whose client steps outside the contract) and the request is served as
before: the emulator's own rules (404 for an unpublished object, 400 for an unknown property in $select, bodies'
unknown properties ignored as DOC §17.4.13.1 says) answer it. Attributes a profile extension file declares are
allowed by declaration.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Any

from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.profiles import load
from b24_1c_sandbox.onec.query import parse_select
from b24_1c_sandbox.onec.routes import Route
from connector.contracts.onec import RequestShape, check_request, check_soap, filter_names, load_onec

__all__ = ["Violation", "mark", "observe", "observe_soap", "violations_since"]

_BODY_METHODS = ("POST", "PATCH", "PUT", "MERGE")


@dataclass(frozen=True)
class Violation:
    """One request outside the contract, as the base saw it."""

    profile: str
    method: str
    entity: str
    kind: str
    name: str
    detail: str

    def __str__(self) -> str:
        return f"1C {self.profile} {self.method} {self.entity}: {self.kind} '{self.name}' {self.detail}"


_RECENT: deque[tuple[int, Violation]] = deque(maxlen=10_000)
_COUNT = [0]
_LOCK = threading.Lock()


def mark() -> int:
    """The number of violations recorded so far in this process (pass it to `violations_since`)."""
    with _LOCK:
        return _COUNT[0]


def violations_since(start: int) -> list[Violation]:
    """Violations recorded after `mark()` returned `start`."""
    with _LOCK:
        return [v for n, v in _RECENT if n >= start]


@cache
def _shipped(profile: str) -> dict[str, tuple[set[str], set[str]]]:
    """Per object of the profile as shipped (no extension): its property names and its tabular sections."""
    return {
        name: ({p for p, _ in et.properties} | set(et.refs), {t.name for t in et.tables})
        for name, et in load(profile).types.items()
    }


def _declared(ib: Infobase, entity: str, section: str) -> set[str]:
    """Names an extension file added to the object (or to one of its sections): allowed by declaration."""
    etype = ib.types.get(entity)
    if etype is None:
        return set()
    props, tables = _shipped(ib.profile).get(entity, (set(), set()))
    if section:
        table = next((t for t in etype.tables if t.name == section), None)
        if section not in tables:  # a section the extension added: all of it is declared
            return {section, *(p for p, _ in table.properties)} if table is not None else set()
        return set()
    added = {p for p, _ in etype.properties} | set(etype.refs)
    return (added - props) | ({t.name for t in etype.tables} - tables)


def _names(text: str | None, split: Any) -> list[str]:
    if not text:
        return []
    try:
        return [str(n) for n in split(text)]
    except Exception:  # a malformed option is the handler's to answer (with 1C's error)
        return []


def _body(raw: bytes) -> list[str]:
    try:
        data = json.loads(raw.decode("utf-8-sig") or "{}")
    except (ValueError, UnicodeDecodeError):
        return []
    return [str(k) for k in data] if isinstance(data, dict) else []


def observe(ib: Infobase, route: Route, options: dict[str, str], method: str, body: bytes) -> None:
    """Record every departure of one routed request from the contract (the request is served either way)."""
    function = route.action or (route.section if route.kind == "virtual" else "")
    shape = RequestShape(
        entity=route.base,
        section=route.section if route.kind == "table" else "",
        function=function,
        select=_names(options.get("select"), parse_select),
        filter=_names(options.get("filter"), filter_names),
        orderby=[item.split()[0] for item in (options.get("orderby") or "").split(",") if item.strip()],
        expand=[e for e in (options.get("expand") or "").split(",") if e.strip()]
        + ([route.nav] if route.nav else []),
        body=_body(body) if method in _BODY_METHODS and not route.action else [],
    )
    problems = check_request(load_onec(), ib.profile, shape, _declared(ib, route.base, shape.section))
    _record([Violation(ib.profile, method, p.entity, p.kind, p.name, p.detail) for p in problems])


def observe_soap(profile: str, service: str, operation: str, params: list[str]) -> None:
    """Record a SOAP call outside the contract (served either way: the service answers with its own fault)."""
    problems = check_soap(load_onec(), service, operation, params)
    _record([Violation(profile, "SOAP", p.entity, p.kind, p.name, p.detail) for p in problems])


def _record(found: list[Violation]) -> None:
    if not found:
        return
    with _LOCK:
        for v in found:
            _RECENT.append((_COUNT[0], v))
            _COUNT[0] += 1
