"""Method registry: handlers register under a lowercase name with the scope they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24_1c_sandbox.bitrix24.portal import CallContext, Portal


@dataclass
class ListResult:
    """A list page: the rows plus the envelope's total / next."""

    rows: Any
    total: int | None
    next: int | None


Handler = Callable[["Portal", dict[str, Any], "CallContext"], Any]


@dataclass(frozen=True)
class Method:
    name: str
    scope: str
    handler: Handler
    write: bool


METHODS: dict[str, Method] = {}


def method(name: str, scope: str, write: bool = False) -> Callable[[Handler], Handler]:
    """Register a REST method handler."""

    def deco(fn: Handler) -> Handler:
        METHODS[name.lower()] = Method(name.lower(), scope, fn, write)
        return fn

    return deco


def page(rows: list[Any], start: int, page_size: int = 50) -> ListResult:
    """Bitrix's fixed pages of 50: `start=-1` skips the count and has no `next`."""
    if start < 0:
        return ListResult(rows[:page_size], None, None)
    start = start - start % page_size
    chunk = rows[start : start + page_size]
    nxt = start + page_size if start + page_size < len(rows) else None
    return ListResult(chunk, len(rows), nxt)
