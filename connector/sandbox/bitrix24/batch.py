"""`batch`: up to 50 sub-commands run in order, with $result/$next/$total/$time/$error references."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from connector.sandbox.bitrix24.batchrefs import substitute
from connector.sandbox.bitrix24.errors import ApiError
from connector.sandbox.bitrix24.php import parse_str, php_json
from connector.sandbox.bitrix24.portal import CallContext, Portal
from connector.sandbox.bitrix24.registry import method

if TYPE_CHECKING:
    from connector.sandbox.bitrix24.app import Bitrix24App

BATCH_MAX = 50
_APP: dict[int, Bitrix24App] = {}


def bind(portal: Portal, app: Bitrix24App) -> None:
    """Batch sub-calls go through the same dispatch as top-level calls."""
    _APP[id(portal)] = app


@method("batch", "basic")
def batch(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    if ctx.in_batch:
        raise ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
    app = _APP[id(portal)]
    cmd = params.get("cmd")
    if not isinstance(cmd, dict) or not cmd:
        cmd = dict(enumerate(cmd)) if isinstance(cmd, list) else {}
    halt = str(params.get("halt", "0")).lower() in ("1", "true", "y")
    accum: dict[str, dict[str, Any]] = {"result": {}, "error": {}, "total": {}, "next": {}, "time": {}}
    sub_ctx = CallContext(ctx.user_id, ctx.scopes, ctx.via, in_batch=True)
    for n, (key, command) in enumerate(cmd.items()):
        key = str(key)
        if n >= BATCH_MAX:
            accum["error"][key] = {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description":
                                   "Max batch length exceeded"}
            continue
        parts = urlsplit(str(command))
        name = parts.path.strip("/").lower()
        if name.endswith(".json"):
            name = name[:-5]
        sub_params = substitute(parse_str(parts.query), accum)
        if name == "batch":
            accum["error"][key] = {"error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
                                   "error_description": "Method is not allowed for batch usage"}
        else:
            body, status = app.execute(name, sub_params, sub_ctx)  # sequential, under the portal's RLock
            if status == 200:
                accum["result"][key] = body.get("result")
                accum["time"][key] = body.get("time")
                if "total" in body:
                    accum["total"][key] = body["total"]
                if "next" in body:
                    accum["next"][key] = body["next"]
            else:
                accum["error"][key] = body
        if halt and key in accum["error"]:
            break
    return {"result": php_json(accum["result"]), "result_error": php_json(accum["error"]),
            "result_total": php_json(accum["total"]), "result_next": php_json(accum["next"]),
            "result_time": php_json(accum["time"])}
