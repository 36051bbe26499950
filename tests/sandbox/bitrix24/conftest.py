"""Fixtures for the Bitrix24 emulator tests: a portal on 127.0.0.1 driven by a ManualClock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from b24_1c_sandbox.bitrix24.app import Bitrix24App
from b24_1c_sandbox.bitrix24.oauth import install_app, issue_tokens
from b24_1c_sandbox.bitrix24.portal import OAuthApp, Portal, Settings, Webhook
from b24_1c_sandbox.http import HTTPService

from connector.clock import ManualClock

CODE = "testwebhookcode"


@dataclass
class Emu:
    """A running emulated portal plus helpers to call it over HTTP."""

    portal: Portal
    service: HTTPService
    clock: ManualClock
    app: OAuthApp
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def base(self) -> str:
        return self.service.url

    @property
    def hook(self) -> str:
        return f"{self.service.url}/rest/1/{CODE}/"

    def post(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        return self.session.post(self.hook + method, json=params or {}, timeout=10, **kw)

    def call(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
        """Status and decoded body of a webhook call (JSON POST)."""
        resp = self.post(method, params)
        return resp.status_code, resp.json()

    def ok(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The `result` of a call that must succeed."""
        status, body = self.call(method, params)
        assert status == 200, body
        return body["result"]

    def tokens(self, user_id: int = 1) -> dict[str, Any]:
        return issue_tokens(self.portal, self.app.client_id, user_id, f"{self.base}/rest/")

    def as_app(self, method: str, params: dict[str, Any] | None, token: str) -> tuple[int, Any]:
        resp = self.session.post(
            f"{self.base}/rest/{method}", json={**(params or {}), "auth": token}, timeout=10
        )
        return resp.status_code, resp.json()


def start_emu(settings: Settings | None = None) -> Emu:
    """A portal (limits off unless the settings say otherwise) with webhook user 1 and one OAuth app."""
    clock = ManualClock()
    portal = Portal(settings or Settings(plan="off"), clock, seed=3)
    portal.webhooks[1] = Webhook(1, CODE)
    portal.webhooks[2] = Webhook(2, "crmonly", frozenset({"crm"}))
    app = install_app(portal, "local.test.app", "secret")
    service = HTTPService(Bitrix24App(portal)).start()
    return Emu(portal, service, clock, app)


@pytest.fixture
def emu() -> Iterator[Emu]:
    box = start_emu()
    try:
        yield box
    finally:
        box.session.close()
        box.service.stop()


@pytest.fixture
def make_emu() -> Iterator[Callable[[Settings], Emu]]:
    started: list[Emu] = []

    def make(settings: Settings) -> Emu:
        box = start_emu(settings)
        started.append(box)
        return box

    yield make
    for box in started:
        box.session.close()
        box.service.stop()
