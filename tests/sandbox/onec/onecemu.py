"""Helpers and fixtures: a 1C publication on 127.0.0.1 holding the reference §10 scenario plus a small generated dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests
from b24_1c_sandbox.dataset import Dataset, reference_scenario
from b24_1c_sandbox.http import HTTPService
from b24_1c_sandbox.onec.app import ODataApp
from b24_1c_sandbox.onec.infobase import Infobase

USER, PASSWORD = "Администратор", "sandbox"
NOW = datetime(2025, 3, 14, 12, 0, 0)


@dataclass
class OneC:
    """A running publication and helpers to call it."""

    ib: Infobase
    app: ODataApp
    service: HTTPService
    session: requests.Session
    refs: dict[str, str]
    data: Dataset

    @property
    def root(self) -> str:
        return f"{self.service.url}/ut/odata/standard.odata/"

    @property
    def ws(self) -> str:
        return f"{self.service.url}/ut/ws/"

    def get(self, resource: str, **params: Any) -> requests.Response:
        return self.session.get(self.root + resource, params=params or None, timeout=10)

    def json(self, resource: str, **params: Any) -> Any:
        resp = self.get(resource, **{"$format": "json", **params})
        assert resp.status_code == 200, resp.text
        return resp.json()

    def post(
        self, resource: str, body: Any = None, headers: dict[str, str] | None = None, **params: Any
    ) -> requests.Response:
        return self.session.post(
            self.root + resource, params={"$format": "json", **params}, json=body, headers=headers, timeout=10
        )

    def patch(self, resource: str, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
        return self.session.patch(
            self.root + resource, params={"$format": "json"}, json=body, headers=headers, timeout=10
        )


def session(user: str = USER, password: str = PASSWORD) -> requests.Session:
    """A session with UTF-8 Basic credentials (requests cannot latin-1 encode Cyrillic str)."""
    s = requests.Session()
    s.auth = (user.encode(), password.encode())
    return s


def error_of(resp: requests.Response) -> tuple[int, str, str]:
    """(status, odata.error code, message) of an error response."""
    err = resp.json()["odata.error"]
    return resp.status_code, err["code"], err["message"]["value"]


def start(profile: str = "ut11.5", orders: int = 40, seed: int = 5) -> OneC:
    ib = Infobase(profile, users={USER: PASSWORD})
    ib.now = lambda: NOW
    refs = reference_scenario(ib)
    data = Dataset(ib, seed=seed, now=NOW).catalogs(12, 10)
    data.money_flows(data.orders(orders))
    app = ODataApp(ib, "ut")
    service = HTTPService(app).start()
    return OneC(ib, app, service, session(), refs, data)


@pytest.fixture
def onec() -> Iterator[OneC]:
    box = start()
    try:
        yield box
    finally:
        box.session.close()
        box.service.stop()


@pytest.fixture
def onec_profile() -> Iterator[Callable[[str], OneC]]:
    boxes: list[OneC] = []

    def make(profile: str) -> OneC:
        boxes.append(start(profile))
        return boxes[-1]

    yield make
    for box in boxes:
        box.session.close()
        box.service.stop()
