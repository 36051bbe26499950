"""The emulator's call log is bounded (the newest calls in full, every call counted), so a long benchmark does not
grow the sandbox without end, while `calls[before:]` still reads what came since a position."""

from __future__ import annotations

import pytest
from b24_1c_sandbox.bitrix24.portal import Call
from b24_1c_sandbox.calllog import CallLog
from conftest import Emu


def call(i: int, method: str = "crm.deal.add", status: int = 200, batch: bool = False) -> Call:
    return Call(float(i), method, {"n": i}, status, batch=batch)


def test_keeps_the_newest_calls_and_counts_every_one() -> None:
    log = CallLog(capacity=3)
    for i in range(5):
        log.append(call(i, status=503 if i == 1 else 200))
    log.append(call(5, "crm.deal.update", batch=True))
    assert [c.params["n"] for c in log.snapshot()] == [3, 4, 5]
    assert len(log) == 6 and log.dropped == 3
    assert log.requests() == 5 and log.requests(503) == 1 and log.sub_commands() == 1
    assert (log.first_ok, log.last_ok) == (0.0, 4.0)
    assert [c.params["n"] for c in log[4:]] == [4, 5]  # since an absolute position
    assert log[-1].params["n"] == 5
    with pytest.raises(IndexError, match="gone"):
        log[2:]  # those calls were dropped: an error, never a silent undercount
    log.clear()
    assert len(log) == 0 and list(log) == [] and log.requests() == 0


def test_the_portal_log_stays_bounded_over_many_calls(emu: Emu) -> None:
    emu.portal.calls = CallLog(capacity=10)
    before = len(emu.portal.calls)
    for _ in range(25):
        assert emu.post("crm.deal.fields").status_code == 200
    log = emu.portal.calls
    assert len(log.snapshot()) == 10 and len(log) - before == 25
    assert log.requests(200) == 25
    assert [c.method for c in log[len(log) - 3 :]] == ["crm.deal.fields"] * 3
    assert len(emu.portal.calls_snapshot("crm.deal.fields")) == 10


def test_a_calls_parameters_are_kept_compressed_and_read_as_copies() -> None:
    """100,000 calls with their parameters as dicts took about 250 MB (issue 13 goal 6)."""
    params = {"fields": {"TITLE": "Заказ " * 40, "OPPORTUNITY": 10.5}, "id": 7}
    logged = Call(1.0, "crm.deal.update", params, 200)
    assert type(logged._params) is bytes and len(logged._params) < 200
    read = logged.params
    assert read == params
    read["fields"]["TITLE"] = "changed"
    assert logged.params == params and logged == Call(1.0, "crm.deal.update", params, 200)
    assert Call(1.0, "x", {}, 200).params == {}
