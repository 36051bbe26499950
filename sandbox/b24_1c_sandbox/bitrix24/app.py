"""HTTP front of the portal: routes, auth (webhook, OAuth, token endpoint), parameters, limits, faults,
dispatch and the response envelope."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from b24_1c_sandbox.bitrix24 import batch as _batch
from b24_1c_sandbox.bitrix24 import methods as _methods  # noqa: F401  (registers every method family)
from b24_1c_sandbox.bitrix24.contract import enforce as enforce_contract
from b24_1c_sandbox.bitrix24.errors import (
    HTTPS_REQUIRED,
    INTERNAL,
    INVALID_CREDENTIALS,
    METHOD_NOT_FOUND,
    NO_AUTH,
    OPERATION_LIMIT,
    OVERLOAD,
    QUERY_LIMIT,
    ApiError,
    insufficient_scope,
)
from b24_1c_sandbox.bitrix24.events import EventBus
from b24_1c_sandbox.bitrix24.oauth import resolve, token_endpoint
from b24_1c_sandbox.bitrix24.php import merge_params, parse_body, parse_str
from b24_1c_sandbox.bitrix24.portal import Call, CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import METHODS, ListResult
from b24_1c_sandbox.faults import AFTER_COMMIT, GATEWAY_PAGE
from b24_1c_sandbox.http import Request, Response

_WEBHOOK = re.compile(r"^/rest/(\d+)/([^/]+)/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
_OAUTH = re.compile(r"^/rest/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
_TOKEN = re.compile(r"^/oauth/token/?$")
AUTH_PARAMS = ("auth", "access_token", "auth_connector")


class Bitrix24App:
    """A WSGI-like callable: Request → Response."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        _batch.bind(portal, self)
        if portal.events is None:
            portal.events = EventBus(portal)

    def __call__(self, request: Request) -> Response:
        try:
            return self._handle(request)
        except ApiError as err:
            return self._json(err.body(), err.status)

    def _json(self, body: Any, status: int, extra: dict[str, str] | None = None) -> Response:
        return Response.json(body, status, {"Access-Control-Allow-Origin": "*", **(extra or {})})

    def _reject(self, err: ApiError, name: str, ctx_via: str, client: str) -> Response:
        self.portal.record_call(
            Call(self.portal.unix(), name, {}, err.status, str(err.code), via=ctx_via, client=client)
        )
        return self._json(err.body(), err.status)

    def _handle(self, request: Request) -> Response:
        portal = self.portal
        path = request.path
        if _TOKEN.match(path):
            host = request.headers.get("host", portal.settings.domain)
            scheme = "https" if request.secure else "http"
            status, body = token_endpoint(
                portal,
                merge_params(
                    parse_str(request.query), parse_body(request.headers.get("content-type"), request.body)
                ),
                f"{scheme}://{host}/rest/",
            )
            return self._json(body, status)
        hook_match = _WEBHOOK.match(path)
        oauth_match = None if hook_match else _OAUTH.match(path)
        if hook_match is None and oauth_match is None:
            return Response.text(
                "<html><body><h1>404 Not Found</h1></body></html>", 404, "text/html; charset=utf-8"
            )
        name = (hook_match or oauth_match).group(3 if hook_match else 1).lower()  # type: ignore[union-attr]
        via = "webhook" if hook_match else "access"
        params = merge_params(
            parse_str(request.query), parse_body(request.headers.get("content-type"), request.body)
        )
        fault = self._pick_fault(name, params)
        if fault is not None and fault not in AFTER_COMMIT:
            early = self._fault_before(fault, request)
            if early is not None:
                portal.record_call(
                    Call(portal.unix(), name, {}, early.status, fault=fault, via=via, client=request.client)
                )
                return early
        if hook_match and portal.settings.https_required and not request.secure:
            return self._reject(HTTPS_REQUIRED, name, via, request.client)
        try:
            ctx = self._authenticate(request, hook_match, params)
        except ApiError as err:
            return self._reject(err, name, via, request.client)
        travel = portal.settings.latency / 2
        if travel > 0:
            portal.clock.sleep(travel)  # the request on its way: the bucket counts it when it arrives
        with portal.lock:
            bucket = portal.bucket_for(request.client)
            bucket_ok = bucket is None or bucket.admit(portal.clock.monotonic())
        if not bucket_ok:
            if travel > 0:
                portal.clock.sleep(travel)
            return self._reject(QUERY_LIMIT, name, via, request.client)
        if portal.settings.server_time > 0:
            portal.clock.sleep(portal.settings.server_time)
        body, status = self.execute(name, params, ctx, fault=fault)
        if travel > 0:
            portal.clock.sleep(travel)  # the reply on its way back
        if fault == "lost_reply":
            return Response(fault="reset")
        if fault == "lost_timeout":
            return Response(fault="hang")
        headers = {}
        if portal.settings.rest_time_headers and "time" in body:
            t = body["time"]
            headers = {
                "X-Bitrix-Rest-Time": f"{t['duration']:.6f}",
                "X-Bitrix-Rest-User-Time": f"{t['processing']:.6f}",
                "X-Bitrix-Rest-System-Time": "0",
            }
            if ctx.via == "access":
                headers["X-Bitrix-Rest-Application"] = str(ctx.client_id)
        return self._json(body, status, headers)

    # -- auth -----------------------------------------------------------------------------------------------

    def _authenticate(
        self, request: Request, hook_match: re.Match[str] | None, params: dict[str, Any]
    ) -> CallContext:
        portal = self.portal
        connector = params.get("auth_connector")
        bearer = request.headers.get("authorization", "")
        token_value = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        token_value = token_value or params.get("auth") or params.get("access_token")
        for key in AUTH_PARAMS:
            params.pop(key, None)
        connector_name = str(connector) if isinstance(connector, str) and connector else None
        if hook_match is not None:
            user_id, code = int(hook_match.group(1)), hook_match.group(2)
            hook = portal.webhooks.get(user_id)
            if hook is None or hook.code != code:
                raise ApiError(
                    portal.settings.auth_error_status,
                    INVALID_CREDENTIALS.code,
                    INVALID_CREDENTIALS.description,
                )
            return CallContext(
                user_id,
                hook.scopes,
                "webhook",
                auth_connector=connector_name,
                caller=("webhook", user_id, code),
                client=request.client,
            )
        if not isinstance(token_value, str) or not token_value:
            raise NO_AUTH
        token, app = resolve(portal, token_value)
        return CallContext(
            token.user_id,
            app.scopes,
            "access",
            client_id=app.client_id,
            auth_connector=connector_name,
            caller=("app", app.client_id),
            client=request.client,
        )

    # -- faults ---------------------------------------------------------------------------------------------

    def _pick_fault(self, name: str, params: dict[str, Any]) -> str | None:
        faults = self.portal.faults
        if faults is None:
            return None
        meth = METHODS.get(name)
        write = bool(meth and meth.write) or (name == "batch" and _batch.has_writes(params))
        kind: str | None = faults.pick(name, write)
        return kind

    def _fault_before(self, fault: str, request: Request) -> Response | None:
        portal = self.portal
        if fault == "latency":
            portal.clock.sleep(portal.faults.latency)
            return None
        if fault == "error500":
            return self._json(INTERNAL.body(), 500)
        if fault in ("html502", "html504"):
            code, title = (502, "Bad Gateway") if fault == "html502" else (504, "Gateway Time-out")
            return Response.text(GATEWAY_PAGE.format(code=code, title=title), code, "text/html")
        if fault == "reset":
            return Response(fault="reset")
        if fault == "overload":
            return self._json(OVERLOAD.body(), OVERLOAD.status)
        if fault == "redirect":
            target = portal.settings.moved_to.rstrip("/") + request.path
            if request.query:
                target += "?" + request.query
            return Response(302, b"", {"Location": target, "Content-Type": "text/html; charset=utf-8"})
        return None

    # -- dispatch (shared with batch) -------------------------------------------------------------------------

    def execute(
        self, name: str, params: dict[str, Any], ctx: CallContext, fault: str | None = None
    ) -> tuple[dict[str, Any], int]:
        """Run one method and wrap it in the envelope; errors become error envelopes with their status."""
        portal = self.portal
        t0 = time.perf_counter()
        start_dt = portal.clock.now()
        for key in AUTH_PARAMS:
            params.pop(key, None)
        logged = dict(params)
        caller = ctx.caller if ctx.caller is not None else ctx.user_id
        window = portal.operating_for(caller)
        try:
            meth = METHODS.get(name)
            if meth is None:
                raise METHOD_NOT_FOUND
            if meth.scope not in ctx.scopes and meth.scope != "basic":
                raise insufficient_scope(
                    "webhook" if ctx.via == "webhook" else "access", portal.settings.auth_error_status
                )
            enforce_contract(
                portal, name, params
            )  # the vendor's contract: rejects or drops what a portal would
            now = portal.clock.monotonic()
            limited = portal.settings.operating_enabled and name != "batch"
            if limited and window.blocked(name, now):
                raise OPERATION_LIMIT
            start = params.pop("start", params.pop("START", 0))
            try:
                start_n = int(str(start))
            except (TypeError, ValueError):
                start_n = 0
            params["__start"] = start_n
            h0 = time.perf_counter()
            with portal.lock:
                try:
                    value = meth.handler(portal, params, ctx)
                finally:
                    portal.settle()  # the CRM objects this call read or wrote are packed back (compact.py)
            processing = time.perf_counter() - h0
            if limited:
                window.record(name, now, portal.settings.cost_of(name) or processing)
            body: dict[str, Any]
            if isinstance(value, ListResult):
                body = {"result": value.rows}
                if value.total is not None:
                    body["total"] = value.total
                if value.next is not None:
                    body["next"] = value.next
            else:
                body = {"result": value}
            body["time"] = self.time_block(start_dt, t0, processing, window if limited else None, name)
            portal.record_call(
                Call(
                    portal.unix(),
                    name,
                    logged,
                    200,
                    batch=ctx.in_batch,
                    via=ctx.via,
                    client=ctx.client,
                    fault=fault,
                )
            )
            return body, 200
        except ApiError as err:
            portal.record_call(
                Call(
                    portal.unix(),
                    name,
                    logged,
                    err.status,
                    str(err.code),
                    batch=ctx.in_batch,
                    via=ctx.via,
                    client=ctx.client,
                    fault=fault,
                )
            )
            return err.body(), err.status

    def time_block(
        self, start_dt: datetime, t0: float, processing: float, window: Any, name: str
    ) -> dict[str, Any]:
        """`time`: start/finish (unix floats), duration, processing, ISO dates in the portal offset, and
        `operating`/`operating_reset_at` when the operating limiter is on."""
        portal = self.portal
        elapsed = time.perf_counter() - t0
        start = start_dt.timestamp()
        finish_dt = portal.clock.now()
        finish = max(finish_dt.timestamp(), start + elapsed)
        block: dict[str, Any] = {
            "start": start,
            "finish": finish,
            "duration": finish - start,
            "processing": processing,
            "date_start": start_dt.astimezone(portal.tz).replace(microsecond=0).isoformat(),
            "date_finish": finish_dt.astimezone(portal.tz).replace(microsecond=0).isoformat(),
        }
        if window is not None:
            now = portal.clock.monotonic()
            offset = portal.unix() - now  # monotonic → unix
            block["operating_reset_at"] = int(window.reset_at(name, now) + offset)
            block["operating"] = round(window.used(name, now), 6)
        return block


def host_of(url: str) -> str:
    """The host[:port] of a URL."""
    return urlsplit(url).netloc
