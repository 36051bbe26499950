"""The live display of `b24-1c backfill`: one bar per flow with its total, rate and an ETA from the first page.

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
        if task.finished:
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


def display(console: Console, get_time: Callable[[], float] | None = None) -> Progress:
    """The backfill's progress display on `console` (log lines printed above it, not through it)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        EtaColumn(),
        console=console,
        transient=False,
        redirect_stderr=True,
        redirect_stdout=False,  # stdout stays stdout (reports, plans); only log lines share the bar's stream
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
    total = runner.source.count(start, end)
    with display(console, get_time) as progress:
        task = progress.add_task(label, total=total)
        return runner.backfill(
            start, end, dry_run=dry_run, restart=restart, progress=lambda n: progress.advance(task, n)
        )
