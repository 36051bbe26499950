"""What every `b24-1c` command shares: the Typer app, the consoles, exit codes, config loading and error reporting."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperArgument, TyperGroup

from connector.errors import ConfigError, ConnectorError, InstanceLockedError, LedgerError, StopRun


class _Commands(TyperGroup):
    """Typer's group, with help that names what an option takes (DATE, FLOW, FILE) instead of `<str>`."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        for param in getattr(command, "params", ()):
            if isinstance(param, TyperArgument):  # FLOWS, ID: the name says it, the help says the rest
                param.metavar = param.metavar or (param.name or "value").upper()
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            elif param.metavar is None and hasattr(param, "display_type"):
                param.metavar = _metavar(param.name or "value", param.display_type(ctx))
        return command


def _metavar(name: str, shown: str) -> str:
    """FILE for paths, N for numbers, else the parameter's own name; `...` where it takes several."""
    if shown in ("<file>", "<path>", "<directory>"):
        return "FILE"
    if shown == "<int>":
        return "N"
    return name.upper() + ("..." if shown.startswith("<list[") else "")


app = typer.Typer(
    cls=_Commands,
    name="b24-1c",
    help="Exactly-once sync between Bitrix24 CRM and 1C:Enterprise (УТ 11, КА/ERP 2, БП 3.0).\n\n"
    "Start with `b24-1c demo` (runs everything against the built-in sandbox), then `b24-1c check` on "
    "your own config.yaml.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)

EXIT_FAILED_RECORDS, EXIT_CONFIG, EXIT_STOPPED, EXIT_LOCKED, EXIT_LEDGER = 1, 2, 3, 4, 5
_EXIT_MEANINGS = {
    0: "done",
    1: "done, but some records failed (`b24-1c failed` lists them)",
    2: "configuration problem",
    3: "stopped by a remote error (credentials, unreachable system, rejected query)",
    4: "another b24-1c process holds the ledger",
    5: "the ledger cannot be used (damaged, not writable, disk full; the message says what to do)",
}


def exits(*codes: int, **meanings: str) -> str:
    """The exit codes a command can end with, for its --help (`c0="..."` overrides the meaning of 0)."""
    return "Exit codes: " + "; ".join(f"{c} {meanings.get(f'c{c}', _EXIT_MEANINGS[c])}" for c in codes) + "."


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="FILE",
        help="config file (default: $B24_1C_CONFIG, ./config.yaml, then ./config.example.yaml)",
    ),
]


def fail(exc: Exception) -> typer.Exit:
    """Print why a command stops and return the exit carrying the matching code."""
    if isinstance(exc, ConfigError):
        err.print(f"[red]config error:[/red] {exc}", markup=True, highlight=False)
        return typer.Exit(EXIT_CONFIG)
    if isinstance(exc, InstanceLockedError):
        err.print(f"[red]{exc}[/red]", markup=True, highlight=False)
        return typer.Exit(EXIT_LOCKED)
    if isinstance(exc, LedgerError):
        err.print(f"[red]ledger problem:[/red] {exc}", markup=True, highlight=False)
        return typer.Exit(EXIT_LEDGER)
    err.print(f"[red]stopped:[/red] {exc}", markup=True, highlight=False)
    return typer.Exit(EXIT_STOPPED)


def load(config: Path | None) -> Any:
    """The config (found as --config help says), with logging configured from it."""
    from connector.config import find_config, load_config
    from connector.logs import configure

    path = find_config(config)
    cfg = load_config(path)
    fmt = cfg.logging.format
    configure(cfg.logging.level, None if fmt == "auto" else fmt == "json")
    return cfg


@contextmanager
def connector(config: Path | None, lock: bool = True) -> Iterator[Any]:
    """An open Connector; any failure to open or use it ends the command with its exit code."""
    import sqlite3

    from connector.app import Connector
    from connector.ledger import ledger_problem

    cfg = None
    try:
        cfg = load(config)
        with Connector(cfg, lock=lock) as conn:
            yield conn
    except (ConnectorError, OSError, sqlite3.Error) as exc:
        if isinstance(exc, sqlite3.Error):  # only the ledger speaks SQLite
            path = cfg.ledger_path if cfg is not None else "(unknown)"
            exc = (ledger_problem(cfg.ledger_path, exc) if cfg is not None else None) or LedgerError(
                f"the ledger {path} failed: {exc}; run the command again, and if it repeats, check the file "
                f"(sqlite3 {path} 'PRAGMA integrity_check')"
            )
        elif isinstance(exc, OSError):
            exc = _plain(exc)
        raise fail(exc) from None


def _plain(exc: OSError) -> StopRun:
    """An OS or HTTP error no client translated (a token endpoint, a WSDL download) as one line: the redacted URL and
    the plain reason when it is a request that never reached its host, instead of urllib3's text."""
    import requests

    from connector.netfail import shown, unreached

    request = getattr(exc, "request", None)
    reason = unreached(exc) if isinstance(exc, requests.RequestException) else None
    if reason is not None and request is not None and request.url:
        return StopRun(f"cannot reach {shown(str(request.url))}: {reason}; check that address in the config")
    return StopRun(f"{exc.__class__.__name__}: {exc}")


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[list[str]]:
    """While inside: SIGTERM and Ctrl-C set `stop` (the runner ends after committing the page being written) and
    are named in the yielded list; a second one ends the command at once with exit 3 (the next run settles the
    page by its intents). The previous handlers are restored on the way out."""
    caught: list[str] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if caught:
            err.print(f"{name} again: stopped at once; the next run settles the page that was being written")
            raise typer.Exit(EXIT_STOPPED)
        caught.append(name)
        stop.set()
        err.print(f"{name}: stopping once the page being written is committed ({name} again stops at once)")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield caught
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def parse_date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2017-01-01, got {value!r}") from None
    return parsed


def one_line(reason: str) -> str:
    """A multi-line reason (1C's "… по причине:\n<reason>") on one line, so no line of output hides the reason."""
    return " ".join(part.strip() for part in reason.splitlines() if part.strip())


def print_report(report: Any) -> None:
    table = Table(title=f"{report.flow}: {report.kind}" + (" (dry run)" if report.dry_run else ""))
    for col in ("read", "created", "updated", "skipped", "failed", "recovered", "seconds"):
        table.add_column(col, justify="right")
    table.add_row(
        *(
            str(getattr(report, c))
            for c in ("read", "created", "updated", "skipped", "failed", "recovered", "seconds")
        )
    )
    out.print(table)
    for e in report.errors[:10]:
        out.print(f"  failed: {one_line(e)}", highlight=False, markup=False)
    for w in getattr(report, "waits", [])[:10]:
        out.print(f"  {one_line(w)}", highlight=False, markup=False)
    if getattr(report, "waiting", 0) > 10:
        out.print(
            f"  … {report.waiting} record(s) in all would wait for another flow's creates", highlight=False
        )
    for w in getattr(report, "warnings", [])[:10]:
        out.print(f"  warning: {one_line(w)}", highlight=False, markup=False)
    if report.stopped:
        out.print("stopped after a committed page; run the same command again to continue")


def print_plan(report: Any, target: Any = None) -> None:
    """The planned writes as a reviewable diff (connector.dryrun builds it)."""
    from connector.dryrun import plan_lines

    def note(text: str) -> None:
        err.print(text, highlight=False, markup=False)

    for line in plan_lines(report, target, note):
        out.print(line, highlight=False, markup=False)


def require_ready(conn: Any, dry_run: bool) -> None:
    """Writes wait for `b24-1c setup`: the portal must have the user fields and stages the mappings name."""
    try:
        conn.require_ready()
    except ConfigError as exc:
        if not dry_run:
            raise fail(exc) from None
        err.print(f"note: {exc}", highlight=False, markup=False)
    except ConnectorError as exc:
        raise fail(exc) from None


def no_ledger_yet(config: Path | None) -> bool:
    """True (and says so) when the configured ledger file does not exist: read-only commands create nothing."""
    try:
        cfg = load(config)
    except ConfigError as exc:
        raise fail(exc) from None
    if cfg.ledger_path.exists():
        return False
    out.print(
        f"no ledger yet at {cfg.ledger_path}: nothing has run with this config (`b24-1c backfill` starts it); "
        "if a ledger was there before, restore it from a backup or run `b24-1c backfill` to rebuild the links",
        highlight=False,
        markup=False,
    )
    return True
