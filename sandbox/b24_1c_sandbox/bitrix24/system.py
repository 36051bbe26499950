"""The portal's own methods a go-live check calls: `scope`, `method.get`, `user.admin`, `server.time`.

Docs (bitrix-tools/b24-rest-docs): api-reference/common/system/scope.md, …/system/method-get.md,
…/users/user-admin.md, …/system/server-time.md. All four need only the basic scope and answer any user.
"""

from __future__ import annotations

from typing import Any

from b24_1c_sandbox.bitrix24.portal import CallContext, Portal
from b24_1c_sandbox.bitrix24.registry import METHODS, method


@method("scope", "basic")
def scope(portal: Portal, params: dict[str, Any], ctx: CallContext) -> list[str]:
    """The caller's granted scopes (`full=true`: every scope the portal knows)."""
    if str(params.get("full", "")).lower() in ("true", "1", "y"):
        return sorted({m.scope for m in METHODS.values()} - {"basic"})
    return sorted(set(ctx.scopes) - {"basic"})


@method("method.get", "basic")
def method_get(portal: Portal, params: dict[str, Any], ctx: CallContext) -> dict[str, bool]:
    """Whether a method exists on this portal and whether the caller's scopes allow it."""
    name = str(params.get("name") or "").strip().lower()
    found = METHODS.get(name) if name else None
    available = found is not None and (found.scope == "basic" or found.scope in ctx.scopes)
    return {"isExisting": found is not None, "isAvailable": available}


@method("user.admin", "basic")
def user_admin(portal: Portal, params: dict[str, Any], ctx: CallContext) -> bool:
    """True when the calling user may manage the portal's applications (an administrator)."""
    return bool(portal.users.get(ctx.user_id, {}).get("IS_ADMIN"))


@method("server.time", "basic")
def server_time(portal: Portal, params: dict[str, Any], ctx: CallContext) -> str:
    """The portal's current time as YYYY-MM-DDThh:mm:ss±hh:mm (its own offset)."""
    return portal.iso_now()
