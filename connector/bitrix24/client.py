"""Bitrix24 REST client: paced calls, typed errors, batches with $result references, keyset reads.

Reads are retried with backoff; writes are retried only when the portal refused them before executing
(rate or operating-time limit, connection never made). A write whose reply is lost raises OutcomeUnknown.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connector.bitrix24.auth import Auth
from connector.bitrix24.encoding import batch_command, normalize_php_map
from connector.clock import Clock
from connector.errors import (
    AuthError,
    OperationTimeLimited,
    OutcomeUnknown,
    RateLimited,
    RemoteRejected,
    RetryLater,
    StopRun,
    TransientError,
)
from connector.logs import get_logger
from connector.ratelimit import RequestPacer

log = get_logger(__name__)

BATCH_LIMIT = 50
PAGE = 50
_AUTH_CODES = {"invalid_credentials", "no_auth_found", "invalid_token", "insufficient_scope", "access_denied",
               "wrong_auth_type", "user_access_error", "application_not_found", "invalid_request"}


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
    """What this client did, for reports and benchmarks."""

    requests: int = 0
    commands: int = 0
    retries: int = 0
    rate_limited: int = 0
    time_limited: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


def _error_from(status: int, body: Any, method: str) -> Exception:
    code = body.get("error") if isinstance(body, dict) else None
    desc = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    lcode = str(code).lower() if code is not None else ""
    if lcode in ("query_limit_exceeded", "overload_limit"):
        return RateLimited(f"Bitrix24 refused the request: {desc or code}", method=method)
    if lcode == "operation_time_limit":
        return OperationTimeLimited(f"Bitrix24 blocked {method} for its operating time: {desc}", method=method)
    if lcode == "expired_token":
        return AuthError("the access token has expired", method=method)
    if lcode in _AUTH_CODES or (status in (401, 403) and lcode not in ("", "0")):
        return AuthError(f"Bitrix24 rejected the credentials ({code}): {desc}. Check the webhook URL and its scopes",
                         method=method)
    if lcode == "error_method_not_found":
        return StopRun(f"Bitrix24 has no method {method}: check the portal plan and the webhook scopes", method=method)
    if status >= 500:
        return TransientError(f"Bitrix24 answered {status} {code}: {desc}", method=method)
    return RemoteRejected(f"Bitrix24 rejected {method}: {desc or code or status}", code=code, method=method)


class Bitrix24Client:
    """The only way the connector talks to Bitrix24. Always POSTs JSON."""

    def __init__(self, session: requests.Session, auth: Auth, clock: Clock, pacer: RequestPacer | None,
                 timeout: float = 60.0, max_attempts: int = 6, user_agent: str = "b24-1c/0.1") -> None:
        self.session = session
        self.auth = auth
        self.clock = clock
        self.pacer = pacer
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.user_agent = user_agent
        self.stats = Stats()

    # -- single calls -------------------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Reply:
        """Call one method; reads retry transient failures, writes raise OutcomeUnknown when unsure."""
        body = self._with_retry(method, dict(params or {}), write)
        return Reply(body.get("result"), _int(body.get("total")), _int(body.get("next")), body.get("time") or {})

    def _with_retry(self, method: str, params: dict[str, Any], write: bool) -> dict[str, Any]:
        retry_on = (RateLimited, OperationTimeLimited) if write else (RetryLater,)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            self.stats.retries += 1
            if isinstance(exc, RetryLater) and exc.retry_after:
                return exc.retry_after
            return float(min(30.0, 0.5 * 2 ** (state.attempt_number - 1)))

        retrying = Retrying(retry=retry_if_exception_type(retry_on), wait=wait, sleep=self.clock.sleep,
                            stop=stop_after_attempt(self.max_attempts), reraise=True)
        for attempt in retrying:
            with attempt:
                return self._send(method, params, write)
        raise AssertionError("unreachable")

    def _send(self, method: str, params: dict[str, Any], write: bool, refreshed: bool = False) -> dict[str, Any]:
        if self.pacer is not None:
            self.pacer.acquire()
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": self.user_agent,
                   **self.auth.headers()}
        try:
            resp = self.session.post(self.auth.url(method), data=json.dumps(params, ensure_ascii=False).encode(),
                                     headers=headers, timeout=self.timeout, allow_redirects=False)
        except (requests.ConnectTimeout, requests.exceptions.InvalidURL) as exc:
            raise RateLimited(f"cannot connect to Bitrix24: {type(exc).__name__}", method=method) from None
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise RateLimited(f"cannot connect to Bitrix24: {_reason(exc)}", method=method) from None
            if write:
                raise OutcomeUnknown(f"the reply to {method} was lost ({_reason(exc)})", method=method) from None
            raise TransientError(f"connection to Bitrix24 failed: {_reason(exc)}", method=method) from None
        except requests.Timeout:
            if write:
                raise OutcomeUnknown(f"{method} timed out after {self.timeout:g} s; it may have executed",
                                     method=method) from None
            raise TransientError(f"{method} timed out after {self.timeout:g} s", method=method) from None
        return self._parse(resp, method, params, write, refreshed)

    def _parse(self, resp: requests.Response, method: str, params: dict[str, Any], write: bool,
               refreshed: bool) -> dict[str, Any]:
        if resp.status_code in (301, 302, 307, 308):
            raise StopRun(f"the portal moved to {resp.headers.get('Location', '?')}: update the webhook URL",
                          method=method)
        try:
            body = resp.json()
        except ValueError:
            kind = resp.headers.get("Content-Type", "?").split(";")[0]
            err = TransientError(f"Bitrix24 answered {resp.status_code} with {kind} instead of JSON", method=method)
            if write and resp.status_code >= 500:
                raise OutcomeUnknown(str(err), method=method) from None
            raise err from None
        if isinstance(body, dict) and "error" in body:
            exc = _error_from(resp.status_code, body, method)
            if isinstance(exc, RateLimited):
                self.stats.rate_limited += 1
                if self.pacer is not None:
                    self.pacer.penalize()
            if isinstance(exc, OperationTimeLimited):
                self.stats.time_limited += 1
            expired = isinstance(exc, AuthError) and str(body.get("error")).lower() == "expired_token"
            if expired and not refreshed and self.auth.refresh(self.session):
                return self._send(method, params, write, refreshed=True)
            if write and isinstance(exc, TransientError):
                raise OutcomeUnknown(str(exc), method=method)
            raise exc
        if resp.status_code >= 400 or not isinstance(body, dict):
            raise TransientError(f"Bitrix24 answered {resp.status_code} without an error code", method=method)
        return body

    # -- batch --------------------------------------------------------------------------------------------------

    def batch(self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], *, halt: bool = False,
              write: bool = False) -> BatchReply:
        """Run up to 50 commands in one request; `$result[key]` references may link them."""
        if len(commands) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands, got {len(commands)}")
        cmd = {key: batch_command(method, params) for key, (method, params) in commands.items()}
        self.stats.commands += len(cmd)
        body = self._with_retry("batch", {"halt": 1 if halt else 0, "cmd": cmd}, write)
        sections = body.get("result") or {}
        if not isinstance(sections, dict):
            sections = {}
        errors = {k: v if isinstance(v, dict) else {"error": v}
                  for k, v in normalize_php_map(sections.get("result_error")).items()}
        for key, err in errors.items():
            if str(err.get("error", "")).upper() == "OPERATION_TIME_LIMIT":
                self.stats.time_limited += 1
            elif str(err.get("error", "")).upper() == "QUERY_LIMIT_EXCEEDED":
                self.stats.rate_limited += 1
            errors[key] = err
        return BatchReply(
            result=normalize_php_map(sections.get("result")),
            errors=errors,
            total={k: int(v) for k, v in normalize_php_map(sections.get("result_total")).items()},
            next={k: int(v) for k, v in normalize_php_map(sections.get("result_next")).items()},
            time=normalize_php_map(sections.get("result_time")),
        )

    # -- reads --------------------------------------------------------------------------------------------------

    def list_keyset(self, method: str, filter: Mapping[str, Any] | None = None, select: list[str] | None = None,
                    id_field: str = "ID") -> Iterator[list[dict[str, Any]]]:
        """Pages of a list in ID order with `>ID` + `start=-1`: no COUNT, no drift while rows change."""
        last = 0
        base = dict(filter or {})
        while True:
            params: dict[str, Any] = {"filter": {**base, f">{id_field}": last}, "order": {id_field: "ASC"},
                                      "start": -1}
            if select:
                params["select"] = select
            rows = self.call(method, params).result
            rows = rows.get("items", []) if isinstance(rows, dict) else (rows or [])
            if not rows:
                return
            yield rows
            last = int(rows[-1][id_field])
            if len(rows) < PAGE:
                return


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text[:200] if text else type(exc).__name__


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was refused or never made, so the request cannot have executed."""
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text
