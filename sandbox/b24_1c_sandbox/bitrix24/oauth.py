"""OAuth for apps: tokens that expire, and a fake `oauth.bitrix.info/oauth/token/` with rotated refresh tokens.

Authorization-server statuses are not documented; 400 for request/grant errors and 401 for a bad client are
assumptions (clients branch on the `error` code).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from b24_1c_sandbox.bitrix24.errors import EXPIRED_TOKEN, INVALID_TOKEN
from b24_1c_sandbox.bitrix24.portal import OAuthApp, Portal, Token


def install_app(
    portal: Portal,
    client_id: str,
    client_secret: str,
    scopes: frozenset[str] = frozenset({"crm", "sale", "user", "task", "im", "basic"}),
) -> OAuthApp:
    """Register an application on the portal (as if installed by the admin)."""
    app = OAuthApp(client_id, client_secret, scopes, application_token=secrets.token_hex(16))
    with portal.lock:
        portal.apps[client_id] = app
    return app


def issue_tokens(portal: Portal, client_id: str, user_id: int = 1, endpoint: str = "") -> dict[str, Any]:
    """A fresh access + refresh token pair, in the JSON shape of the token endpoint (reference §1.2)."""
    app = portal.apps[client_id]
    now = portal.unix()
    access = Token(secrets.token_hex(16), client_id, user_id, now + portal.settings.access_ttl)
    refresh = Token(secrets.token_hex(16), client_id, user_id, now + portal.settings.refresh_ttl)
    with portal.lock:
        portal.access_tokens[access.value] = access
        portal.refresh_tokens[refresh.value] = refresh
    member = hashlib.md5(portal.settings.domain.encode()).hexdigest()
    return {
        "access_token": access.value,
        "client_endpoint": endpoint or f"https://{portal.settings.domain}/rest/",
        "domain": "oauth.bitrix.info",
        "expires": int(access.expires_at),
        "expires_in": int(portal.settings.access_ttl),
        "member_id": member,
        "refresh_token": refresh.value,
        "scope": ",".join(sorted(app.scopes - {"basic"})),
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "status": "F",
        "user_id": user_id,
    }


def resolve(portal: Portal, value: str) -> tuple[Token, OAuthApp]:
    """The token and app behind an access token; 401 invalid_token / expired_token otherwise."""
    with portal.lock:
        token = portal.access_tokens.get(value)
        app = portal.apps.get(token.client_id) if token is not None else None
    if token is None or app is None:
        raise INVALID_TOKEN
    if portal.unix() >= token.expires_at:
        raise EXPIRED_TOKEN
    return token, app


def expire(portal: Portal, value: str | None = None) -> None:
    """Test hook: make one (or every) access token expire now."""
    with portal.lock:
        for token in portal.access_tokens.values():
            if value is None or token.value == value:
                token.expires_at = portal.unix() - 1


def token_endpoint(portal: Portal, params: dict[str, Any], endpoint: str) -> tuple[int, dict[str, Any]]:
    """GET /oauth/token/?grant_type=refresh_token&client_id&client_secret&refresh_token → (status, body)."""
    grant = str(params.get("grant_type", ""))
    if grant != "refresh_token":
        return 400, {"error": "invalid_request", "error_description": "Unsupported grant_type"}
    app = portal.apps.get(str(params.get("client_id", "")))
    if app is None or app.client_secret != str(params.get("client_secret", "")):
        return 401, {"error": "invalid_client", "error_description": "Invalid client credentials"}
    if app.payment_required:
        return 402, {"error": "PAYMENT_REQUIRED", "error_description": "Payment required"}
    with portal.lock:
        token = portal.refresh_tokens.get(str(params.get("refresh_token", "")))
        if (
            token is None
            or token.used
            or token.client_id != app.client_id
            or portal.unix() >= token.expires_at
        ):
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant"}
        token.used = True  # every refresh rotates the refresh token: the old one is spent
    return 200, issue_tokens(portal, app.client_id, token.user_id, endpoint)
