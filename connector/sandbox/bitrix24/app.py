"""HTTP front of the portal: routes, auth, parameters, limits, faults, dispatch and the response envelope."""

from __future__ import annotations

import re
import time
from typing import Any

from connector.sandbox.bitrix24 import batch as _batch  # noqa: F401  (registers `batch`)
from connector.sandbox.bitrix24 import deals as _deals  # noqa: F401  (registers crm.deal.*)
from connector.sandbox.bitrix24.errors import (
    HTTPS_REQUIRED,
    INVALID_CREDENTIALS,
    METHOD_NOT_FOUND,
    NO_AUTH,
    OPERATION_LIMIT,
    OVERLOAD,
    QUERY_LIMIT,
    ApiError,
    insufficient_scope,
)
from connector.sandbox.bitrix24.php import merge_params, parse_body, parse_str
from connector.sandbox.bitrix24.portal import Call, CallContext, Portal
from connector.sandbox.bitrix24.registry import METHODS, ListResult
from connector.sandbox.faults import GATEWAY_PAGE
from connector.sandbox.http import Request, Response

_WEBHOOK = re.compile(r"^/rest/(\d+)/([^/]+)/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
_OAUTH = re.compile(r"^/rest/([A-Za-z0-9_.]+?)(?:\.(json|xml))?/?$")
AUTH_PARAMS = ("auth", "access_token", "auth_connector")


class Bitrix24App:
    """A WSGI-like callable: Request → Response."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        _batch.bind(portal, self)

    def __call__(self, request: Request) -> Response:
        started = self.portal.clock.now()
        t0 = time.perf_counter()
        try:
            return self._handle(request, started, t0)
        except ApiError as err:
            return Response.json(err.body(), err.status)

    def _handle(self, request: Request, started: Any, t0: float) -> Response:
        portal = self.portal
        m = _WEBHOOK.match(request.path)
        if not m:
            if _OAUTH.match(request.path):
                raise NO_AUTH
            return Response.text("Not Found", 404, "text/html; charset=utf-8")
        user_id, code, name = int(m.group(1)), m.group(2), m.group(3).lower()
        if portal.settings.https_required and not request.secure:
            raise HTTPS_REQUIRED
        params = merge_params(parse_str(request.query), parse_body(request.headers.get("content-type"),
                                                                     request.body))
        for key in AUTH_PARAMS:
            params.pop(key, None)
        hook = portal.webhooks.get(user_id)
        if hook is None or hook.code != code:
            raise ApiError(portal.settings.auth_error_status, INVALID_CREDENTIALS.code, INVALID_CREDENTIALS.description)
        with portal.lock:
            bucket_ok = portal.bucket is None or portal.bucket.admit(portal.clock.monotonic())
        if not bucket_ok:
            portal.record_call(Call(time.time(), name, {}, 503, "QUERY_LIMIT_EXCEEDED"))
            raise QUERY_LIMIT
        meth = METHODS.get(name)
        fault = portal.faults.pick(name, bool(meth and meth.write)) if portal.faults is not None else None
        if fault is not None and fault != "lost_reply":
            pre = self._fault_before(fault, name)
            if pre is not None:
                return pre
        ctx = CallContext(user_id, hook.scopes, started=t0)
        result, status = self.execute(name, params, ctx)
        if fault == "lost_reply":
            return Response(fault="reset")
        if status != 200:
            return Response.json(result, status)
        return Response.json(result, 200)

    def _fault_before(self, fault: str, name: str) -> Response | None:
        if fault == "latency":
            self.portal.clock.sleep(self.portal.faults.latency)
            return None
        if fault == "error500":
            return Response.json({"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}, 500)
        if fault in ("html502", "html504"):
            code, title = (502, "Bad Gateway") if fault == "html502" else (504, "Gateway Time-out")
            return Response.text(GATEWAY_PAGE.format(code=code, title=title), code, "text/html")
        if fault == "reset":
            return Response(fault="reset")
        if fault == "overload":
            return Response.json(OVERLOAD.body(), OVERLOAD.status)
        if fault == "redirect":
            return Response(302, b"", {"Location": "https://moved.example.bitrix24.ru/rest/"})
        return None

    # -- dispatch (shared with batch) ---------------------------------------------------------------------------

    def execute(self, name: str, params: dict[str, Any], ctx: CallContext) -> tuple[dict[str, Any], int]:
        """Run one method and wrap it in the envelope; errors become error envelopes with their status."""
        portal = self.portal
        t0 = time.perf_counter()
        start_dt = portal.clock.now()
        try:
            meth = METHODS.get(name)
            if meth is None:
                raise METHOD_NOT_FOUND
            if meth.scope not in ctx.scopes and meth.scope != "basic":
                raise insufficient_scope(ctx.via)
            window = portal.operating_for(ctx.user_id)
            now = portal.clock.monotonic()
            if portal.settings.operating_enabled and window.blocked(name, now):
                raise OPERATION_LIMIT
            start = params.pop("start", 0)
            try:
                start_n = int(start)
            except (TypeError, ValueError):
                start_n = 0
            params["__start"] = start_n
            with portal.lock:
                value = meth.handler(portal, params, ctx)
            cost = portal.settings.method_cost.get(name, portal.settings.default_cost) or \
                (time.perf_counter() - t0)
            if name != "batch":
                window.record(name, now, cost)
            body: dict[str, Any]
            if isinstance(value, ListResult):
                body = {"result": value.rows}
                if value.total is not None:
                    body["total"] = value.total
                if value.next is not None:
                    body["next"] = value.next
            else:
                body = {"result": value}
            body["time"] = self.time_block(start_dt, t0, window, name)
            portal.record_call(Call(time.time(), name, params, 200, batch=ctx.in_batch))
            return body, 200
        except ApiError as err:
            portal.record_call(Call(time.time(), name, params, err.status, str(err.code), batch=ctx.in_batch))
            return err.body(), err.status

    def time_block(self, start_dt: Any, t0: float, window: Any, name: str) -> dict[str, Any]:
        portal = self.portal
        elapsed = time.perf_counter() - t0
        start = start_dt.timestamp()
        block = {"start": start, "finish": start + elapsed, "duration": elapsed, "processing": elapsed,
                 "date_start": start_dt.astimezone(portal.tz).replace(microsecond=0).isoformat(),
                 "date_finish": portal.now().isoformat()}
        if portal.settings.operating_enabled and portal.settings.plan != "off":
            now = portal.clock.monotonic()
            offset = start - now  # monotonic → unix
            block["operating_reset_at"] = int(window.reset_at(name, now) + offset)
            block["operating"] = round(window.used(name, now), 6)
        return block
