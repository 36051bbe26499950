"""Bitrix24 REST client: paced calls, typed errors, batches with $result references, keyset reads.

Reads are retried with backoff; writes are retried only when the portal refused them before executing
(rate or operating-time limit, connection never made). A write whose reply is lost raises OutcomeUnknown.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connector.bitrix24.auth import Auth, WebhookAuth
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
from connector.netfail import first_timeout, shown, stop_if_unreached, unreached
from connector.ratelimit import OperatingPacer, RequestPacer

log = get_logger(__name__)

BATCH_LIMIT = 50
PAGE = 50
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


def _error_from(
    status: int, body: Any, method: str, url: str = "", source: str = "B24_WEBHOOK_URL"
) -> Exception:
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


class Bitrix24Client:
    """The only way the connector talks to Bitrix24. Always POSTs JSON."""

    def __init__(
        self,
        session: requests.Session,
        auth: Auth,
        clock: Clock,
        pacer: RequestPacer | None,
        timeout: float = 60.0,
        max_attempts: int = 6,
        user_agent: str = "b24-1c/0.1",
        operating: OperatingPacer | None = None,
        source: str | None = None,
    ) -> None:
        self.session = session
        self.auth = auth
        # The config variable the portal's address came from, named by messages about it.
        self.source = source or (
            "B24_WEBHOOK_URL" if isinstance(auth, WebhookAuth) else "bitrix24.oauth.portal_url"
        )
        # False until the portal has answered once: before that, a refused connection or an unknown host name is
        # a configuration problem (StopRun at once), afterwards a transient fault that is retried.
        self.answered = False
        self.clock = clock
        self.pacer = pacer
        self.operating = operating if operating is not None else OperatingPacer(clock)
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.user_agent = user_agent
        self.stats = Stats()

    # -- single calls -------------------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Reply:
        """Call one method; reads retry transient failures, writes raise OutcomeUnknown when unsure."""
        body = self._with_retry(method, dict(params or {}), write, {method.lower(): 1})
        time_block = body.get("time") or {}
        self.operating.observe(method.lower(), time_block)
        return Reply(body.get("result"), _int(body.get("total")), _int(body.get("next")), time_block)

    def _with_retry(
        self, method: str, params: dict[str, Any], write: bool, costs: dict[str, int]
    ) -> dict[str, Any]:
        retry_on = (RateLimited, OperationTimeLimited) if write else (RetryLater,)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            self.stats.add("retries")
            if isinstance(exc, RetryLater) and exc.retry_after:
                return exc.retry_after
            return float(min(30.0, 0.5 * 2 ** (state.attempt_number - 1)))

        retrying = Retrying(
            retry=retry_if_exception_type(retry_on),
            wait=wait,
            sleep=self.clock.sleep,
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self.operating.wait(costs)
                return self._send(method, params, write)
        raise AssertionError("unreachable")

    def _send(
        self, method: str, params: dict[str, Any], write: bool, refreshed: bool = False
    ) -> dict[str, Any]:
        self.auth.ensure(self.session)
        if self.pacer is not None:
            self.pacer.acquire()
        self.stats.add("requests", method=method)
        sent_with = self.auth.current()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
            **self.auth.headers(),
        }
        url = self.auth.url(method)
        first = not self.answered
        try:
            resp = self.session.post(
                url,
                data=json.dumps(params, ensure_ascii=False).encode(),
                headers=headers,
                timeout=first_timeout(not first, self.timeout),
                allow_redirects=False,
            )
        except requests.exceptions.InvalidURL:
            raise StopRun(
                f"the Bitrix24 URL {shown(url)} is not valid: check {self.source}", method=method
            ) from None
        except requests.ConnectTimeout as exc:
            stop_if_unreached(exc, first, "Bitrix24", url, self.source, method=method)
            raise RateLimited("cannot connect to Bitrix24: ConnectTimeout", method=method) from None
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                stop_if_unreached(exc, first, "Bitrix24", url, self.source, method=method)
                why = unreached(exc) or _reason(exc)
                raise RateLimited(
                    f"cannot connect to Bitrix24 at {shown(url)}: {why}", method=method
                ) from None
            if write:
                raise OutcomeUnknown(
                    f"the reply to {method} was lost ({_reason(exc)})", method=method
                ) from None
            raise TransientError(f"connection to Bitrix24 failed: {_reason(exc)}", method=method) from None
        except requests.Timeout:
            if write:
                raise OutcomeUnknown(
                    f"{method} timed out after {self.timeout:g} s; it may have executed", method=method
                ) from None
            raise TransientError(f"{method} timed out after {self.timeout:g} s", method=method) from None
        self.answered = True
        return self._parse(resp, method, params, write, refreshed, sent_with)

    def _parse(
        self,
        resp: requests.Response,
        method: str,
        params: dict[str, Any],
        write: bool,
        refreshed: bool,
        sent_with: str | None,
    ) -> dict[str, Any]:
        if resp.status_code in (301, 302, 307, 308):
            raise StopRun(
                f"the portal moved to {resp.headers.get('Location', '?')}: update the webhook URL",
                method=method,
            )
        try:
            body = resp.json()
        except ValueError:
            kind = resp.headers.get("Content-Type", "?").split(";")[0]
            if resp.status_code == 404:
                raise StopRun(
                    f"Bitrix24 answered 404 ({kind}) at {shown(self.auth.url(method))}: no REST webhook there; "
                    f"check {self.source} (it looks like https://<portal>/rest/<user id>/<code>/)",
                    method=method,
                ) from None
            err = TransientError(
                f"Bitrix24 answered {resp.status_code} with {kind} instead of JSON", method=method
            )
            if write and resp.status_code >= 500:
                raise OutcomeUnknown(str(err), method=method) from None
            raise err from None
        if isinstance(body, dict) and "error" in body:
            exc = _error_from(resp.status_code, body, method, shown(self.auth.url(method)), self.source)
            if isinstance(exc, RateLimited):
                self.stats.add("rate_limited")
                if self.pacer is not None:
                    self.pacer.penalize()
            if isinstance(exc, OperationTimeLimited):
                self.stats.add("time_limited")
                self.operating.blocked(method.lower())
            expired = isinstance(exc, AuthError) and str(body.get("error")).lower() == "expired_token"
            if expired and not refreshed and self.auth.refresh(self.session, sent_with):
                return self._send(method, params, write, refreshed=True)
            if write and isinstance(exc, TransientError):
                raise OutcomeUnknown(str(exc), method=method)
            raise exc
        if resp.status_code >= 400 or not isinstance(body, dict):
            raise TransientError(f"Bitrix24 answered {resp.status_code} without an error code", method=method)
        return body

    # -- batch --------------------------------------------------------------------------------------------------

    def batch(
        self,
        commands: Mapping[str, tuple[str, Mapping[str, Any]]],
        *,
        halt: bool = False,
        write: bool = False,
    ) -> BatchReply:
        """Run up to 50 commands in one request; `$result[key]` references may link them.

        Commands the portal refused for its limits (they did not execute) are sent again after the pause,
        with references to commands that already succeeded filled in on our side.
        """
        if len(commands) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands, got {len(commands)}")
        merged = BatchReply({}, {}, {}, {}, {})
        todo = dict(commands)
        for _ in range(self.max_attempts):
            reply = self._batch_once(todo, halt, write)
            for key in todo:
                if key in reply.result:
                    merged.result[key] = reply.result[key]
                for section, target in (
                    (reply.total, merged.total),
                    (reply.next, merged.next),
                    (reply.time, merged.time),
                ):
                    if key in section:
                        target[key] = section[key]
            refused = {
                k
                for k, e in reply.errors.items()
                if str(e.get("error", "")).upper() in ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED")
            }
            # A command whose `$result[k]` points at a refused one failed only for want of that value: resend it.
            grew = True
            while grew:
                dependants = {
                    k
                    for k, (_, p) in todo.items()
                    if k not in refused
                    and any(f"$result[{r}]" in json.dumps(p, ensure_ascii=False) for r in refused)
                }
                grew = bool(dependants)
                refused |= dependants
            for key, error in reply.errors.items():
                if key not in refused:
                    merged.errors[key] = error
            # A command that depends on a refused one did not get its value either: send it again too.
            again = {
                k: todo[k]
                for k in todo
                if k in refused or (k not in reply.result and k not in reply.errors and not halt)
            }
            if not again:
                return merged
            todo = {k: (m, _resolve_refs(p, merged.result)) for k, (m, p) in again.items()}
            self.stats.add("retries")
        for key in todo:
            merged.errors.setdefault(
                key, {"error": "OPERATION_TIME_LIMIT", "error_description": "still blocked after retries"}
            )
        return merged

    def _batch_once(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool, write: bool
    ) -> BatchReply:
        cmd = {key: batch_command(method, params) for key, (method, params) in commands.items()}
        costs: dict[str, int] = {}
        for method, _ in commands.values():
            costs[method.lower()] = costs.get(method.lower(), 0) + 1
        self.stats.add("commands", len(cmd))
        body = self._with_retry("batch", {"halt": 1 if halt else 0, "cmd": cmd}, write, costs)
        sections = body.get("result") or {}
        if not isinstance(sections, dict):
            sections = {}
        errors = {
            k: v if isinstance(v, dict) else {"error": v}
            for k, v in normalize_php_map(sections.get("result_error")).items()
        }
        for key, err in errors.items():
            code = str(err.get("error", "")).upper()
            if code == "OPERATION_TIME_LIMIT":
                self.stats.add("time_limited")
                if key in commands:
                    self.operating.blocked(commands[key][0].lower())
            elif code == "QUERY_LIMIT_EXCEEDED":
                self.stats.add("rate_limited")
        times = normalize_php_map(sections.get("result_time"))
        for key, block in times.items():
            if key in commands and isinstance(block, dict):
                self.operating.observe(commands[key][0].lower(), block)
        return BatchReply(
            result=normalize_php_map(sections.get("result")),
            errors=errors,
            total={k: int(v) for k, v in normalize_php_map(sections.get("result_total")).items()},
            next={k: int(v) for k, v in normalize_php_map(sections.get("result_next")).items()},
            time=times,
        )

    # -- reads --------------------------------------------------------------------------------------------------

    def list_all(
        self, method: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> list[Any]:
        """Every page of an offset-paged list (`start`, 50 rows a page, `next` naming the following one): for the
        small directories (user fields, stage lists) whose methods take no `>ID` filter. Bounded by `next` growing."""
        rows: list[Any] = []
        start: int | None = 0
        while start is not None:
            reply = self.call(method, {**(params or {}), "start": start})
            page = reply.result.get(key, []) if key and isinstance(reply.result, dict) else reply.result
            rows += list(page or [])
            start = reply.next if reply.next and reply.next > start else None
        return rows

    def list_keyset(
        self,
        method: str,
        filter: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        id_field: str = "ID",
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a list in ID order with `>ID` + `start=-1`: no COUNT, no drift while rows change."""
        last = 0
        base = dict(filter or {})
        while True:
            params: dict[str, Any] = {
                "filter": {**base, f">{id_field}": last},
                "order": {id_field: "ASC"},
                "start": -1,
            }
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

    def list_fast(
        self,
        method: str,
        filter: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        id_field: str = "ID",
        items_key: str | None = None,
        chain: int = BATCH_LIMIT,
        expect: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset reads at up to 2,500 rows per request: `chain` sub-lists per batch, each starting after the
        last ID of the one before it (`$result[prev][49][ID]`), stopping at the first short page. With `expect`
        (at most that many rows, e.g. an `@ID` list) no more sub-lists are chained than can be filled."""
        if expect is not None:
            chain = max(1, min(chain, expect // PAGE + 1))
        base = dict(filter or {})
        order = {id_field: "ASC"}
        last: Any = 0
        while True:
            commands: dict[str, tuple[str, dict[str, Any]]] = {}
            for n in range(chain):
                ref: Any = (
                    last
                    if n == 0
                    else (
                        f"$result[p{n - 1}][{items_key}][{PAGE - 1}][{id_field}]"
                        if items_key
                        else f"$result[p{n - 1}][{PAGE - 1}][{id_field}]"
                    )
                )
                params: dict[str, Any] = {
                    "filter": {**base, f">{id_field}": ref},
                    "order": order,
                    "start": -1,
                }
                if select:
                    params["select"] = select
                commands[f"p{n}"] = (method, params)
            reply = self.batch(commands, halt=True)
            for n in range(chain):
                if f"p{n}" in reply.errors:
                    err = reply.errors[f"p{n}"]
                    raise RemoteRejected(
                        f"{method} failed inside a batch: {err.get('error_description', err)}", method=method
                    )
                rows = reply.result.get(f"p{n}")
                if isinstance(rows, dict):
                    rows = rows.get(items_key or "items", [])
                rows = list(rows or [])
                if rows:
                    yield rows
                    last = rows[-1][id_field]
                if len(rows) < PAGE:
                    return


def _resolve_refs(value: Any, results: Mapping[str, Any]) -> Any:
    """Fill `$result[key][path]` references from results we already hold (whole-value references only)."""
    if isinstance(value, str) and value.startswith("$result["):
        parts = [p for p in value[len("$result") :].replace("]", "").split("[") if p]
        if parts and parts[0] in results:
            node: Any = results[parts[0]]
            for part in parts[1:]:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return value
            return node
        return value
    if isinstance(value, Mapping):
        return {k: _resolve_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, results) for v in value]
    return value


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
