"""`b24-1c backfill` under SIGTERM or Ctrl-C: stops once the page being written is committed, says what was
committed and how to resume, exits 3; flows are named as arguments or with --flow, in both sync and backfill."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.cli import sync as sync_commands
from connector.engine.report import RunReport

CONFIGURED = ["managers", "orders", "money"]


class _Runner:
    def __init__(self, conn: _Conn, flow: str) -> None:
        self.conn, self.flow, self.tz, self.target = conn, flow, UTC, None

    def backfill(self, start: Any, end: Any, *, dry_run: bool, restart: bool, **_: Any) -> RunReport:
        self.conn.ran.append(self.flow)
        report = RunReport(self.flow, "backfill", dry_run=dry_run)
        for page in range(1, 6):
            report.read += 10
            report.created += 10  # "committed" with the page
            if (self.flow, page) in self.conn.signal_at:
                os.kill(os.getpid(), self.conn.signal_at[(self.flow, page)])
            if self.conn.stop.is_set():
                report.stopped = True
                break
        report.failed += len(self.conn.errors)
        report.errors.extend(self.conn.errors)
        return report

    def incremental(self, lookback_days: int, *, dry_run: bool, full_scan: bool | None = None) -> RunReport:
        self.conn.ran.append(self.flow)
        report = RunReport(self.flow, "sync", dry_run=dry_run)
        for batch in range(1, 4):
            report.read += 5
            report.updated += 5
            if (self.flow, batch) in self.conn.signal_at:
                os.kill(os.getpid(), self.conn.signal_at[(self.flow, batch)])
            if self.conn.stop.is_set():
                report.stopped = True
                break
        return report


class _Conn:
    def __init__(self, signal_at: dict[tuple[str, int], int] | None = None) -> None:
        self.stop = threading.Event()
        self.signal_at = signal_at or {}
        self.ran: list[str] = []
        self.errors: list[str] = []  # every backfill fails these records
        self.asked: list[list[str] | None] = []
        self.config = type("C", (), {"sync": type("S", (), {"lookback_days": 3})()})()

    def require_ready(self) -> None:
        return None

    def flows(self, wanted: list[str] | None) -> list[str]:
        self.asked.append(wanted)
        return wanted or CONFIGURED

    def runner(self, flow: str) -> _Runner:
        return _Runner(self, flow)


@pytest.fixture
def conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Conn]:
    fake = _Conn()

    @contextmanager
    def opened(config: Any, lock: bool = True) -> Iterator[_Conn]:
        yield fake

    monkeypatch.setattr(sync_commands, "connector", opened)
    yield fake


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_backfill_after_the_committed_page_and_says_how_to_resume(
    conn: _Conn, signum: int
) -> None:
    conn.signal_at = {("orders", 2): signum}
    before = signal.getsignal(signum)
    result = CliRunner().invoke(app, ["backfill"])
    assert result.exit_code == 3, result.output
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    assert (
        f"stopped by {name} after a committed page: orders: 20 read, 20 created, 0 updated and committed"
        in (result.stderr)
    )
    assert "not started: money" in result.stderr and "Run the same command again to resume" in result.stderr
    assert conn.ran == ["managers", "orders"]  # money never started
    assert signal.getsignal(signum) is before  # the command's handlers are gone afterwards


def test_a_signal_stops_sync_the_same_way(conn: _Conn) -> None:
    conn.signal_at = {("managers", 1): signal.SIGTERM}
    result = CliRunner().invoke(app, ["sync"])
    assert result.exit_code == 3, result.output
    assert (
        "stopped by SIGTERM after a committed page: managers: 5 read, 0 created, 5 updated and committed"
        in (result.stderr)
    )
    assert "not started: orders, money. Run `b24-1c sync` again" in result.stderr
    assert conn.ran == ["managers"]


def test_a_second_signal_stops_at_once(conn: _Conn) -> None:
    conn.signal_at = {("orders", 2): signal.SIGTERM}
    conn.stop.set = lambda: None  # type: ignore[method-assign]  # the runner does not notice: it keeps going
    conn.signal_at[("orders", 3)] = signal.SIGTERM
    result = CliRunner().invoke(app, ["backfill"])
    assert result.exit_code == 3
    assert "SIGTERM again: stopped at once; the next run settles the page" in result.stderr
    assert conn.ran == ["managers", "orders"]


def test_a_signal_after_the_last_page_of_the_last_flow_changes_nothing(conn: _Conn) -> None:
    result = CliRunner().invoke(app, ["backfill", "money"])
    assert result.exit_code == 0 and conn.ran == ["money"]


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["backfill", "orders", "money"], ["orders", "money"]),
        (["backfill", "--flow", "orders", "--flow", "money"], ["orders", "money"]),
        (["backfill", "orders", "--flow", "money", "--flow", "orders"], ["orders", "money"]),
        (["backfill"], None),
        (["sync", "orders", "money"], ["orders", "money"]),
        (["sync", "--flow", "money"], ["money"]),
        (["sync"], None),
    ],
)
def test_flows_are_named_as_arguments_or_with_flow_in_both_commands(
    conn: _Conn, args: list[str], wanted: list[str] | None
) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert conn.asked == [wanted]


def test_a_dry_run_with_failures_does_not_send_the_user_to_b24_1c_failed(conn: _Conn) -> None:
    conn.errors = ["Заказ 1: COMPANY_ID: the company is not synced yet"]
    dry = CliRunner().invoke(app, ["backfill", "orders", "--dry-run"])
    assert dry.exit_code == 1 and "failed: Заказ 1: COMPANY_ID" in dry.stdout
    assert "a dry run records nothing, so `b24-1c failed` does not list them" in dry.stdout
    real = CliRunner().invoke(app, ["backfill", "orders"])
    assert real.exit_code == 1 and "`b24-1c failed` lists them" in real.stdout


COMMANDS = [
    "init", "check", "verify", "setup", "backfill", "sync", "run", "status", "failed", "history", "retry",
    "reconcile", "explain", "schema", "demo", "version",
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_commands_help_lists_its_exit_codes_and_names_what_options_take(command: str) -> None:
    listed = CliRunner().invoke(app, ["--help"]).output
    if f"  {command} " not in listed:
        pytest.skip(f"{command} is not a command in this build")
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "Exit codes: 0 " in " ".join(result.output.split())
    assert "<" not in result.output.split("Options:")[-1].split("Exit codes")[0], result.output
