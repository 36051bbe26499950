"""The portal held to the vendor's contract (connector/contracts/bitrix24.yaml, from the official REST docs).

Every call is checked before its handler runs. What a portal rejects is rejected here with the portal's error (a
value of the wrong type; the error per method family is in the contract's `behaviour`); what a portal silently
ignores (a parameter the method does not take, a field it does not write, such as `sum` in
crm.item.payment.update) is taken out of the call before the handler sees it, so no handler can be more lenient
than the portal. Either way a violation is recorded on the portal and in this module (`mark`, `violations_since`),
which the test suite reads to fail any test whose client (the connector) steps outside the contract. Methods the
emulator serves for third-party clients but the contract does not list are served and recorded, or, with
`Settings.contract_only`, answered ERROR_METHOD_NOT_FOUND as a portal answers a method it does not have.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from b24_1c_sandbox.bitrix24.errors import METHOD_NOT_FOUND, ApiError
from connector.contracts import Contract, load_bitrix24
from connector.contracts.check import Problem, check_call

__all__ = ["Violation", "enforce", "mark", "violations_since"]


@dataclass(frozen=True)
class Violation:
    """One call outside the contract, as the portal saw it."""

    method: str
    kind: str
    name: str
    detail: str
    action: str  # "rejected" | "ignored" | "served"

    def __str__(self) -> str:
        return f"{self.method}: {self.kind} '{self.name}' {self.detail} ({self.action})"


# The latest violations of every portal in this process, numbered in order (bounded: a long-running sandbox serving
# third-party clients must not grow without end).
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


def _family(method: str) -> str:
    if method.startswith("crm.item.payment."):
        return "payment"
    if method.startswith("crm.item."):
        return "item"
    if method.startswith("sale."):
        return "sale"
    if method.startswith("tasks."):
        return "tasks"
    return "legacy"


def _wrong_type(contract: Contract, method: str, problem: Problem) -> ApiError:
    errors = contract.behaviour.get("wrong_type_errors", {})
    spec = errors.get(_family(method)) or errors.get("legacy") or {}
    return ApiError(
        int(spec.get("status", 400)),
        spec.get("code", ""),
        f'{spec.get("description", "Invalid value of field")} "{problem.name}"',
    )


def _drop(params: dict[str, Any], problem: Problem, rows_param: str | None) -> None:
    """Take an ignored name out of the call, as the portal never reads it."""
    if problem.kind == "param":
        params.pop(problem.name, None)
    elif problem.kind == "field" and isinstance(params.get("fields"), dict):
        params["fields"].pop(problem.name, None)
    elif problem.kind == "option" and isinstance(params.get("params"), dict):
        params["params"].pop(problem.name, None)
    elif problem.kind == "row" and rows_param is not None:
        head, _, key = problem.name.rpartition(".")
        index = head[len(rows_param) + 1 : -1]
        rows = params.get(rows_param)
        row = (
            rows[int(index)]
            if isinstance(rows, list)
            else rows.get(index)
            if isinstance(rows, dict)
            else None
        )
        if isinstance(row, dict):
            row.pop(key, None)


def enforce(portal: Any, method: str, params: dict[str, Any]) -> None:
    """Check a call against the contract: raise the portal's error for what it rejects, remove what it ignores,
    record every violation."""
    contract = load_bitrix24()
    problems = check_call(contract, method, params)
    if not problems:
        return
    spec = contract.method(method)
    rejected = next((p for p in problems if p.kind == "type"), None)
    found = []
    for p in problems:
        if p.kind == "method":
            action = "served"
        elif rejected is not None:
            action = "rejected"
        elif p.kind in ("filter", "select", "order"):
            action = "served"  # the list handlers apply the portal's own rule for these
        else:
            action = "ignored"
            _drop(params, p, spec.rows_param if spec else None)
        found.append(Violation(p.method, p.kind, p.name, p.detail, action))
    with _LOCK:
        for v in found:
            _RECENT.append((_COUNT[0], v))
            _COUNT[0] += 1
    portal.violations.extend(found)
    if spec is None and portal.settings.contract_only:
        raise METHOD_NOT_FOUND  # a portal that offers only what the contract lists (Settings.contract_only)
    if rejected is not None:
        raise _wrong_type(contract, method, rejected)
