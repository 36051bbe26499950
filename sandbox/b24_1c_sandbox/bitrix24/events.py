"""Events: event.bind/unbind/get, outbound handler POSTs (form-encoded, no retries) and the offline queue
(one record per object, `auth_connector` suppression, reservation under a process id)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import urllib.request
from typing import TYPE_CHECKING, Any

from b24_1c_sandbox.bitrix24.errors import ACCESS_DENIED, APP_CONTEXT_REQUIRED, ApiError
from b24_1c_sandbox.bitrix24.oauth import issue_tokens
from b24_1c_sandbox.bitrix24.php import php_array_to_python
from b24_1c_sandbox.bitrix24.registry import ListResult, method
from b24_1c_sandbox.http import form_encode

if TYPE_CHECKING:
    from b24_1c_sandbox.bitrix24.portal import CallContext, Portal

_STEMS = ("ONCRMDEAL", "ONCRMCOMPANY", "ONCRMCONTACT", "ONCRMDYNAMICITEM", "ONCRMACTIVITY", "ONCRMREQUISITE")
KNOWN_EVENTS = frozenset(
    {s + a for s in _STEMS for a in ("ADD", "UPDATE", "DELETE")}
    | {"ONCRMDEALMOVETOCATEGORY", "ONOFFLINEEVENT", "ONAPPUNINSTALL", "ONAPPINSTALL"}
)


class EventBus:
    """Routes portal changes to online handlers (a background sender) and to offline queues."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.deliveries: list[dict[str, Any]] = []  # every attempted online delivery, for tests
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def emit(self, name: str, data: dict[str, Any], ctx: CallContext) -> None:
        """Called under the portal lock by every change, API-made ones included (hence echo loops)."""
        portal = self.portal
        for binding in list(portal.table("event_handler").values()):
            if binding["event"] != name:
                continue
            if binding["offline"]:
                if ctx.auth_connector and binding["auth_connector"] == ctx.auth_connector:
                    continue  # the connector's own change is not queued back to it
                self._enqueue(binding, name, data, ctx)
            else:
                self._send_later(binding, name, data)

    def _enqueue(self, binding: dict[str, Any], name: str, data: dict[str, Any], ctx: CallContext) -> None:
        portal = self.portal
        queue = portal.table("offline_event")
        message_id = hashlib.md5((name + json.dumps(data, sort_keys=True)).encode()).hexdigest()
        now = portal.iso_now()
        for row in queue.values():
            if (
                row["MESSAGE_ID"] == message_id
                and row["_client"] == binding["client_id"]
                and row["PROCESS_ID"] is None
                and row["ERROR"] == 0
            ):
                row["TIMESTAMP_X"] = now
                row["_seq"] = portal.next_id("offline_seq")
                return
        record_id = portal.next_id("offline_event")
        queue[record_id] = {
            "ID": str(record_id),
            "TIMESTAMP_X": now,
            "EVENT_NAME": name,
            "EVENT_DATA": data,
            "EVENT_ADDITIONAL": {"user_id": str(ctx.user_id)},
            "MESSAGE_ID": message_id,
            "PROCESS_ID": None,
            "ERROR": 0,
            "_client": binding["client_id"],
            "_connector": binding["auth_connector"],
            "_seq": portal.next_id("offline_seq"),
        }

    def _send_later(self, binding: dict[str, Any], name: str, data: dict[str, Any]) -> None:
        portal = self.portal
        app = portal.apps.get(binding["client_id"])
        tokens = issue_tokens(portal, binding["client_id"], int(binding["auth_type"] or 1)) if app else {}
        payload = {
            "event": name,
            "event_handler_id": str(binding["id"]),
            "data": data,
            "ts": str(int(portal.unix())),
            "auth": {
                "access_token": tokens.get("access_token", ""),
                "expires_in": "3600",
                "scope": tokens.get("scope", ""),
                "domain": portal.settings.domain,
                "server_endpoint": "https://oauth.bitrix.info/rest/",
                "status": "F",
                "client_endpoint": f"https://{portal.settings.domain}/rest/",
                "member_id": tokens.get("member_id", ""),
                "application_token": app.application_token if app else "",
            },
        }
        drop = portal.random.random() < portal.settings.event_drop_rate
        thread = threading.Thread(
            target=self._deliver, args=(binding["handler"], payload, drop), daemon=True, name="sandbox-event"
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _deliver(self, url: str, payload: dict[str, Any], drop: bool) -> None:
        if self.portal.settings.event_delay > 0:
            self.portal.clock.sleep(self.portal.settings.event_delay)
        record: dict[str, Any] = {
            "url": url,
            "payload": payload,
            "status": None,
            "error": None,
            "dropped": drop,
        }
        if not drop:
            body = form_encode(payload).encode()
            request = urllib.request.Request(url, body, {"Content-Type": "application/x-www-form-urlencoded"})
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    record["status"] = resp.status
            except Exception as exc:  # no retries: the failure is only logged, as on a portal
                record["error"] = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.deliveries.append(record)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for pending online deliveries (tests)."""
        with self._lock:
            threads = list(self._threads)
            self._threads.clear()
        for thread in threads:
            thread.join(timeout)


def _app_only(ctx: CallContext) -> None:
    if ctx.via != "access" or ctx.client_id is None:
        raise APP_CONTEXT_REQUIRED


def _admin_only(portal: Portal, ctx: CallContext) -> None:
    _app_only(ctx)
    if not portal.users.get(ctx.user_id, {}).get("IS_ADMIN"):
        raise ACCESS_DENIED


@method("event.bind", "basic", write=True)
def event_bind(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Subscribe the app: online (handler URL) or offline (queue, admin only)."""
    _app_only(ctx)
    name = str(params.get("event") or params.get("EVENT") or "").upper()
    if name not in KNOWN_EVENTS:
        raise ApiError(400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    offline = str(params.get("event_type") or "online").lower() == "offline"
    handler = str(params.get("handler") or "")
    if offline:
        _admin_only(portal, ctx)
    elif not handler.startswith(("http://", "https://")):
        raise ApiError(400, "ERROR_HANDLER_URL_MISMATCH", "Handler URL host doesn't match application url")
    table = portal.table("event_handler")
    for row in table.values():
        if (row["event"], row["handler"], row["offline"], row["client_id"]) == (
            name,
            handler,
            offline,
            ctx.client_id,
        ):
            raise ApiError(400, "ERROR_CORE", "Handler already binded")
    handler_id = portal.next_id("event_handler")
    table[handler_id] = {
        "id": handler_id,
        "event": name,
        "handler": handler,
        "offline": offline,
        "auth_type": str(params.get("auth_type") or 0),
        "client_id": ctx.client_id,
        "auth_connector": ctx.auth_connector,
        "options": params.get("options") or {},
    }
    return True


@method("event.unbind", "basic", write=True)
def event_unbind(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, int]:
    """Remove matching bindings of this app → {count: n}."""
    _app_only(ctx)
    name = str(params.get("event") or "").upper()
    handler = params.get("handler")
    table = portal.table("event_handler")
    gone = [
        k
        for k, r in table.items()
        if r["client_id"] == ctx.client_id
        and r["event"] == name
        and (handler is None or r["handler"] == str(handler))
    ]
    for k in gone:
        del table[k]
    return {"count": len(gone)}


@method("event.get", "basic")
def event_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[dict[str, Any]]:
    """This app's bindings."""
    _app_only(ctx)
    return [
        {
            "event": r["event"],
            "handler": r["handler"],
            "auth_type": r["auth_type"],
            "offline": int(r["offline"]),
        }
        for r in portal.table("event_handler").values()
        if r["client_id"] == ctx.client_id
    ]


def _mine(portal: Portal, ctx: CallContext) -> list[dict[str, Any]]:
    rows = [r for r in portal.table("offline_event").values() if r["_client"] == ctx.client_id]
    if ctx.auth_connector:
        rows = [r for r in rows if r["_connector"] == ctx.auth_connector]
    return sorted(rows, key=lambda r: (r["TIMESTAMP_X"], r["_seq"]))


def _public(row: dict[str, Any], extended: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if not k.startswith("_") and k not in ("PROCESS_ID", "ERROR")}
    if extended:
        out.update({"PROCESS_ID": row["PROCESS_ID"], "ERROR": str(row["ERROR"])})
    return out


@method("event.offline.get", "basic", write=True)
def offline_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Up to `limit` records; clear=1 deletes them, clear=0 reserves them under a process id."""
    _admin_only(portal, ctx)
    limit = max(1, min(int(str(params.get("limit") or 50)), 1000))
    clear = str(params.get("clear", "1")) not in ("0", "false", "N")
    want_error = 1 if str(params.get("error", "0")) in ("1", "true", "Y") else 0
    rows = [r for r in _mine(portal, ctx) if r["PROCESS_ID"] is None and r["ERROR"] == want_error][:limit]
    queue = portal.table("offline_event")
    process_id = None
    if clear:
        for r in rows:
            del queue[int(r["ID"])]
    else:
        process_id = str(params.get("process_id") or secrets.token_hex(16))
        for r in rows:
            r["PROCESS_ID"] = process_id
    return {"process_id": process_id, "events": [_public(r) for r in rows]}


def _ids(value: Any) -> set[str]:
    value = php_array_to_python(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else [value]
    return {str(v) for v in items if v not in (None, "")}


@method("event.offline.clear", "basic", write=True)
def offline_clear(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Acknowledge records of a process (all of them, or the listed ids / message ids)."""
    _admin_only(portal, ctx)
    process_id = str(params.get("process_id") or "")
    if not process_id:
        raise ApiError(400, "ERROR_ARGUMENT", "process_id is required", argument="process_id")
    ids, messages = _ids(params.get("id")), _ids(params.get("message_id"))
    queue = portal.table("offline_event")
    for r in [r for r in _mine(portal, ctx) if r["PROCESS_ID"] == process_id]:
        if (not ids and not messages) or r["ID"] in ids or r["MESSAGE_ID"] in messages:
            del queue[int(r["ID"])]
    return True


@method("event.offline.error", "basic", write=True)
def offline_error(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """Mark records of a process as failed (read them back with error=1)."""
    _admin_only(portal, ctx)
    process_id = str(params.get("process_id") or "")
    messages = _ids(params.get("message_id"))
    for r in _mine(portal, ctx):
        if r["PROCESS_ID"] == process_id and (not messages or r["MESSAGE_ID"] in messages):
            r["ERROR"], r["PROCESS_ID"] = 1, None
    return True


@method("event.offline.list", "basic")
def offline_list(portal: Portal, params: dict[str, Any], ctx: CallContext) -> ListResult:
    """Peek at the queue, with PROCESS_ID and ERROR; top-level total."""
    _admin_only(portal, ctx)
    rows = [_public(r, extended=True) for r in _mine(portal, ctx)]
    start = max(0, int(params.get("__start", 0)))
    limit = max(1, min(int(str(params.get("limit") or 50)), 1000))
    return ListResult(
        rows[start : start + limit], len(rows), start + limit if start + limit < len(rows) else None
    )
