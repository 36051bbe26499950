"""`batch`: up to 50 sub-commands run in order, with $result/$next/$total/$time/$error references."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from b24_1c_sandbox.bitrix24.batchrefs import substitute
from b24_1c_sandbox.bitrix24.errors import BATCH_NOT_ALLOWED, BATCH_TOO_LONG
from b24_1c_sandbox.bitrix24.php import parse_str, php_json
from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import METHODS, method

if TYPE_CHECKING:
    from b24_1c_sandbox.bitrix24.app import Bitrix24App

BATCH_MAX = 50
NOT_IN_BATCH = frozenset({"batch", "disk.folder.uploadfile", "download"})
_APP: dict[int, Bitrix24App] = {}


def bind(portal: Portal, app: Bitrix24App) -> None:
    """Batch sub-calls go through the same dispatch as top-level calls."""
    _APP[id(portal)] = app


def _commands(params: dict[str, Any]) -> dict[str, Any]:
    cmd = params.get("cmd")
    if isinstance(cmd, list):
        return {str(i): c for i, c in enumerate(cmd)}
    return {str(k): v for k, v in cmd.items()} if isinstance(cmd, dict) else {}


def _method_of(command: Any) -> tuple[str, str]:
    parts = urlsplit(str(command))
    name = parts.path.strip("/").lower()
    if name.endswith(".json"):
        name = name[:-5]
    return name, parts.query


def has_writes(params: dict[str, Any]) -> bool:
    """Whether any sub-command writes (so a lost reply can hide a commit)."""
    for command in list(_commands(params).values())[:BATCH_MAX]:
        meth = METHODS.get(_method_of(command)[0])
        if meth is not None and meth.write:
            return True
    return False


@method("batch", "basic")
def batch(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, Any]:
    """Run the commands sequentially; per-command results and errors in PHP-shaped sections."""
    if ctx.in_batch:
        raise BATCH_NOT_ALLOWED
    app = _APP[id(portal)]
    halt = str(params.get("halt", "0")).lower() in ("1", "true", "y")
    accum: dict[str, dict[str, Any]] = {"result": {}, "error": {}, "total": {}, "next": {}, "time": {}}
    sub_ctx = replace(ctx, in_batch=True)
    for n, (key, command) in enumerate(_commands(params).items()):
        if n >= BATCH_MAX:
            # The portal does not run commands past the 50th; each gets its own error.
            accum["error"][key] = BATCH_TOO_LONG.body()
            continue
        name, query = _method_of(command)
        sub_params = substitute(parse_str(query), accum)
        if name in NOT_IN_BATCH:
            accum["error"][key] = BATCH_NOT_ALLOWED.body()
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
    return {
        "result": php_json(accum["result"]),
        "result_error": php_json(accum["error"]),
        "result_total": php_json(accum["total"]),
        "result_next": php_json(accum["next"]),
        "result_time": php_json(accum["time"]),
    }
