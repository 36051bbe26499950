"""Issue 3, points 8-9: fault injection (global or per method, seeded) and inspection without the limits."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest
import requests
from b24_1c_sandbox.bitrix24.portal import Settings
from b24_1c_sandbox.faults import KINDS, PROFILES, FaultInjector
from conftest import Emu


@pytest.fixture
def faulty(emu: Emu) -> FaultInjector:
    emu.portal.faults = FaultInjector(seed=1, latency=30.0)
    return emu.portal.faults


def test_latency_is_portal_time(emu: Emu, faulty: FaultInjector) -> None:
    faulty.force("latency", "crm.deal.list")
    before = emu.clock.monotonic()
    assert emu.post("crm.deal.list").status_code == 200
    assert emu.clock.monotonic() - before == 30.0


def test_error_pages_and_codes(emu: Emu, faulty: FaultInjector) -> None:
    faulty.force("error500")
    resp = emu.post("crm.deal.list")
    assert resp.status_code == 500 and resp.json() == {
        "error": "INTERNAL_SERVER_ERROR",
        "error_description": "Internal server error",
    }
    for kind, code in (("html502", 502), ("html504", 504)):
        faulty.force(kind)
        resp = emu.post("crm.deal.list")
        assert resp.status_code == code and resp.headers["Content-Type"].startswith("text/html")
        assert "nginx" in resp.text
        with pytest.raises(ValueError):
            resp.json()
    faulty.force("overload")
    resp = emu.post("crm.deal.list")
    assert resp.status_code == 503 and resp.json()["error"] == "OVERLOAD_LIMIT"
    faulty.force("redirect")
    resp = emu.session.post(emu.hook + "crm.deal.list", json={}, allow_redirects=False, timeout=5)
    assert resp.status_code == 302
    assert (
        resp.headers["Location"]
        == f"https://moved.sandbox.bitrix24.ru/rest/1/{emu.hook.split('/')[-2]}/crm.deal.list"
    )


def test_reset_before_executing_writes_nothing(emu: Emu, faulty: FaultInjector) -> None:
    faulty.force("reset", "crm.deal.add")
    with pytest.raises(requests.ConnectionError):
        emu.post("crm.deal.add", {"fields": {"TITLE": "lost"}})
    assert emu.portal.deals() == []


def test_lost_reply_commits_then_resets(emu: Emu, faulty: FaultInjector) -> None:
    faulty.force("lost_reply")  # after-commit faults skip reads...
    assert emu.post("crm.deal.list").status_code == 200
    with pytest.raises(requests.ConnectionError):  # ...and hit the next write
        emu.post("crm.deal.add", {"fields": {"TITLE": "committed", "ORIGIN_ID": "k1"}})
    assert [d["ORIGIN_ID"] for d in emu.portal.deals()] == ["k1"]
    assert emu.portal.calls_snapshot("crm.deal.add")[-1].fault == "lost_reply"


def test_lost_timeout_commits_then_never_answers(emu: Emu, faulty: FaultInjector) -> None:
    faulty.force("lost_timeout", "batch")
    with pytest.raises(requests.Timeout):
        emu.session.post(emu.hook + "batch", json={"cmd": {"a": "crm.deal.add?fields[TITLE]=t"}}, timeout=0.3)
    assert len(emu.portal.deals()) == 1


def test_per_method_rates_and_seeded_reproducibility(emu: Emu) -> None:
    def run(seed: int) -> list[tuple[str, str]]:
        injector = FaultInjector(seed=seed, method_rates={"crm.deal.get": {"error500": 0.5}})
        emu.portal.faults = injector
        for _ in range(40):
            emu.post("crm.deal.get", {"id": 1})
            emu.post("crm.deal.fields")
        return injector.log

    first, again, other = run(5), run(5), run(6)
    assert first == again and first != other
    assert {m for m, _ in first} == {"crm.deal.get"} and 5 < len(first) < 35


def test_profiles_are_known_kinds(emu: Emu) -> None:
    assert "lost_timeout" in KINDS and all(set(r) <= set(KINDS) for r in PROFILES.values())
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultInjector({"meteor": 1.0})
    chaos = FaultInjector.profile("chaos", seed=2)
    emu.portal.faults = chaos
    for n in range(150):
        with contextlib.suppress(requests.ConnectionError):
            emu.session.post(emu.hook + "crm.deal.add", json={"fields": {"TITLE": str(n)}}, timeout=5)
    assert chaos.injected.get("lost_reply", 0) > 0 and chaos.injected.get("html502", 0) > 0


def test_call_log_and_objects_are_readable_without_limits(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="standard"))
    box.ok("crm.deal.add", {"fields": {"TITLE": "x"}})
    while box.post("crm.deal.fields").status_code != 503:
        pass
    assert [d["TITLE"] for d in box.portal.deals()] == ["x"]  # inspection bypasses auth and limits
    calls = box.portal.calls_snapshot()
    assert calls[0].method == "crm.deal.add" and calls[0].params == {"fields": {"TITLE": "x"}}
    assert calls[0].status == 200 and calls[-1].status == 503 and calls[-1].error == "QUERY_LIMIT_EXCEEDED"
    assert all(isinstance(c.at, float) for c in calls)
    box.post("nope.method")
    box.session.post(f"{box.base}/rest/1/bad/crm.deal.list", json={}, timeout=5)
    assert box.portal.calls_snapshot()[-1].error == "INVALID_CREDENTIALS"


def test_call_log_is_complete_under_concurrency(emu: Emu) -> None:
    def worker() -> None:
        with requests.Session() as s:
            for n in range(25):
                s.post(
                    emu.hook + "batch",
                    json={"cmd": {"a": f"crm.deal.add?fields[TITLE]={n}", "b": "crm.deal.fields"}},
                    timeout=10,
                )

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = emu.portal.calls_snapshot()
    assert len(calls) == 6 * 25 * 3
    assert sum(1 for c in calls if c.batch) == 6 * 25 * 2
    assert len(emu.portal.deals()) == 150 and len({d["ID"] for d in emu.portal.deals()}) == 150
