"""`b24-1c backfill`, `sync` and `run`: the commands that move records."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from connector.cli.common import (
    EXIT_FAILED_RECORDS,
    EXIT_STOPPED,
    ConfigOpt,
    app,
    connector,
    err,
    exits,
    fail,
    out,
    parse_date,
    print_plan,
    print_report,
    require_ready,
    stop_on_signals,
)
from connector.engine.runner import hand_over
from connector.errors import ConfigError, ConnectorError

STOPPED = (
    "stopped: by a remote error (credentials, unreachable system, rejected query), or by SIGTERM / Ctrl-C once "
    "the page being written was committed (run the same command again to go on)"
)
FlowsArg = Annotated[
    list[str] | None,
    typer.Argument(help="flows to run (default: all configured); the same as --flow", show_default=False),
]


def _flow_opt(help_text: str) -> Any:
    return typer.Option("--flow", metavar="FLOW", help=help_text, show_default=False)


@app.command(epilog=exits(0, 1, 2, 3, 4, 5, c3=STOPPED))
def backfill(
    flows: FlowsArg = None,
    since: Annotated[
        str, typer.Option(metavar="DATE", help="first document date to load, e.g. 2017-01-01")
    ] = "2017-01-01",
    until: Annotated[
        str | None, typer.Option(metavar="DATE", help="stop before this date (default: no end)")
    ] = None,
    flow: Annotated[
        list[str] | None,
        _flow_opt("flow to backfill, repeatable (default: all configured); or name flows as arguments"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="read and plan only; print what would be written")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="ignore the saved position and start from --since")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Load all historical documents since a date. Resumable: rerun the same command after any interruption.

    SIGTERM or Ctrl-C stops it once the page being written is committed (a second one stops at once; the next run
    settles that page), and it exits 3 saying how far each flow got."""
    since_dt = parse_date(since, "--since")
    until_dt = parse_date(until, "--until")
    with connector(config) as conn, stop_on_signals(conn.stop) as caught:
        require_ready(conn, dry_run)
        failed = 0
        names = conn.flows(_wanted(flows, flow))
        runs = []
        for name in names:
            runner = conn.runner(name)
            tz = runner.tz
            start = since_dt.replace(tzinfo=tz) if since_dt and since_dt.tzinfo is None else since_dt
            end = until_dt.replace(tzinfo=tz) if until_dt and until_dt.tzinfo is None else until_dt
            runs.append((name, runner, start, end))
        if not dry_run:
            # Each flow's first page is read while the flow before it writes its last, where nothing it reads can
            # depend on those writes: its Bitrix24 reads ride in that flow's last write batch (bitrix24/rides.py).
            hand_over([(runner, start, end) for _, runner, start, end in runs], restart)
        try:
            with _display(runs) as run:
                for i, (_, runner, start, end) in enumerate(runs):
                    report = run(i, runner, start, end, dry_run, restart)
                    if dry_run:
                        print_plan(report, runner.target)
                    print_report(report)
                    failed += report.failed
                    if caught and (report.stopped or names[i + 1 :]):
                        _stopped(caught[0], report, names[i + 1 :], dry_run)
        except ConnectorError as exc:
            raise fail(exc) from None
    if failed:
        out.print(
            "some records would fail (the reasons are above; a dry run records nothing, so `b24-1c failed` does "
            "not list them)"
            if dry_run
            else "some records failed: `b24-1c failed` lists them, `b24-1c retry` requeues them"
        )
        raise typer.Exit(EXIT_FAILED_RECORDS)


def _wanted(flows: list[str] | None, flow: list[str] | None) -> list[str] | None:
    """Flows named as arguments and with --flow, in order, each once (None: all configured)."""
    named = list(dict.fromkeys([*(flows or []), *(flow or [])]))
    return named or None


def _stopped(
    signal_name: str,
    report: Any,
    not_started: list[str],
    dry_run: bool,
    resume: str = "Run the same command again to resume from the saved position.",
) -> None:
    """Say what the interrupted command committed and how to go on; exit 3."""
    done = (
        "nothing was written (dry run)"
        if dry_run
        else f"{report.flow}: {report.read} read, {report.created} created, {report.updated} updated and committed"
    )
    rest = f"; not started: {', '.join(not_started)}" if not_started else ""
    err.print(
        f"stopped by {signal_name} after a committed page: {done}{rest}. {resume}",
        highlight=False,
        markup=False,
    )
    raise typer.Exit(EXIT_STOPPED)


@contextmanager
def _display(runs: list[tuple[str, Any, Any, Any]]) -> Iterator[Callable[..., Any]]:
    """How each flow of a backfill runs: plainly when stderr is not a terminal; else under one live display whose
    bars (one per flow, totals counted at the sources first) are all shown before the first page is read."""
    if not sys.stderr.isatty():
        yield lambda i, runner, start, end, dry_run, restart: runner.backfill(
            start, end, dry_run=dry_run, restart=restart
        )
        return
    from connector.cli.progress import BackfillDisplay

    with BackfillDisplay(err, redirect_stdout=sys.stdout.isatty()) as shown:
        tasks = [
            shown.add(f"flow {i + 1} of {len(runs)}: {name}", runner.source.count(start, end))
            for i, (name, runner, start, end) in enumerate(runs)
        ]
        yield lambda i, runner, start, end, dry_run, restart: shown.run(
            tasks[i], runner, start, end, dry_run=dry_run, restart=restart
        )


@app.command(epilog=exits(0, 1, 2, 3, 4, 5, c3=STOPPED))
def sync(
    flows: FlowsArg = None,
    flow: Annotated[
        list[str] | None,
        _flow_opt("flow to run, repeatable (default: all configured); or name flows as arguments"),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="plan only; print what would be written")
    ] = False,
    full_scan: Annotated[
        bool,
        typer.Option(
            "--full-scan",
            help="compare every record's version now, not only recent ones (a 1C document posted with an old "
            "date is otherwise seen by the next scheduled full scan, `changes.full_scan_every`, default hourly)",
        ),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Run one incremental cycle of the flows and exit (what the daemon does on each tick).

    SIGTERM or Ctrl-C stops it once the page being written is committed (exit 3); the next run reads what is left."""
    with connector(config) as conn, stop_on_signals(conn.stop) as caught:
        require_ready(conn, dry_run)
        failed = 0
        names = conn.flows(_wanted(flows, flow))
        for i, name in enumerate(names):
            runner = conn.runner(name)
            try:
                report = runner.incremental(
                    conn.config.sync.lookback_days, dry_run=dry_run, full_scan=True if full_scan else None
                )
            except ConnectorError as exc:
                raise fail(exc) from None
            if dry_run:
                print_plan(report, runner.target)
            print_report(report)
            failed += report.failed
            if caught and (report.stopped or names[i + 1 :]):
                _stopped(
                    caught[0],
                    report,
                    names[i + 1 :],
                    dry_run,
                    "Run `b24-1c sync` again: it reads what is left.",
                )
    if failed:
        raise typer.Exit(EXIT_FAILED_RECORDS)


@app.command(
    epilog=exits(
        0,
        2,
        4,
        5,
        c0="stopped by SIGTERM or Ctrl-C (a failing cycle is logged and retried on the next tick)",
    )
    + " The systemd unit does not restart on 2 and 5 (RestartPreventExitStatus=): a human must act first."
)
def run(
    config: ConfigOpt = None,
    http: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="also serve /metrics (Prometheus), /healthz and a read-only status page, e.g. 127.0.0.1:9108",
        ),
    ] = None,
) -> None:
    """Run as a daemon: every flow on its schedule (schedules/default.yaml) until SIGTERM or Ctrl-C."""
    from connector.daemon import Daemon
    from connector.schedule import load_schedule
    from connector.webstatus import parse_address

    with connector(config) as conn:
        try:
            address = parse_address(http) if http else None
            schedule = load_schedule(conn.config.schedule_path, list(conn.config.flows))
        except ConfigError as exc:
            raise fail(exc) from None
        require_ready(conn, dry_run=False)
        Daemon(conn, schedule, http=address).start()
