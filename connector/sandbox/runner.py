"""Starts both emulators on 127.0.0.1 with a dataset; used by `b24-1c sandbox`, the demo, tests and benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connector.clock import Clock, SystemClock
from connector.sandbox.bitrix24.app import Bitrix24App
from connector.sandbox.bitrix24.portal import Portal, Settings, Webhook
from connector.sandbox.dataset import Dataset, generate
from connector.sandbox.faults import FaultInjector
from connector.sandbox.http import HTTPService
from connector.sandbox.onec.app import ODataApp
from connector.sandbox.onec.infobase import Infobase

WEBHOOK_USER = 1
WEBHOOK_CODE = "sandboxwebhookcode"
ONEC_USER = "Администратор"
ONEC_PASSWORD = "sandbox"
ONEC_BASE = "ut"


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


class Sandbox:
    """A Bitrix24 portal and a 1C publication, each a real HTTP server on loopback."""

    def __init__(self, options: SandboxOptions | None = None, clock: Clock | None = None) -> None:
        self.options = options or SandboxOptions()
        self.clock = clock or SystemClock()
        o = self.options
        self.portal = Portal(Settings(plan=o.rate_limit, scale=o.scale), self.clock, seed=o.seed)
        self.portal.webhooks[WEBHOOK_USER] = Webhook(WEBHOOK_USER, WEBHOOK_CODE)
        self.portal.faults = o.bitrix24_faults
        self.infobase = Infobase(users={ONEC_USER: ONEC_PASSWORD})
        self.dataset: Dataset | None = None
        loaded = False
        if o.state_dir is not None:
            o.state_dir.mkdir(parents=True, exist_ok=True)
            loaded = self.infobase.load(o.state_dir / "onec.json")
            self.portal.load(o.state_dir / "bitrix24.json")
        if not loaded:
            self.dataset = generate(self.infobase, o.orders, seed=o.seed, now=o.now)
        self.b24_app = Bitrix24App(self.portal)
        self.onec_app = ODataApp(self.infobase, ONEC_BASE, o.onec_faults)
        self._b24: HTTPService | None = None
        self._onec: HTTPService | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> Sandbox:
        self._b24 = HTTPService(self.b24_app, self.options.bitrix24_port).start()
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

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def webhook_url(self) -> str:
        assert self._b24 is not None, "start() the sandbox first"
        return f"{self._b24.url}/rest/{WEBHOOK_USER}/{WEBHOOK_CODE}/"

    @property
    def odata_url(self) -> str:
        assert self._onec is not None, "start() the sandbox first"
        return f"{self._onec.url}/{ONEC_BASE}/odata/standard.odata/"

    def env(self) -> dict[str, str]:
        """Environment variables that point config.example.yaml at this sandbox."""
        return {"B24_WEBHOOK_URL": self.webhook_url, "ONEC_ODATA_URL": self.odata_url, "ONEC_USER": ONEC_USER,
                "ONEC_PASSWORD": ONEC_PASSWORD, "B24_PLAN": self.options.rate_limit}
