"""Issue 3, point 4: the leaky bucket per portal and the per-method operating-time budget, on portal time."""

from __future__ import annotations

from collections.abc import Callable

from b24_1c_sandbox.bitrix24.portal import Settings
from conftest import Emu


def _burst(box: Emu, n: int) -> list[int]:
    return [box.post("crm.deal.fields").status_code for _ in range(n)]


def test_standard_plan_burst_50_then_503_and_drains_2_per_second(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="standard"))
    assert _burst(box, 50) == [200] * 50
    resp = box.post("crm.deal.fields")
    assert resp.status_code == 503
    assert resp.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    box.clock.advance(1.0)  # two requests drained
    assert _burst(box, 3) == [200, 200, 503]
    box.clock.advance(60)
    assert _burst(box, 50) == [200] * 50


def test_enterprise_plan_burst_250_and_5_per_second(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="enterprise"))
    assert _burst(box, 251).count(503) == 1
    box.clock.advance(1.0)
    assert _burst(box, 6) == [200] * 5 + [503]


def test_plan_off_never_limits_and_scale_multiplies_the_drain(make_emu: Callable[[Settings], Emu]) -> None:
    off = make_emu(Settings(plan="off"))
    assert set(_burst(off, 120)) == {200}
    scaled = make_emu(Settings(plan="standard", scale=10))
    _burst(scaled, 50)
    scaled.clock.advance(1.0)
    assert _burst(scaled, 21) == [200] * 20 + [503]


def test_batch_is_one_request_for_the_bucket(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="standard"))
    cmd = {f"c{i}": "user.current" for i in range(3)}
    for _ in range(50):
        assert box.post("batch", {"cmd": cmd}).status_code == 200
    assert box.post("batch", {"cmd": cmd}).json()["error"] == "QUERY_LIMIT_EXCEEDED"


def test_operating_budget_blocks_the_method_after_the_exceeding_call(
    make_emu: Callable[[Settings], Emu],
) -> None:
    box = make_emu(Settings(plan="off", method_cost={"crm.deal.list": 100.0}))
    times = []
    for _ in range(5):  # 100, 200 ... 500 s: the fifth call crosses 480 and still completes
        resp = box.post("crm.deal.list")
        assert resp.status_code == 200
        times.append(resp.json()["time"])
        box.clock.advance(1)
    assert [t["operating"] for t in times] == [100, 200, 300, 400, 500]
    first_call = int(times[0]["start"])
    assert {t["operating_reset_at"] for t in times} == {first_call + 600}
    blocked = box.post("crm.deal.list")
    assert blocked.status_code == 429 and "Retry-After" not in blocked.headers
    assert blocked.json() == {
        "error": "OPERATION_TIME_LIMIT",
        "error_description": "Method is blocked due to operation time limit.",
    }
    assert box.post("crm.deal.fields").status_code == 200  # other methods are unaffected
    token = box.tokens()["access_token"]
    assert box.as_app("crm.deal.list", {}, token)[0] == 200  # another app has its own budget
    box.clock.advance(600)
    assert box.post("crm.deal.list").status_code == 200


def test_batch_sub_commands_count_against_their_own_methods(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="off", method_cost={"crm.deal.get": 10.0, "batch": 1000.0}))
    box.ok("crm.deal.add", {"fields": {"TITLE": "x"}})
    cmd = {f"g{i}": "crm.deal.get?id=1" for i in range(50)}  # 10 s each: the 49th crosses 480 s
    result = box.ok("batch", {"cmd": cmd})
    assert result["result_time"]["g48"]["operating"] == 490
    assert list(result["result_error"]) == ["g49"]
    again = box.ok("batch", {"cmd": {"a": "crm.deal.get?id=1", "b": "crm.deal.fields"}})
    assert again["result_error"] == {
        "a": {
            "error": "OPERATION_TIME_LIMIT",
            "error_description": "Method is blocked due to operation time limit.",
        }
    }
    assert "b" in again["result"]
    assert box.post("crm.deal.list").status_code == 200  # the outer batch itself is not counted


def test_operating_limit_and_budget_scale_are_settings(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(
        Settings(plan="off", operating_limit=420, budget_scale=0.5, method_cost={"crm.deal.list": 100.0})
    )
    codes = []
    for _ in range(4):
        codes.append(box.post("crm.deal.list").status_code)
    assert codes == [200, 200, 200, 429]  # 210 s budget: the third call crosses it


def test_minutes_of_portal_time_play_in_milliseconds(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="standard", method_cost={"crm.deal.list": 30.0}))
    done = blocked = limited = 0
    for _ in range(400):  # 400 requests at 2/s = 200 s of portal time
        status = box.post("crm.deal.list").status_code
        done += status == 200
        blocked += status == 429
        limited += status == 503
        box.clock.advance(0.5)
    assert done == 17 and blocked == 383 and limited == 0  # 17 × 30 s crosses 480 s
