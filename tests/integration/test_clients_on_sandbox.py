"""The production clients against the emulators: OAuth refresh with rotation, and 1C's licence-bounded concurrency."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from connector.bitrix24.auth import OAuthAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import ManualClock
from connector.errors import AuthError
from connector.onec.odata import ODataClient

pytestmark = pytest.mark.integration


def test_oauth_refreshes_on_expiry_persists_rotation_and_the_used_token_is_dead(tmp_path: Path) -> None:
    from b24_1c_sandbox.runner import OAUTH_CLIENT_SECRET, Sandbox, SandboxOptions

    clock = ManualClock()
    with Sandbox(SandboxOptions(orders=1, rate_limit="off"), clock=clock) as box:
        first = box.oauth_tokens()
        store = tmp_path / "oauth.json"
        token_url = f"{box.portal_url}/oauth/token/"
        auth = OAuthAuth(
            f"{box.portal_url}/rest/",
            box.oauth_app.client_id,
            OAUTH_CLIENT_SECRET,
            first["refresh_token"],
            token_url,
            store,
            clock,
        )
        client = Bitrix24Client(requests.Session(), auth, clock, None)
        assert client.call("crm.deal.add", {"fields": {"TITLE": "OAuth"}}, write=True).result
        assert auth.refreshes == 1  # no access token at start: one refresh
        clock.advance(3700)  # the access token expires after an hour of portal time
        assert client.call("crm.deal.list", {"select": ["ID"]}).result
        assert auth.refreshes == 2
        saved = json.loads(store.read_text())
        assert saved["refresh_token"] == auth.refresh_token != first["refresh_token"]
        stale = OAuthAuth(
            f"{box.portal_url}/rest/",
            box.oauth_app.client_id,
            OAUTH_CLIENT_SECRET,
            first["refresh_token"],
            token_url,
            tmp_path / "other.json",
            clock,
        )
        with pytest.raises(AuthError, match="authorize the application again"):
            Bitrix24Client(requests.Session(), stale, clock, None).call("crm.deal.list", {})
        restarted = OAuthAuth(
            f"{box.portal_url}/rest/",
            box.oauth_app.client_id,
            OAUTH_CLIENT_SECRET,
            first["refresh_token"],
            token_url,
            store,
            clock,
        )  # config still has the old one
        assert Bitrix24Client(requests.Session(), restarted, clock, None).call("crm.deal.list", {}).result


class _CountingSession(requests.Session):
    """Holds every request until released, counting how many are in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.release = threading.Event()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.release.wait(timeout=5)
            return super().request(method, url, *args, **kwargs)
        finally:
            with self.lock:
                self.active -= 1


def test_1c_requests_never_exceed_the_licences_configured(sandbox: Any) -> None:
    session = _CountingSession()
    client = ODataClient(
        session,
        sandbox.odata_url,
        "Администратор",
        "sandbox",
        ZoneInfo("Europe/Moscow"),
        ManualClock(),
        max_connections=2,
    )
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(len(client.query("Catalog_Валюты")))) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for _ in range(200):  # bounded: wait until two requests are held
        with session.lock:
            if session.active >= 2:
                break
        threading.Event().wait(0.01)
    session.release.set()
    for t in threads:
        t.join(timeout=10)
    assert results == [3] * 6 and session.peak == 2
