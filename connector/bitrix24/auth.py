"""How calls are authorised: an incoming webhook (the code is in the URL) or an OAuth app with rotating tokens."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

import requests

from connector.clock import Clock
from connector.errors import AuthError, TransientError
from connector.redact import register_secret


class Auth(Protocol):
    """Builds the URL of a method call and the headers it needs."""

    def url(self, method: str) -> str: ...

    def headers(self) -> dict[str, str]: ...

    def refresh(self, session: requests.Session, stale: str | None = None) -> bool:
        """Renew an expired credential; False when this auth cannot be renewed."""
        ...

    def current(self) -> str | None:
        """The credential a request was sent with, so a refresh can tell whether someone else already renewed it."""
        ...

    def ensure(self, session: requests.Session) -> None:
        """Obtain a credential before the first call if there is none yet."""
        ...


class WebhookAuth:
    """`https://PORTAL/rest/USER_ID/CODE/` + method; nothing to refresh."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    def url(self, method: str) -> str:
        return f"{self.base_url}{method}.json"

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self, session: requests.Session, stale: str | None = None) -> bool:
        return False

    def current(self) -> str | None:
        return None

    def ensure(self, session: requests.Session) -> None:
        return None


class OAuthAuth:
    """An OAuth app: Bearer access token; on `expired_token` one refresh at a time, rotated refresh token persisted."""

    def __init__(
        self,
        portal_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        token_url: str,
        store: Path,
        clock: Clock,
        timeout: float = 30.0,
    ) -> None:
        self.portal_url = portal_url if portal_url.endswith("/") else portal_url + "/"
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.store = store
        self.clock = clock
        self.timeout = timeout
        self._lock = threading.Lock()
        self.access_token: str | None = None
        self.refresh_token = refresh_token
        self.refreshes = 0
        self._load()
        register_secret(client_secret)
        register_secret(self.refresh_token)

    def _load(self) -> None:
        """A rotated refresh token saved earlier wins over the one in config (that one has been used up)."""
        try:
            data = json.loads(self.store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict) and data.get("client_id") == self.client_id and data.get("refresh_token"):
            self.refresh_token = str(data["refresh_token"])
            self.access_token = data.get("access_token")
            if self.access_token:
                register_secret(self.access_token)
            if data.get("client_endpoint"):
                self.portal_url = str(data["client_endpoint"])

    def _save(self, payload: dict[str, Any]) -> None:
        self.store.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.store.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "client_id": self.client_id,
                    "refresh_token": self.refresh_token,
                    "access_token": self.access_token,
                    "client_endpoint": payload.get("client_endpoint"),
                    "expires": payload.get("expires"),
                    # The refresh token lives 180 days (settings/oauth/auto-renewal.md): alerts warn before.
                    "refreshed_at": self.clock.now().isoformat(timespec="seconds"),
                },
                fh,
            )
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.store)

    def url(self, method: str) -> str:
        return f"{self.portal_url}{method}.json"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}

    def current(self) -> str | None:
        return self.access_token

    def ensure(self, session: requests.Session) -> None:
        if self.access_token is None:
            self.refresh(session, None)

    def refresh(self, session: requests.Session, stale: str | None = None) -> bool:
        with self._lock:
            if self.access_token is not None and self.access_token != stale:
                return True  # another thread renewed it while we waited
            params = {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": self.refresh_token,
            }
            try:
                resp = session.get(self.token_url, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                raise TransientError(f"cannot reach the OAuth server: {type(exc).__name__}") from None
            try:
                body = resp.json()
            except ValueError:
                raise TransientError(f"the OAuth server answered {resp.status_code} without JSON") from None
            if not isinstance(body, dict) or "access_token" not in body:
                code = body.get("error") if isinstance(body, dict) else None
                if code in ("invalid_grant", "invalid_client", "PAYMENT_REQUIRED"):
                    raise AuthError(
                        f"the OAuth refresh failed ({code}): authorize the application again and put "
                        "the new refresh token in the config"
                    )
                raise TransientError(f"the OAuth server answered {resp.status_code}: {code}")
            self.access_token = str(body["access_token"])
            self.refresh_token = str(body.get("refresh_token") or self.refresh_token)
            register_secret(self.access_token)
            register_secret(self.refresh_token)
            if body.get("client_endpoint"):
                self.portal_url = str(body["client_endpoint"])
            self._save(body)
            self.refreshes += 1
            return True
