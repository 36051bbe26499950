"""`b24-1c check` and `b24-1c setup`: is the configuration right, and is the portal ready for it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from connector.cli.common import EXIT_FAILED_RECORDS, ConfigOpt, app, connector, err, exits, fail, load, out
from connector.errors import ConfigError, ConnectorError


@app.command(
    epilog=exits(
        0,
        1,
        2,
        3,
        c0="config, mappings and schedules are valid (with --online: ready for go-live)",
        c1="with --online only: the checklist lists problems to fix",
        c2="configuration problem (every problem of every file is listed)",
        c3="with --online only: a system did not answer or refused the credentials",
    )
)
def check(
    config: ConfigOpt = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="then run `b24-1c verify` (the go-live checklist against the live systems)"
        ),
    ] = False,
) -> None:
    """Validate config, mappings and schedules without network; exit 2 on any problem (--online: `verify`)."""
    from connector.mapping.schema import load_mappings
    from connector.schedule import load_schedule

    try:
        cfg = load(config)
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
        raise fail(exc) from None
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
    if online:  # an alias of `b24-1c verify`: the checklist, with its exit codes
        from connector.cli.verify import run_verify

        run_verify(config, probe=False)
        return
    out.print(
        f"ok: {cfg.source} — flows {', '.join(cfg.flows)}; mappings {', '.join(mappings)}; "
        f"schedule {cfg.schedule_path}",
        highlight=False,
    )


@app.command(epilog=exits(0, 1, 2, 3, 4, 5, c1="some fields or stages could not be created"))
def setup(config: ConfigOpt = None) -> None:
    """Create the Bitrix24 deal user fields the mappings use (idempotent: present ones are left alone)."""
    with connector(config) as conn:
        try:
            report = conn.setup()
        except ConnectorError as exc:
            raise fail(exc) from None
    for name, state in report:
        out.print(f"{name}: {state}", highlight=False)
    if any(state.startswith("failed") for _, state in report):
        raise typer.Exit(EXIT_FAILED_RECORDS)
