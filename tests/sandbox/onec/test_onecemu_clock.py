"""The emulated 1C server keeps naive local time in its own zone (Europe/Moscow by default), read from its clock:
the emulator process's TZ never leaks into document dates, so the suite behaves the same under any TZ."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from b24_1c_sandbox.onec import writes
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.runner import Sandbox, SandboxOptions

from connector.clock import ManualClock

PAST_MOSCOW_MIDNIGHT = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)  # Moscow: 1 December, 00:30


def test_server_time_is_naive_local_time_in_the_server_zone_from_its_clock() -> None:
    ib = Infobase(clock=ManualClock(PAST_MOSCOW_MIDNIGHT))
    assert ib.now() == datetime(2026, 12, 1, 0, 30)
    assert Infobase(timezone="Asia/Yekaterinburg", clock=ManualClock(PAST_MOSCOW_MIDNIGHT)).now() == datetime(
        2026, 12, 1, 2, 30
    )


def test_a_document_written_without_a_date_is_dated_in_server_time_whatever_the_process_zone() -> None:
    ib = Infobase(clock=ManualClock(PAST_MOSCOW_MIDNIGHT))
    order = writes.create(ib, "Document_ЗаказКлиента", {"Comment": "без даты"})
    assert order["Date"] == "2026-12-01T00:30:00"


def test_the_sandbox_reads_the_system_clock_and_tells_the_config_its_zone() -> None:
    with (
        time_machine.travel(PAST_MOSCOW_MIDNIGHT, tick=False),
        Sandbox(SandboxOptions(orders=1, rate_limit="off")) as box,
    ):
        assert box.infobase.now() == datetime(2026, 12, 1, 0, 30)
        assert box.env()["ONEC_TIMEZONE"] == "Europe/Moscow"
