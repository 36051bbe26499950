"""The `b24-1c` command line: commands only, no business logic."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from connector import __version__
from connector.errors import ConfigError, ConnectorError, InstanceLockedError, LedgerError, StopRun

app = typer.Typer(
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


def _exits(*codes: int, **meanings: str) -> str:
    """The exit codes a command can end with, for its --help (`c0="..."` overrides the meaning of 0)."""
    return "Exit codes: " + "; ".join(f"{c} {meanings.get(f'c{c}', _EXIT_MEANINGS[c])}" for c in codes) + "."


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="config file (default: $B24_1C_CONFIG, ./config.yaml, then ./config.example.yaml)",
    ),
]


def _fail(exc: Exception) -> typer.Exit:
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


def _load(config: Path | None) -> Any:
    from connector.config import find_config, load_config
    from connector.logs import configure

    path = find_config(config)
    cfg = load_config(path)
    fmt = cfg.logging.format
    configure(cfg.logging.level, None if fmt == "auto" else fmt == "json")
    return cfg


@contextmanager
def _connector(config: Path | None, lock: bool = True) -> Iterator[Any]:
    import sqlite3

    from connector.app import Connector
    from connector.ledger import ledger_problem

    cfg = None
    try:
        cfg = _load(config)
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
            exc = StopRun(f"{exc.__class__.__name__}: {exc}")
        raise _fail(exc) from None


def _date(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2017-01-01, got {value!r}") from None
    return parsed


def _print_report(report: Any) -> None:
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
        out.print(f"  failed: {_one_line(e)}", highlight=False, markup=False)
    if report.stopped:
        out.print("stopped after a committed page; run the same command again to continue")


def _one_line(reason: str) -> str:
    """A multi-line reason (1C's "… по причине:\n<reason>") on one line, so no line of output hides the reason."""
    return " ".join(part.strip() for part in reason.splitlines() if part.strip())


def _print_plan(report: Any, target: Any = None) -> None:
    """The planned writes as a reviewable diff: `+` creates with their fields, `~` updates as old → new."""
    updates = [a.target_id for a in report.planned if a.kind == "update" and a.target_id]
    now: dict[str, dict[str, Any]] = {}
    if updates and hasattr(target, "current"):
        try:
            now = target.current(updates)
        except ConnectorError as exc:
            err.print(f"(cannot read the current values for the diff: {exc})", highlight=False, markup=False)
    for action in report.planned:
        fields = {k: v for k, v in action.record.fields.items() if not k.startswith("@")}
        if action.kind == "create":
            out.print(f"+ create: {action.record.label}", highlight=False, markup=False)
            for name, value in action.record.create_fields().items():
                if not name.startswith("@"):
                    out.print(f"    + {name} = {value!r}", highlight=False, markup=False)
        else:
            old = now.get(str(action.target_id), {})
            out.print(f"~ update {action.target_id}: {action.record.label}", highlight=False, markup=False)
            for name, value in fields.items():
                before = old.get(name)
                if not old:
                    out.print(f"    ~ {name} = {value!r}", highlight=False, markup=False)
                elif _differs(before, value):
                    out.print(f"    ~ {name}: {before!r} → {value!r}", highlight=False, markup=False)
        if action.record.rows is not None and (action.kind == "create" or not action.record.rows_on_create):
            out.print(f"    rows: {len(action.record.rows)}", highlight=False, markup=False)


def _differs(before: Any, after: Any) -> bool:
    if before is None and after in ("", None):
        return False
    try:
        return abs(float(str(before)) - float(str(after))) > 0.005
    except (TypeError, ValueError):
        return (
            str(before)[:10] != str(after)[:10]
            if str(after)[:4].isdigit() and len(str(after)) == 10
            else str(before) != str(after)
        )


@app.command()
def check(
    config: ConfigOpt = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="also check every field name against 1C $metadata and Bitrix24 crm.*.fields"
        ),
    ] = False,
) -> None:
    """Validate config, mappings and schedules (without network unless --online); exit 2 on any problem."""
    from connector.mapping.schema import load_mappings
    from connector.schedule import load_schedule

    try:
        cfg = _load(config)
        problems: list[str] = []
        mappings: dict[str, Any] = {}
        try:
            mappings = load_mappings(cfg.mappings_path, cfg.flows)
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
        try:
            load_schedule(cfg.schedule_path, list(cfg.flows))
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
        if problems:
            raise ConfigError(f"{len(problems)} problem(s)", problems=problems)
    except ConfigError as exc:
        raise _fail(exc) from None
    for flow in cfg.flows:
        spec = mappings.get(flow)
        rules = (
            list(spec.fields.items()) + (list(spec.rows.fields.items()) if spec and spec.rows else [])
            if spec
            else []
        )
        for target, rule in rules:
            if rule.link and rule.link not in cfg.flows:
                err.print(
                    f"note: flow {flow}, field {target} links to flow '{rule.link}', which config.flows does "
                    "not run: it stays empty",
                    highlight=False,
                )
    if online:
        from connector.online_check import check_online

        with _connector(config, lock=False) as conn:
            try:
                found = check_online(conn)
            except ConnectorError as exc:
                raise _fail(exc) from None
        if found:
            raise _fail(ConfigError(f"{len(found)} name(s) do not exist on the live systems", problems=found))
    out.print(
        f"ok: {cfg.source} — flows {', '.join(cfg.flows)}; mappings {', '.join(mappings)}; "
        f"schedule {cfg.schedule_path}" + ("; every field name exists in 1C and Bitrix24" if online else ""),
        highlight=False,
    )


@app.command(epilog=_exits(0, 1, 2, 3, 4, 5, c1="some fields or stages could not be created"))
def setup(config: ConfigOpt = None) -> None:
    """Create the Bitrix24 deal user fields the mappings use (idempotent: present ones are left alone)."""
    with _connector(config) as conn:
        try:
            report = conn.setup()
        except ConnectorError as exc:
            raise _fail(exc) from None
    for name, state in report:
        out.print(f"{name}: {state}", highlight=False)
    if any(state.startswith("failed") for _, state in report):
        raise typer.Exit(EXIT_FAILED_RECORDS)


@app.command(epilog=_exits(0, 1, 2, 3, 4, 5))
def backfill(
    since: Annotated[str, typer.Option(help="first document date to load, e.g. 2017-01-01")] = "2017-01-01",
    until: Annotated[str | None, typer.Option(help="stop before this date (default: no end)")] = None,
    flow: Annotated[
        list[str] | None, typer.Option(help="flow(s) to backfill (default: all configured)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="read and plan only; print what would be written")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="ignore the saved position and start from --since")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Load all historical documents since a date. Resumable: rerun the same command after any interruption."""
    since_dt = _date(since, "--since")
    until_dt = _date(until, "--until")
    with _connector(config) as conn:
        _require_ready(conn, dry_run)
        failed = 0
        for name in conn.flows(flow):
            runner = conn.runner(name)
            tz = runner.tz
            start = since_dt.replace(tzinfo=tz) if since_dt and since_dt.tzinfo is None else since_dt
            end = until_dt.replace(tzinfo=tz) if until_dt and until_dt.tzinfo is None else until_dt
            try:
                report = _with_progress(conn, runner, start, end, dry_run, restart)
            except ConnectorError as exc:
                raise _fail(exc) from None
            if dry_run:
                _print_plan(report, runner.target)
            _print_report(report)
            failed += report.failed
    if failed:
        out.print("some records failed: `b24-1c failed` lists them, `b24-1c retry` requeues them")
        raise typer.Exit(EXIT_FAILED_RECORDS)


def _require_ready(conn: Any, dry_run: bool) -> None:
    """Writes wait for `b24-1c setup`: the portal must have the user fields and stages the mappings name."""
    try:
        conn.require_ready()
    except ConfigError as exc:
        if not dry_run:
            raise _fail(exc) from None
        err.print(f"note: {exc}", highlight=False, markup=False)
    except ConnectorError as exc:
        raise _fail(exc) from None


def _with_progress(conn: Any, runner: Any, start: Any, end: Any, dry_run: bool, restart: bool) -> Any:
    if not sys.stderr.isatty():
        return runner.backfill(start, end, dry_run=dry_run, restart=restart)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = runner.source.count(start, end)
    with Progress(
        TextColumn(f"{runner.flow}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as progress:
        task = progress.add_task("backfill", total=total)
        return runner.backfill(
            start, end, dry_run=dry_run, restart=restart, progress=lambda n: progress.advance(task, n)
        )


@app.command(epilog=_exits(0, 1, 2, 3, 4, 5))
def sync(
    flows: Annotated[list[str] | None, typer.Argument(help="flows to run (default: all configured)")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="plan only; print what would be written")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Run one incremental cycle of the flows and exit (what the daemon does on each tick)."""
    with _connector(config) as conn:
        _require_ready(conn, dry_run)
        failed = 0
        for name in conn.flows(flows):
            runner = conn.runner(name)
            try:
                report = runner.incremental(conn.config.sync.lookback_days, dry_run=dry_run)
            except ConnectorError as exc:
                raise _fail(exc) from None
            if dry_run:
                _print_plan(report, runner.target)
            _print_report(report)
            failed += report.failed
    if failed:
        raise typer.Exit(EXIT_FAILED_RECORDS)


@app.command(
    epilog=_exits(
        0,
        2,
        4,
        5,
        c0="stopped by SIGTERM or Ctrl-C (a failing cycle is logged and retried on the next tick)",
    )
    + " The systemd unit does not restart on 2 and 5 (RestartPreventExitStatus=): a human must act first."
)
def run(config: ConfigOpt = None) -> None:
    """Run as a daemon: every flow on its schedule (schedules/default.yaml) until SIGTERM or Ctrl-C."""
    from connector.daemon import Daemon
    from connector.schedule import load_schedule

    with _connector(config) as conn:
        try:
            schedule = load_schedule(conn.config.schedule_path, list(conn.config.flows))
        except ConfigError as exc:
            raise _fail(exc) from None
        _require_ready(conn, dry_run=False)
        Daemon(conn, schedule).start()


def _no_ledger_yet(config: Path | None) -> bool:
    """True (and says so) when the configured ledger file does not exist: read-only commands create nothing."""
    try:
        cfg = _load(config)
    except ConfigError as exc:
        raise _fail(exc) from None
    if cfg.ledger_path.exists():
        return False
    out.print(
        f"no ledger yet at {cfg.ledger_path}: nothing has run with this config (`b24-1c backfill` starts it); "
        "if a ledger was there before, restore it from a backup or run `b24-1c backfill` to rebuild the links",
        highlight=False,
        markup=False,
    )
    return True


@app.command(epilog=_exits(0, 2, 5, c0="shown (also when there is no ledger yet: nothing is created)"))
def status(config: ConfigOpt = None) -> None:
    """Show the ledger: links, pending intents, open failures and the last runs."""
    if _no_ledger_yet(config):
        return
    with _connector(config, lock=False) as conn:
        info = conn.status()
    out.print(f"ledger {info['ledger']} (schema v{info['schema_version']})", highlight=False)
    out.print(
        f"installation {info['installation']} (ORIGINATOR_ID on our objects; docs/identity.md)",
        highlight=False,
    )
    for k, v in info["counts"].items():
        out.print(f"  {k}: {v}")
    for r in info["runs"]:
        out.print(
            f"  run {r['id']} {r['flow']} {r['kind']} {r['status']} {r['started_at']} {r['stats'] or ''}",
            highlight=False,
            markup=False,
        )


@app.command(epilog=_exits(0, 2, 5, c0="listed (also when none failed)"))
def failed(
    flow: Annotated[str | None, typer.Option(help="only this flow")] = None, config: ConfigOpt = None
) -> None:
    """List records that failed (dead letters) with the reason."""
    if _no_ledger_yet(config):
        return
    with _connector(config, lock=False) as conn:
        letters = conn.ledger.dead_letters(flow, ("open", "waiting"))
    if not letters:
        out.print("no failed records")
        return
    for d in letters:
        note = " [waiting for another flow; retried every cycle]" if d.status == "waiting" else ""
        label = d.label or d.source_key
        reason = d.reason.removeprefix(f"{label}: ")  # targets prefix the reason with the label already
        out.print(
            f"#{d.id} {d.flow} {label} (attempts {d.attempts}, {d.last_at}): {_one_line(reason)}{note}",
            highlight=False,
            markup=False,
        )


@app.command(epilog=_exits(0, 2, 5, c0="listed (also when nothing was written to it)"))
def history(
    key: Annotated[str, typer.Argument(help="a Bitrix24 deal (or company) id, or a 1C Ref_Key")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
) -> None:
    """What the connector wrote to this object (or from this 1C record): when, which flow, which mapping, which
    values. Read from the ledger's append-only history (losing the ledger loses the history, never correctness)."""
    if _no_ledger_yet(config):
        return
    with _connector(config, lock=False) as conn:
        entries = conn.ledger.history(target_id=key) + conn.ledger.history(source_key=key)
    entries.sort(key=lambda e: e["id"], reverse=True)
    if as_json:
        sys.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2) + "\n")
        return
    if not entries:
        out.print(f"nothing written to or from {key} in this ledger")
        return
    for e in entries:
        out.print(
            f"{e['at']} {e['flow']} {e['action']} → {e['target_id']} from {e['source_key']}"
            f" (version {e['source_version']}; {e['mapping']})",
            highlight=False,
            markup=False,
        )
        for name, value in e["fields"].items():
            shown = f"{len(value)} rows" if name == "@rows" and isinstance(value, list) else repr(value)
            out.print(f"    {name} = {shown}", highlight=False, markup=False)


@app.command(epilog=_exits(0, 2, 4, 5))
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="dead-letter ids (default: all)")] = None,
    flow: Annotated[str | None, typer.Option(help="only this flow")] = None,
    config: ConfigOpt = None,
) -> None:
    """Requeue failed records; the next `sync` (or daemon cycle) processes them first."""
    with _connector(config) as conn:
        letters = conn.ledger.requeue(flow, ids)
    out.print(f"requeued {len(letters)} record(s); run `b24-1c sync` to process them now")


@app.command()
def reconcile(
    since: Annotated[
        str | None, typer.Option(help="only orders dated from this day, e.g. 2024-01-01 (default: all)")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="re-sync the drifted orders, then check them again")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the result as JSON instead of a table")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Compare every posted 1C order (ordered, paid, shipped) with its Bitrix24 deal and print the drift.

    Exit codes: 0 every deal shows what 1C says; 1 drift found (with --repair: drift left after the repair);
    2 config error; 3 stopped by an error; 4 another process holds the ledger (--repair only); 5 the ledger cannot
    be used (damaged, not writable, disk full).
    """
    from connector.reconcile import Reconciler, drift_table

    since_dt = _date(since, "--since")
    with _connector(config, lock=repair) as conn:  # a read-only check may run next to the daemon
        reconciler = Reconciler(conn)
        result = reconciler.scan(since_dt)
        payload: dict[str, Any] = result.as_dict()
        left, reports = result.drifts, []
        if repair and result.drifts:
            reports = reconciler.repair(result.drifts)
            left = reconciler.check([d.key for d in result.drifts]).drifts
            payload["repair"] = {
                "runs": [r.as_dict() for r in reports],
                "errors": [e for r in reports for e in r.errors],
                "left": [d.as_dict() for d in left],
            }
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        if result.drifts:
            out.print(drift_table(result.drifts))
        out.print(result.summary(), highlight=False, markup=False)
        if repair and result.drifts:
            for r in reports:
                out.print(
                    f"repair {r.flow}: updated {r.updated}, created {r.created}, failed {r.failed}",
                    highlight=False,
                )
                for e in r.errors[:10]:
                    out.print(f"  failed: {e}", highlight=False, markup=False)
            if left:
                out.print(drift_table(left))
            out.print(
                f"after repair: {len(left):,} of {len(result.drifts):,} drifted order(s) still drift",
                highlight=False,
            )
        elif result.drifts:
            out.print("run `b24-1c reconcile --repair` to re-sync them", highlight=False)
    if left:
        raise typer.Exit(EXIT_FAILED_RECORDS)


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option(help="write to this file instead of stdout")] = None,
) -> None:
    """Print the JSON Schema of mapping files (editors use it to autocomplete mappings/*.yaml)."""
    from connector.mapping.schema import json_schema

    text = json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        out.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


SANDBOX_MISSING = (
    "the sandbox is a separate package (b24-1c-sandbox) and is not installed here. "
    "From a source checkout: `pip install ./sandbox` (or `make demo`, which installs both)."
)


def _sandbox_module(name: str) -> Any:
    """The sandbox is optional and never a static import of the product (its wheel ships no emulator code)."""
    import importlib

    try:
        return importlib.import_module(f"b24_1c_sandbox.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "b24_1c_sandbox":
            err.print(f"[red]{SANDBOX_MISSING}[/red]", markup=True, highlight=False)
            raise typer.Exit(EXIT_CONFIG) from None
        raise


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """Run the Bitrix24 and 1C emulators in the foreground (needs the b24-1c-sandbox package; --help lists options)."""
    cli = _sandbox_module("cli")
    raise typer.Exit(cli.main(list(ctx.args), prog="b24-1c sandbox"))


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="orders to generate since 2017")] = 600,
    seed: Annotated[int, typer.Option(help="dataset seed")] = 7,
) -> None:
    """Run everything end to end against the sandbox and print what happened (needs b24-1c-sandbox)."""
    raise typer.Exit(_sandbox_module("demo").run_demo(out, orders, seed))


@app.command()
def version() -> None:
    """Print the version."""
    out.print(f"b24-1c {__version__}")


def _print_version(value: bool) -> None:
    if value:
        out.print(f"b24-1c {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit"),
    ] = False,
) -> None:
    """Options before the command."""


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["UTC", "app", "main"]
