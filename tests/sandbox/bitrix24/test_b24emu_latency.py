"""The emulator can play a portal across the internet: network latency and server time per request, spent on the
portal's clock (a benchmark option: one request in flight then cannot reach the request ceiling)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from b24_1c_sandbox.bitrix24.portal import Settings
from conftest import Emu


def test_each_request_takes_its_latency_and_server_time(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="off", latency=0.5, server_time=0.3))
    before = box.clock.monotonic()
    assert box.post("crm.deal.fields").status_code == 200
    assert box.clock.monotonic() - before == pytest.approx(0.8)
    before = box.clock.monotonic()
    assert box.post("batch", {"halt": 0, "cmd": {"a": "crm.deal.fields", "b": "crm.deal.fields"}}).ok
    assert box.clock.monotonic() - before == pytest.approx(0.8)  # per request, not per command


def test_one_request_in_flight_stays_under_the_drain_rate(make_emu: Callable[[Settings], Emu]) -> None:
    slow = make_emu(Settings(plan="standard", latency=0.5, server_time=0.3))
    statuses = [slow.post("crm.deal.fields").status_code for _ in range(120)]
    assert statuses.count(503) == 0  # 1.25 requests/s against a drain of 2/s: the burst is never used up
    local = make_emu(Settings(plan="standard"))
    assert [local.post("crm.deal.fields").status_code for _ in range(51)].count(503) == 1
