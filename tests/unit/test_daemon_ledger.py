"""The daemon stops every flow when the ledger cannot be used (exit 5, no restart loop); other failures wait a tick."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from apscheduler.events import EVENT_JOB_SUBMITTED, EVENT_SCHEDULER_SHUTDOWN, JobSubmissionEvent

from connector.clock import SystemClock
from connector.daemon import Daemon, state_path
from connector.errors import LedgerError, TransientError
from connector.notify import Notifier
from connector.schedule import FlowSchedule


class _Runner:
    def __init__(
        self, flow: str, calls: list[str], fail: dict[str, Exception], hold: dict[str, Callable[[], None]]
    ) -> None:
        self.flow, self.calls, self.fail, self.hold = flow, calls, fail, hold

    def incremental(self, lookback_days: int) -> Any:
        self.calls.append(self.flow)
        if self.flow in self.hold:
            self.hold[self.flow]()
        if self.flow in self.fail:
            raise self.fail[self.flow]
        return SimpleNamespace(as_dict=lambda: {"flow": self.flow})


def _daemon(
    fail: dict[str, Exception],
    calls: list[str],
    ledger: Path,
    notifier: Notifier | None = None,
    hold: dict[str, Callable[[], None]] | None = None,
) -> Daemon:
    connector = SimpleNamespace(
        stop=threading.Event(),
        clock=SystemClock(),
        config=SimpleNamespace(sync=SimpleNamespace(lookback_days=30), ledger_path=ledger),
        runner=lambda flow: _Runner(flow, calls, fail, hold or {}),
    )
    schedule = {f: FlowSchedule(every="1h") for f in ("orders", "money")}
    return Daemon(connector, schedule, notifier=notifier)  # type: ignore[arg-type]


# It returns in about a second. It hung twice in loaded CI runs: the deadlock the next test forces.
@pytest.mark.timeout(60)
def test_a_ledger_error_in_a_cycle_stops_the_daemon_and_is_raised_for_exit_5(tmp_path: Path) -> None:
    calls: list[str] = []
    error = LedgerError("the disk holding the ledger /x is full: free space")
    daemon = _daemon({"money": error}, calls, tmp_path / "ledger.sqlite3")
    with pytest.raises(LedgerError, match="free space"):
        daemon.start(install_signals=False)  # returns on its own: the flows ran once, then the daemon stopped
    assert daemon.connector.stop.is_set()
    assert "money" in calls


def _held_by_another_thread(lock: Any) -> bool:
    if lock.acquire(blocking=False):
        lock.release()
        return False
    return True


@pytest.mark.timeout(60)
def test_a_cycle_that_ends_while_a_ledger_error_stops_the_daemon_does_not_hang_it(tmp_path: Path) -> None:
    """The hang seen under load, forced: orders ends its cycle and asks the scheduler for its next run (state file)
    just as money's ledger error stops the scheduler. A stop that held APScheduler's job-store lock while it waited
    for the running jobs (shutdown(wait=True)) and that question waited for each other for ever."""
    calls: list[str] = []
    ledger = tmp_path / "ledger.sqlite3"
    asking = threading.Event()  # orders is inside get_job: now money may fail
    submitted: set[str] = (
        set()
    )  # told after the scheduler loop let its lock go: from then only the stop takes it
    both_submitted = threading.Event()
    deadlocked: list[str] = []

    def fail_money() -> None:
        assert asking.wait(10), "orders never asked for its next run"
        assert both_submitted.wait(10), "the scheduler never submitted both flows"

    daemon = _daemon(
        {"money": LedgerError("the disk holding the ledger /x is full: free space")},
        calls,
        ledger,
        hold={"money": fail_money},
    )
    scheduler = daemon.scheduler
    lock = scheduler._jobstores_lock  # APScheduler 3's lock that get_job and shutdown take
    shut_down = threading.Event()
    scheduler.add_listener(lambda event: shut_down.set(), EVENT_SCHEDULER_SHUTDOWN)

    def on_submitted(event: JobSubmissionEvent) -> None:
        submitted.add(event.job_id)
        if submitted >= {"orders", "money"}:
            both_submitted.set()

    scheduler.add_listener(on_submitted, EVENT_JOB_SUBMITTED)
    real_get_job = scheduler.get_job

    def get_job(job_id: str, jobstore: str | None = None) -> Any:
        if asking.is_set():
            return real_get_job(job_id, jobstore)
        asking.set()
        assert daemon.connector.stop.wait(10), "money's ledger error did not stop the daemon"
        # The moment a loaded machine hit: the stop holds the scheduler's lock (or has already let it go).
        until = time.monotonic() + 10
        while not shut_down.is_set() and not _held_by_another_thread(lock) and time.monotonic() < until:
            time.sleep(0.001)
        if not lock.acquire(timeout=5):  # get_job itself would wait here for ever
            deadlocked.append(job_id)
            return None
        try:
            return real_get_job(job_id, jobstore)
        finally:
            lock.release()

    scheduler.get_job = get_job
    with pytest.raises(LedgerError, match="free space"):
        daemon.start(install_signals=False)
    assert asking.is_set() and sorted(calls) == ["money", "orders"]
    assert not deadlocked, "the stop held the scheduler's lock while it waited for the cycle that needed it"
    assert daemon.flows["orders"].last_success and daemon.flows["money"].last_error
    assert not state_path(ledger).exists()


class _Stops(Notifier):
    def __init__(self) -> None:
        super().__init__(env={})
        self.stopped = threading.Event()

    def stopping(self, status: str) -> None:
        if status == "stopped":
            self.stopped.set()


@pytest.mark.timeout(60)
def test_after_a_ledger_error_the_daemon_returns_only_when_the_running_cycles_have_ended(
    tmp_path: Path,
) -> None:
    """The stop does not wait inside the scheduler, so start() waits: a cycle still on its last page is recorded
    before the daemon says stopped, removes its state file and raises for exit 5 (the ledger closes after)."""
    calls: list[str] = []
    ledger = tmp_path / "ledger.sqlite3"
    notifier = _Stops()
    daemon: Daemon | None = None

    def last_page() -> None:  # orders is mid-cycle when money fails; it ends after the scheduler loop did
        assert daemon is not None and daemon.connector.stop.wait(10)
        notifier.stopped.wait(1.0)

    daemon = _daemon(
        {"money": LedgerError("the disk holding the ledger /x is full: free space")},
        calls,
        ledger,
        notifier,
        hold={"orders": last_page},
    )
    with pytest.raises(LedgerError, match="free space"):
        daemon.start(install_signals=False)
    assert notifier.stopped.is_set()
    assert daemon.flows["orders"].cycles == 1 and daemon.flows["orders"].last_success
    assert not state_path(ledger).exists()  # the last cycle's write came before the removal, not after


def test_a_transient_error_in_a_cycle_does_not_stop_the_daemon(tmp_path: Path) -> None:
    calls: list[str] = []
    daemon = _daemon({"money": TransientError("1C did not answer")}, calls, tmp_path / "ledger.sqlite3")
    threading.Timer(1.0, lambda: daemon.scheduler.shutdown(wait=False)).start()
    daemon.start(install_signals=False)
    assert daemon.fatal is None and not daemon.connector.stop.is_set()


class _Systemd:
    """A fake systemd: the unix datagram socket NOTIFY_SOCKET names, collecting what the daemon sends."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(30)  # a bound on a hang, not a timing assertion
        self.seen: list[str] = []

    def close(self) -> None:
        self.sock.close()

    def until(self, line: str) -> list[str]:
        """Messages up to and including the first with `line`."""
        while not any(line in m.splitlines() for m in self.seen):
            self.seen.append(self.sock.recv(4096).decode())
        return self.seen


def test_under_systemd_ready_after_the_first_cycle_watchdog_pings_and_stopping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemd = _Systemd(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # a ping every 0.05 s of the scheduler loop
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    ledger = tmp_path / "ledger.sqlite3"
    daemon = _daemon({"money": TransientError("1C did not answer")}, [], ledger, Notifier())
    thread = threading.Thread(target=daemon.start, kwargs={"install_signals": False})
    thread.start()
    try:
        seen = systemd.until("READY=1")
        assert not any(m == "WATCHDOG=1" for m in seen[:0])
        ready = next(m for m in seen if "READY=1" in m)
        assert "first cycle done (orders)" in ready  # orders succeeded; money's failure did not make it ready
        systemd.until("WATCHDOG=1")
        state = json.loads(state_path(ledger).read_text(encoding="utf-8"))
        assert state["pid"] == os.getpid()
        assert state["flows"]["orders"]["last_success"] and state["flows"]["orders"]["next_run"]
        systemd.until("WATCHDOG=1")
        pings = sum(m == "WATCHDOG=1" for m in systemd.seen)
        while pings < 2:  # more than one ping: they come from the loop, not once at start
            systemd.seen.append(systemd.sock.recv(4096).decode())
            pings = sum(m == "WATCHDOG=1" for m in systemd.seen)
    finally:
        daemon._signal(signal.SIGTERM, None)
        thread.join(30)
    assert not thread.is_alive()
    stopping = [m for m in systemd.until("STOPPING=1") if "STOPPING=1" in m]
    assert "SIGTERM" in stopping[0]
    assert not state_path(ledger).exists()  # a stopped daemon leaves no state behind for status to trust
    systemd.close()


def test_a_failing_flow_is_in_the_state_with_its_error_and_no_ready_without_a_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    systemd = _Systemd(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    ledger = tmp_path / "ledger.sqlite3"
    failing = TransientError("1C did not answer")
    daemon = _daemon({"orders": failing, "money": failing}, [], ledger, Notifier())
    for flow in ("orders", "money"):
        daemon.run_flow(flow)
    state = json.loads(state_path(ledger).read_text(encoding="utf-8"))
    assert state["flows"]["money"]["last_error"] == "1C did not answer"
    assert state["flows"]["money"]["last_success"] is None and state["flows"]["money"]["failed_cycles"] == 1
    daemon.notifier.status("probe")  # the next message systemd gets: nothing claimed READY before it
    assert systemd.until("STATUS=probe") == ["STATUS=probe"]
    assert not daemon.ready
    daemon.notifier.close()
    systemd.close()
