"""Failure knobs (reference checklist 24-26) and the production OData client used unchanged against the emulator."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest
import requests
from b24_1c_sandbox.faults import FaultInjector
from onecemu import OneC, error_of, session

from connector.clock import SystemClock
from connector.errors import AuthError, RemoteRejected, StopRun
from connector.onec.odata import ODataClient


def test_latency_grows_with_skip_depth(onec: OneC) -> None:
    slept: list[float] = []
    onec.app.sleep = slept.append
    onec.app.knobs.latency, onec.app.knobs.latency_per_1000_skipped = 0.01, 0.5
    onec.json("Catalog_Валюты")
    onec.json("Document_ЗаказКлиента", **{"$skip": "2000", "$top": "1"})
    assert slept == [0.01, pytest.approx(1.01)]


def test_random_5xx_come_from_the_fault_injector(onec: OneC) -> None:
    onec.app.faults = FaultInjector({"error500": 0.5}, seed=3)
    statuses = [onec.get("Catalog_Валюты", **{"$format": "json"}).status_code for _ in range(40)]
    assert set(statuses) == {200, 500}
    onec.app.faults = FaultInjector(seed=1)
    onec.app.faults.force("html502")
    resp = onec.get("Catalog_Валюты", **{"$format": "json"})
    assert resp.status_code == 502 and "nginx" in resp.text


def test_lock_conflicts_are_business_errors(onec: OneC) -> None:
    onec.app.forced_lock_conflicts = 1
    key = f"Document_ЗаказКлиента(guid'{onec.refs['order']}')"
    status, code, text = error_of(onec.post(key + "/Post"))
    assert (status, code) == (500, "-1") and "Конфликт блокировок" in text
    assert onec.post(key + "/Post").status_code == 200


def test_account_is_locked_after_repeated_bad_passwords(onec: OneC) -> None:
    onec.app.gate.settings.lockout_after = 3
    bad = session("Администратор", "нет")
    assert [bad.get(onec.root, timeout=10).status_code for _ in range(3)] == [401, 401, 401]
    assert onec.get("Catalog_Валюты").status_code == 401  # now even the right password is refused
    onec.app.gate.unlock("Администратор")
    assert onec.get("Catalog_Валюты").status_code == 200


def test_per_user_session_limit_refuses_extra_concurrent_requests(onec: OneC) -> None:
    onec.app.gate.settings.max_sessions_per_user = 1
    assert onec.app.gate.acquire("Администратор") is None  # another session holds the only licence
    try:
        resp = onec.get("Catalog_Валюты")
        assert resp.status_code == 503 and "Превышено максимальное количество" in resp.text
    finally:
        onec.app.gate.release("Администратор")
    assert onec.get("Catalog_Валюты").status_code == 200


def test_concurrent_writes_keep_data_versions_unique(onec: OneC) -> None:
    key = f"Document_ЗаказКлиента(guid'{onec.refs['order']}')"
    versions: list[str] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        with session() as s:
            v = s.patch(onec.root + key + "?$format=json", json={"Комментарий": str(i)}, timeout=10).json()
        with lock:
            versions.append(v["DataVersion"])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(set(versions)) == 8


def _client(onec: OneC, user: str = "Администратор", password: str = "sandbox") -> ODataClient:
    return ODataClient(
        requests.Session(),
        onec.root,
        user,
        password,
        ZoneInfo("Europe/Moscow"),
        SystemClock(),
        timeout=10,
        max_attempts=1,
    )


def test_production_client_reads_pages_writes_and_posts(onec: OneC) -> None:
    client = _client(onec)
    pages = list(
        client.pages(
            "Document_ЗаказКлиента",
            filter=None,
            orderby="Date asc,Ref_Key asc",
            page_size=7,
            select=["Ref_Key", "Date"],
        )
    )
    assert sum(len(rows) for _, rows in pages) == len(onec.ib.all("Document_ЗаказКлиента"))
    assert client.count("Document_ЗаказКлиента") == len(onec.ib.all("Document_ЗаказКлиента"))
    assert client.get("Document_ЗаказКлиента", onec.refs["order"])["Number"] == "ЦБ00-000125"
    created = client.create(
        "Document_ЗаказКлиента",
        {
            "Date": "2025-03-14T10:00:00",
            "Организация_Key": onec.refs["organization"],
            "Контрагент_Key": onec.refs["counterparty"],
            "Товары": [
                {"Номенклатура_Key": onec.refs["product_a"], "Количество": 1, "Цена": 10, "Сумма": 10}
            ],
        },
    )
    client.post_document("Document_ЗаказКлиента", created["Ref_Key"])
    assert client.update("Document_ЗаказКлиента", created["Ref_Key"], {"Комментарий": "ок"})["Posted"] is True
    client.unpost_document("Document_ЗаказКлиента", created["Ref_Key"])
    with pytest.raises(RemoteRejected):
        client.post_document("Document_ЗаказКлиента", client.create("Document_ЗаказКлиента", {})["Ref_Key"])
    with pytest.raises(StopRun):
        client.query("Document_ЗаказКлиента", filter="tolower(Number) eq 'x'")


def test_production_client_reports_auth_problems(onec: OneC) -> None:
    with pytest.raises(AuthError):
        _client(onec, password="нет").query("Catalog_Валюты")
    onec.app.html_auth_errors = True
    with pytest.raises(AuthError, match="HTML"):
        _client(onec, password="нет").query("Catalog_Валюты")
