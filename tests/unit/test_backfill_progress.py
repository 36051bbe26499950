"""The backfill's live display: log lines above the bar, an ETA from the first records, a total before the first page."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from rich.console import Console

from connector.cli.progress import ESTIMATING, EtaColumn, backfill_with_progress, display
from connector.logs import configure, get_logger


class _Now:
    """A hand-moved monotonic time for rich (the display's only clock)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class _Source:
    def count(self, start: datetime, until: datetime | None) -> int | None:
        return 120


class _Runner:
    """Logs while the bar is live, as the real runner does (resuming, recovering), then reads two pages."""

    flow = "orders"
    source = _Source()

    def __init__(self, now: _Now) -> None:
        self.now = now

    def backfill(self, start: Any, end: Any, *, dry_run: bool, restart: bool, progress: Any) -> str:
        get_logger("test").info("resuming backfill", flow=self.flow)
        for _ in range(2):
            self.now.t += 10
            progress(50)
        return "report"


def test_log_lines_written_while_the_bar_is_live_go_above_it_through_the_console(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = _Now()
    console = Console(file=io.StringIO(), force_terminal=True, width=120, record=True)
    configure(json=True)  # the structured logger writes to whatever sys.stderr is at the moment
    try:
        result = backfill_with_progress(
            _Runner(now),
            datetime(2017, 1, 1, tzinfo=UTC),
            None,
            dry_run=False,
            restart=False,
            label="flow 1 of 2: orders",
            console=console,
            get_time=now,
        )
    finally:
        structlog.reset_defaults()
    assert result == "report"
    raw = console.file.getvalue()  # type: ignore[attr-defined]
    # The bar's line is erased, the whole log line printed on its own line, then the bar drawn again below it.
    erased, logged = raw.split('{"flow": "orders", "event": "resuming backfill"', 1)
    assert erased.endswith("\r\x1b[2K")
    line, after = logged.split("\n", 1)
    assert line.endswith("}")
    assert after.startswith("flow 1 of 2: orders")
    assert "100/120" in after.rsplit("\r", 1)[-1]
    assert "resuming backfill" not in capsys.readouterr().err  # not written past the console, through the bar


def test_the_eta_says_estimating_before_the_first_records_and_is_estimated_from_the_first_page() -> None:
    now = _Now()
    progress = display(Console(file=io.StringIO()), get_time=now)
    task_id = progress.add_task("orders", total=1000)
    task = progress.tasks[0]
    eta = EtaColumn()
    assert eta.render(task).plain == ESTIMATING
    now.t += 20
    progress.advance(task_id, 50)  # one update only: rich's own rate is unknown until the second one
    assert eta.render(task).plain == "ETA 0:06:20"  # 950 left at 50 per 20 s


def test_a_flow_without_a_total_says_so_instead_of_a_blank_eta() -> None:
    progress = display(Console(file=io.StringIO()))
    progress.add_task("fans", total=None)
    assert EtaColumn().render(progress.tasks[0]).plain == "total unknown"


def test_one_display_shows_every_flow_and_its_total_before_the_first_page_of_the_first() -> None:
    """Issue 14 point 7: one live display for the whole backfill, a bar per flow whose total is known up front."""
    from connector.cli.progress import BackfillDisplay

    now = _Now()
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    screens: list[str] = []

    class _Flow:
        def __init__(self, n: int) -> None:
            self.n = n

        def backfill(self, start: Any, end: Any, *, dry_run: bool, restart: bool, progress: Any) -> str:
            screens.append(console.file.getvalue())  # type: ignore[attr-defined]
            now.t += 5
            progress(self.n)
            return "report"

    with BackfillDisplay(console, now) as shown:
        tasks = [shown.add("flow 1 of 2: orders", 120), shown.add("flow 2 of 2: money", 80)]
        shown.run(tasks[0], _Flow(120), None, None, dry_run=False, restart=False)
        shown.run(tasks[1], _Flow(80), None, None, dry_run=False, restart=False)
    before_first_page = screens[0].rsplit("\x1b[2K", 2)
    shown_then = "".join(before_first_page[-2:])
    assert "flow 1 of 2: orders" in shown_then and "0/120" in shown_then
    assert "flow 2 of 2: money" in shown_then and "0/80" in shown_then and "waiting" in shown_then
    final = console.file.getvalue()  # type: ignore[attr-defined]
    assert "120/120" in final and "80/80" in final and final.count("done in") >= 2


def test_backfill_counts_every_flow_before_the_first_one_reads_a_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`b24-1c backfill` on a terminal: all bars, with their totals, exist before the first flow starts."""
    import sys

    from connector.cli import sync as cli_sync

    class _Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = _Tty()
    monkeypatch.setattr(sys, "stderr", screen)
    counted: list[int] = []
    started: list[tuple[int, list[int]]] = []

    class _Counted:
        def __init__(self, n: int) -> None:
            self.n = n

        def count(self, start: Any, end: Any) -> int:
            counted.append(self.n)
            return self.n

    class _Flow:
        def __init__(self, n: int) -> None:
            self.n = n
            self.source = _Counted(n)

        def backfill(self, start: Any, end: Any, *, dry_run: bool, restart: bool, progress: Any) -> str:
            started.append((self.n, list(counted)))
            progress(self.n)
            return "report"

    runs = [("orders", _Flow(3), None, None), ("money", _Flow(2), None, None)]
    with cli_sync._display(runs) as run:
        for i, (_, flow, start, end) in enumerate(runs):
            assert run(i, flow, start, end, False, False) == "report"
    assert started == [(3, [3, 2]), (2, [3, 2])]
    assert "flow 1 of 2: orders" in screen.getvalue() and "flow 2 of 2: money" in screen.getvalue()
