"""Starts both emulators on 127.0.0.1 with a dataset; used by `b24-1c sandbox`, the demo, tests and benchmarks."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from b24_1c_sandbox.allocator import ALLOCATOR
from b24_1c_sandbox.bitrix24.app import Bitrix24App
from b24_1c_sandbox.bitrix24.oauth import install_app, issue_tokens
from b24_1c_sandbox.bitrix24.portal import Portal, Settings, Webhook
from b24_1c_sandbox.clock import Clock, SystemClock
from b24_1c_sandbox.dataset import Dataset, generate
from b24_1c_sandbox.degraded import Degraded, degrade
from b24_1c_sandbox.faults import FaultInjector
from b24_1c_sandbox.http import HTTPService, LocalTLS, local_tls
from b24_1c_sandbox.onec.app import ODataApp
from b24_1c_sandbox.onec.infobase import Infobase

WEBHOOK_USER = 1
WEBHOOK_CODE = "sandboxwebhookcode"
ONEC_USER = "Администратор"
ONEC_PASSWORD = "sandbox"
ONEC_BASE = "ut"
OAUTH_CLIENT_ID = "local.sandbox0000000000.00000000"
OAUTH_CLIENT_SECRET = "sandboxsecret"


@dataclass
class SandboxOptions:
    """Everything `b24-1c sandbox` can set."""

    bitrix24_port: int = 0
    onec_port: int = 0
    orders: int = 500
    seed: int = 7
    rate_limit: str = "standard"
    scale: float = 1.0
    state_dir: Path | None = None
    bitrix24_faults: FaultInjector | None = None
    onec_faults: FaultInjector | None = None
    now: datetime | None = None
    tls: bool = False  # serve the portal over HTTPS with a generated 127.0.0.1 certificate
    https_required: bool = False  # webhooks over plain HTTP answer 400 INVALID_REQUEST
    budget_scale: float = 1.0  # multiply the per-method operating-time budget
    operating_enabled: bool = True  # cloud: the operating limiter is on
    offset_hours: int = 3  # portal time zone
    method_cost: dict[str, float] | None = None  # simulated seconds per call, per method
    oauth_client_id: str = OAUTH_CLIENT_ID
    onec_profile: str = "ut11.5"  # ut11.5 | ut11.4 | bp3.0
    onec_timezone: str = "Europe/Moscow"  # the 1C server's zone: its dates are naive local time there
    degraded: Degraded | None = None  # start not ready for go-live: a missing scope, field, publication...


class Sandbox:
    """A Bitrix24 portal and a 1C publication, each a real HTTP server on loopback."""

    def __init__(self, options: SandboxOptions | None = None, clock: Clock | None = None) -> None:
        self.options = options or SandboxOptions()
        self.clock = clock or SystemClock()
        o = self.options
        if o.rate_limit not in ("standard", "enterprise", "off"):
            raise ValueError(f"unknown plan '{o.rate_limit}' (known: standard, enterprise, off)")
        settings = Settings(
            plan=o.rate_limit,
            scale=o.scale,
            budget_scale=o.budget_scale,
            operating_enabled=o.operating_enabled,
            offset_hours=o.offset_hours,
            https_required=o.https_required,
            method_cost=dict(o.method_cost or {}),
        )
        self.portal = Portal(settings, self.clock, seed=o.seed)
        self.portal.webhooks[WEBHOOK_USER] = Webhook(WEBHOOK_USER, WEBHOOK_CODE)
        self.portal.faults = o.bitrix24_faults
        self.oauth_app = install_app(self.portal, o.oauth_client_id, OAUTH_CLIENT_SECRET)
        self.tls: LocalTLS | None = None
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.infobase = Infobase(
            o.onec_profile, users={ONEC_USER: ONEC_PASSWORD}, timezone=o.onec_timezone, clock=self.clock
        )
        self.dataset: Dataset | None = None
        loaded = False
        if o.state_dir is not None:
            o.state_dir.mkdir(parents=True, exist_ok=True)
            loaded = self.infobase.load(o.state_dir / "onec.json")
            self.portal.load(o.state_dir / "bitrix24.json")
        if not loaded:
            self.dataset = generate(self.infobase, o.orders, seed=o.seed, now=o.now)
            _mirror_staff(self.portal, self.infobase)
        if o.degraded is not None:
            degrade(self, o.degraded)
        self.b24_app = Bitrix24App(self.portal)
        self.onec_app = ODataApp(self.infobase, ONEC_BASE, o.onec_faults)
        self._b24: HTTPService | None = None
        self._onec: HTTPService | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> Sandbox:
        ALLOCATOR.limit_arenas()  # the request threads share a few malloc arenas (allocator.py)
        context = None
        if self.options.tls:
            if self.options.state_dir is not None:
                cert_dir = self.options.state_dir / "tls"
            else:
                self._tls_dir = tempfile.TemporaryDirectory(prefix="b24-1c-tls-")
                cert_dir = Path(self._tls_dir.name)
            self.tls = local_tls(cert_dir)
            context = self.tls.context
        self._b24 = HTTPService(self.b24_app, self.options.bitrix24_port, tls=context).start()
        self.portal.settings.domain = f"127.0.0.1:{self._b24.port}"
        self._onec = HTTPService(self.onec_app, self.options.onec_port).start()
        if self.options.state_dir is not None:
            self._saver = threading.Thread(target=self._save_loop, daemon=True, name="sandbox-saver")
            self._saver.start()
        return self

    def _save_loop(self) -> None:
        while not self._stopping.wait(5.0):
            self.save()

    def save(self) -> None:
        if self.options.state_dir is not None:
            self.infobase.save(self.options.state_dir / "onec.json")
            self.portal.save(self.options.state_dir / "bitrix24.json")

    def stop(self) -> None:
        self._stopping.set()
        for service in (self._b24, self._onec):
            if service is not None:
                service.stop()
        self.save()
        if self.portal.events is not None:
            self.portal.events.flush(timeout=1.0)
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def webhook_url(self) -> str:
        assert self._b24 is not None, "start() the sandbox first"
        return f"{self._b24.url}/rest/{WEBHOOK_USER}/{WEBHOOK_CODE}/"

    @property
    def portal_url(self) -> str:
        """https://127.0.0.1:PORT (or http://) of the Bitrix24 emulator."""
        assert self._b24 is not None, "start() the sandbox first"
        return self._b24.url

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients must trust in TLS mode (e.g. REQUESTS_CA_BUNDLE)."""
        return self.tls.ca_file if self.tls is not None else None

    def oauth_tokens(self, user_id: int = WEBHOOK_USER) -> dict[str, Any]:
        """A fresh token pair for the sandbox app, as the token endpoint returns it."""
        return issue_tokens(self.portal, self.oauth_app.client_id, user_id, f"{self.portal_url}/rest/")

    @property
    def odata_url(self) -> str:
        assert self._onec is not None, "start() the sandbox first"
        return f"{self._onec.url}/{ONEC_BASE}/odata/standard.odata/"

    def env(self) -> dict[str, str]:
        """Environment variables that point config.example.yaml at this sandbox."""
        ws = self.odata_url.replace("/odata/standard.odata/", "/ws/CrmExchange.1cws")
        return {
            "B24_WEBHOOK_URL": self.webhook_url,
            "ONEC_ODATA_URL": self.odata_url,
            "ONEC_USER": ONEC_USER,
            "ONEC_SOAP_URL": ws + "?wsdl",
            "ONEC_SOAP_ENDPOINT": ws,
            "ONEC_PASSWORD": ONEC_PASSWORD,
            "ONEC_TIMEZONE": self.options.onec_timezone,
            "B24_PLAN": self.options.rate_limit,
        }


def _mirror_staff(portal: Portal, infobase: Infobase) -> None:
    """Most 1C managers also work in Bitrix24 under the same e-mail (the last two do not: they must be matched by
    table or stay unmatched), as in a real company."""
    staff = [u for u in infobase.all("Catalog_Пользователи") if u.get("АдресЭлектроннойПочты")]
    next_id = max(portal.users, default=0) + 1
    for user in staff[: max(0, len(staff) - 2)]:
        last, _, first = str(user["Description"]).partition(" ")
        portal.users[next_id] = {
            **next(iter(portal.users.values()), {}),
            "ID": str(next_id),
            "ACTIVE": True,
            "NAME": first,
            "LAST_NAME": last,
            "EMAIL": user["АдресЭлектроннойПочты"].upper(),
            "WORK_POSITION": "Менеджер по продажам",
            "IS_ADMIN": False,
        }
        next_id += 1
