"""Bitrix24 REST client: paced calls, typed errors, batches with $result references, keyset reads.

Reads are retried with backoff; writes are retried only when the portal refused them before executing
(rate or operating-time limit, connection never made). A write whose reply is lost raises OutcomeUnknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from connector.bitrix24.auth import Auth, WebhookAuth
from connector.bitrix24.batching import merge, parse_batch, refused, resolve_refs
from connector.bitrix24.encoding import batch_command
from connector.bitrix24.reads import BATCH_LIMIT, PAGE, KeysetReads
from connector.bitrix24.replies import (
    BatchReply,
    Reply,
    Stats,
    as_int,
    error_from,
    never_sent,
    reason,
)
from connector.bitrix24.rides import Rides
from connector.clock import Clock
from connector.errors import (
    AuthError,
    OperationTimeLimited,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
    StopRun,
    TransientError,
)
from connector.logs import get_logger
from connector.netfail import first_timeout, shown, stop_if_unreached, unreached
from connector.ratelimit import OperatingPacer, RequestPacer

__all__ = ["BATCH_LIMIT", "PAGE", "BatchReply", "Bitrix24Client", "Reply", "Stats"]

log = get_logger(__name__)
T = TypeVar("T")


class Bitrix24Client(KeysetReads):
    """The only way the connector talks to Bitrix24. Always POSTs JSON; paged reads come from KeysetReads."""

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
        self.rides = Rides()  # a backfill's planner reads and this client's write batches meet here

    # -- single calls -------------------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Reply:
        """Call one method; reads retry transient failures, writes raise OutcomeUnknown when unsure."""

        if not write and self.rides.ready():  # a backfill's planner: one read rides in a write batch too
            rode = self.rides.ride({"call": (method, dict(params or {}))})
            if rode is not None and "call" in rode.result and "call" not in rode.errors:
                time_block = rode.time.get("call")
                return Reply(
                    rode.result["call"],
                    rode.total.get("call"),
                    rode.next.get("call"),
                    time_block if isinstance(time_block, dict) else {},
                )
            # not carried, or answered with an error: asked alone, where the error is what a call reports

        def reply(body: dict[str, Any]) -> Reply:
            time_block = body.get("time") or {}
            self.operating.observe(method.lower(), time_block)
            return Reply(body.get("result"), as_int(body.get("total")), as_int(body.get("next")), time_block)

        return self._with_retry(method, dict(params or {}), write, {method.lower(): 1}, reply)

    def _with_retry(
        self,
        method: str,
        params: dict[str, Any],
        write: bool,
        costs: dict[str, int],
        read: Callable[[dict[str, Any]], T],
    ) -> T:
        """Send with retries; `read` turns the body into the result and tells the operating pacer what the
        calls cost before the room the pacer held for them is given back."""
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
                held = self.operating.wait(costs)
                try:
                    return read(self._send(method, params, write))
                finally:
                    self.operating.release(held)
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
            if never_sent(exc):
                stop_if_unreached(exc, first, "Bitrix24", url, self.source, method=method)
                why = unreached(exc) or reason(exc)
                raise RateLimited(
                    f"cannot connect to Bitrix24 at {shown(url)}: {why}", method=method
                ) from None
            if write:
                raise OutcomeUnknown(
                    f"the reply to {method} was lost ({reason(exc)})", method=method
                ) from None
            raise TransientError(f"connection to Bitrix24 failed: {reason(exc)}", method=method) from None
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
            exc = error_from(resp.status_code, body, method, shown(self.auth.url(method)), self.source)
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
        # A backfill's next page reads in the write batch that ends this one when it has room (rides.py).
        if not write and not halt:
            rode = self.rides.ride(commands)
            if rode is not None:
                return rode
            return self._batch(commands, halt, write)
        riders = [] if halt else self.rides.take(BATCH_LIMIT - len(commands), set(commands))
        if not riders:
            return self._batch(commands, halt, write)
        try:
            reply = self._batch({**commands, **self.rides.merged(riders)}, halt, write)
        except BaseException:
            self.rides.hand_back(riders)  # each read is sent again by its own thread
            raise
        return self.rides.deliver(riders, reply)

    def _batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool, write: bool
    ) -> BatchReply:
        """`batch` of these commands, retrying what the portal refused for its limits or did not reach."""
        merged = BatchReply({}, {}, {}, {}, {})
        todo = dict(commands)
        for _ in range(self.max_attempts):
            reply = self._batch_once(todo, halt, write)
            resend = refused(todo, reply.errors)
            merge(todo, reply, merged, resend)
            # Without `halt`, a command with neither a result nor an error was not reached: send it again too.
            again = {
                k: todo[k]
                for k in todo
                if k in resend or (k not in reply.result and k not in reply.errors and not halt)
            }
            if not again:
                return merged
            todo = {k: (m, resolve_refs(p, merged.result)) for k, (m, p) in again.items()}
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
        return self._with_retry(
            "batch",
            {"halt": 1 if halt else 0, "cmd": cmd},
            write,
            costs,
            lambda body: self._read_batch(commands, body),
        )

    def _read_batch(
        self, commands: Mapping[str, tuple[str, Mapping[str, Any]]], body: dict[str, Any]
    ) -> BatchReply:
        reply = parse_batch(body)
        for key, err in reply.errors.items():
            code = str(err.get("error", "")).upper()
            if code == "OPERATION_TIME_LIMIT":
                self.stats.add("time_limited")
                if key in commands:
                    self.operating.blocked(commands[key][0].lower())
            elif code == "QUERY_LIMIT_EXCEEDED":
                self.stats.add("rate_limited")
        for key, block in reply.time.items():
            if key in commands and isinstance(block, dict):
                self.operating.observe(commands[key][0].lower(), block)
        return reply
