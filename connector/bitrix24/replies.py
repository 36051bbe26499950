"""What a Bitrix24 reply carries (result, paging, timing) and what its error codes mean for the caller."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from connector.errors import (
    AuthError,
    OperationTimeLimited,
    RateLimited,
    RemoteRejected,
    StopRun,
    TransientError,
)

_AUTH_CODES = {
    "invalid_credentials",
    "no_auth_found",
    "invalid_token",
    "insufficient_scope",
    "access_denied",
    "wrong_auth_type",
    "user_access_error",
    "application_not_found",
    "invalid_request",
}
# Codes with which the portal refuses a (sub-)request before running it: sending it again later is safe.
REFUSED_CODES = ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED")


@dataclass
class Reply:
    """One call's result with the envelope's paging and timing."""

    result: Any
    total: int | None = None
    next: int | None = None
    time: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchReply:
    """Per-command results and errors of one `batch` request."""

    result: dict[str, Any]
    errors: dict[str, dict[str, Any]]
    total: dict[str, int]
    next: dict[str, int]
    time: dict[str, Any]


@dataclass
class Stats:
    """What this client did, for reports and benchmarks. Counted under a lock: with `sync.in_flight` > 1 several
    threads send through one client, and `x += 1` on an attribute is not atomic."""

    requests: int = 0
    commands: int = 0
    retries: int = 0
    rate_limited: int = 0
    time_limited: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, n: int = 1, method: str | None = None) -> None:
        """Count `n` more of `name` (and one request of `method` when given)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + n)
            if method is not None:
                self.by_method[method] = self.by_method.get(method, 0) + 1


def error_from(
    status: int, body: Any, method: str, url: str = "", source: str = "B24_WEBHOOK_URL"
) -> Exception:
    """The typed error for a reply's `error` code: retry later, stop the run, or reject this call."""
    code = body.get("error") if isinstance(body, dict) else None
    desc = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    lcode = str(code).lower() if code is not None else ""
    if lcode in ("query_limit_exceeded", "overload_limit"):
        return RateLimited(f"Bitrix24 refused the request: {desc or code}", method=method)
    if lcode == "operation_time_limit":
        return OperationTimeLimited(
            f"Bitrix24 blocked {method} for its operating time: {desc}", method=method
        )
    if lcode == "expired_token":
        return AuthError("the access token has expired", method=method)
    if lcode in _AUTH_CODES or (status in (401, 403) and lcode not in ("", "0")):
        return AuthError(
            f"Bitrix24 rejected the credentials at {url or '?'} ({status} {code}: {desc}): check {source} "
            "(the webhook's code, that the webhook and its user still exist) and the webhook's scopes",
            method=method,
        )
    if lcode == "error_method_not_found":
        return StopRun(
            f"Bitrix24 has no method {method}: check the portal plan and the webhook scopes", method=method
        )
    if status >= 500:
        return TransientError(f"Bitrix24 answered {status} {code}: {desc}", method=method)
    return RemoteRejected(f"Bitrix24 rejected {method}: {desc or code or status}", code=code, method=method)


def as_int(value: Any) -> int | None:
    """An envelope's `total`/`next` as a number; None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def reason(exc: Exception) -> str:
    """A transport exception in at most 200 characters, for messages."""
    text = str(exc)
    return text[:200] if text else type(exc).__name__


def never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was refused or never made, so the request cannot have executed."""
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
