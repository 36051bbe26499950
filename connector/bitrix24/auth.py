"""How calls are authorised: an incoming webhook (the code is in the URL) or an OAuth app."""

from __future__ import annotations

from typing import Protocol

import requests


class Auth(Protocol):
    """Builds the URL of a method call and the headers it needs."""

    def url(self, method: str) -> str: ...

    def headers(self) -> dict[str, str]: ...

    def refresh(self, session: requests.Session) -> bool:
        """Renew an expired credential; False when this auth cannot be renewed."""
        ...


class WebhookAuth:
    """`https://PORTAL/rest/USER_ID/CODE/` + method; nothing to refresh."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"

    def url(self, method: str) -> str:
        return f"{self.base_url}{method}.json"

    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self, session: requests.Session) -> bool:
        return False
