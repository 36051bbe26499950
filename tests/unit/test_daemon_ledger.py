"""The daemon stops every flow when the ledger cannot be used (exit 5, no restart loop); other failures wait a tick."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from connector.clock import SystemClock
from connector.daemon import Daemon
from connector.errors import LedgerError, TransientError
from connector.schedule import FlowSchedule


class _Runner:
    def __init__(self, flow: str, calls: list[str], fail: dict[str, Exception]) -> None:
        self.flow, self.calls, self.fail = flow, calls, fail

    def incremental(self, lookback_days: int) -> Any:
        self.calls.append(self.flow)
        if self.flow in self.fail:
            raise self.fail[self.flow]
        return SimpleNamespace(as_dict=lambda: {"flow": self.flow})


def _daemon(fail: dict[str, Exception], calls: list[str]) -> Daemon:
    connector = SimpleNamespace(
        stop=threading.Event(),
        clock=SystemClock(),
        config=SimpleNamespace(sync=SimpleNamespace(lookback_days=30)),
        runner=lambda flow: _Runner(flow, calls, fail),
    )
    schedule = {f: FlowSchedule(every="1h") for f in ("orders", "money")}
    return Daemon(connector, schedule)  # type: ignore[arg-type]


def test_a_ledger_error_in_a_cycle_stops_the_daemon_and_is_raised_for_exit_5() -> None:
    calls: list[str] = []
    daemon = _daemon({"money": LedgerError("the disk holding the ledger /x is full: free space")}, calls)
    with pytest.raises(LedgerError, match="free space"):
        daemon.start(install_signals=False)  # returns on its own: the flows ran once, then the daemon stopped
    assert daemon.connector.stop.is_set()
    assert "money" in calls


def test_a_transient_error_in_a_cycle_does_not_stop_the_daemon() -> None:
    calls: list[str] = []
    daemon = _daemon({"money": TransientError("1C did not answer")}, calls)
    threading.Timer(1.0, lambda: daemon.scheduler.shutdown(wait=False)).start()
    daemon.start(install_signals=False)
    assert daemon.fatal is None and not daemon.connector.stop.is_set()
