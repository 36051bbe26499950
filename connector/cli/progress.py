"""The live display of `b24-1c backfill`: one display for the whole command, a bar per flow with its total (counted
before the first page of any flow), rate and an ETA from the first page.

Log lines written while the bar is live go above it: rich swaps `sys.stderr` for a proxy that prints through the
console, and the structured logger writes to whatever `sys.stderr` is at the moment (connector.logs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn
from rich.text import Text

ESTIMATING = "ETA estimating…"


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


class EtaColumn(ProgressColumn):
    """Time left from the rate so far; "estimating…" until the first records are done (rich's own column stays
    blank until two updates, which is the whole first page of a backfill)."""

    def render(self, task: Task) -> Text:
        if not task.started:
            return Text("waiting", style="progress.remaining")
        if (
            task.finished or task.stop_time is not None
        ):  # stopped: its flow ended short of a count read beforehand
            return Text(
                f"done in {_clock_text(task.finished_time or task.elapsed or 0)}", style="progress.elapsed"
            )
        if task.total is None:
            return Text("total unknown", style="progress.remaining")
        elapsed = task.elapsed or 0.0
        if task.completed <= 0 or elapsed <= 0:
            return Text(ESTIMATING, style="progress.remaining")
        speed = task.speed or task.completed / elapsed
        left = max(task.total - task.completed, 0) / speed
        return Text(f"ETA {_clock_text(left)}", style="progress.remaining")


class RateColumn(ProgressColumn):
    """Records per second since the bar started."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        if task.completed <= 0 or elapsed <= 0:
            return Text("")
        return Text(f"{task.completed / elapsed:.1f}/s", style="progress.data.speed")


def display(
    console: Console, get_time: Callable[[], float] | None = None, *, redirect_stdout: bool = False
) -> Progress:
    """The backfill's progress display on `console` (log lines printed above it, not through it; with
    `redirect_stdout`, what the command prints to stdout too: only when stdout is the same terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        EtaColumn(),
        console=console,
        transient=False,
        redirect_stderr=True,
        redirect_stdout=redirect_stdout,
        get_time=get_time,
    )


def backfill_with_progress(
    runner: Any,
    start: Any,
    end: Any,
    *,
    dry_run: bool,
    restart: bool,
    label: str,
    console: Console,
    get_time: Callable[[], float] | None = None,
) -> Any:
    """Run one flow's backfill under a bar whose total is counted at the source before the first page."""
    with BackfillDisplay(console, get_time) as shown:
        task = shown.add(label, runner.source.count(start, end))
        return shown.run(task, runner, start, end, dry_run=dry_run, restart=restart)


class BackfillDisplay:
    """One live display for a whole backfill: every flow's bar is added, with its total, before the first page of
    the first flow is read; each bar starts when its flow does. Reports printed to stdout between flows go above the
    bars when stdout is the same terminal (`redirect_stdout`)."""

    def __init__(
        self, console: Console, get_time: Callable[[], float] | None = None, *, redirect_stdout: bool = False
    ) -> None:
        self.progress = display(console, get_time, redirect_stdout=redirect_stdout)

    def __enter__(self) -> BackfillDisplay:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def add(self, label: str, total: int | None) -> Any:
        task = self.progress.add_task(label, total=total, start=False)
        self.progress.refresh()  # on screen now, not at the next tick of the refresh thread
        return task

    def run(self, task: Any, runner: Any, start: Any, end: Any, *, dry_run: bool, restart: bool) -> Any:
        self.progress.start_task(task)
        report = runner.backfill(
            start, end, dry_run=dry_run, restart=restart, progress=lambda n: self.progress.advance(task, n)
        )
        self.progress.stop_task(task)  # its clock stops; the bar keeps what was read against the count
        return report
