"""`b24-1c check` and `b24-1c setup`: is the configuration right, and is the portal ready for it."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.common import EXIT_FAILED_RECORDS, ConfigOpt, app, connector, err, exits, fail, out
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
    from connector.config import find_config
    from connector.offline_check import check_files

    try:
        result = check_files(find_config(config))
    except ConfigError as exc:
        raise fail(exc) from None
    if result.problems:
        raise fail(ConfigError(f"{len(result.problems)} problem(s)", problems=result.problems))
    for note in result.notes:
        err.print(f"note: {note}", highlight=False)
    cfg = result.config
    assert cfg is not None  # a config with problems is among result.problems
    if online:  # an alias of `b24-1c verify`: the checklist, with its exit codes
        from connector.cli.verify import run_verify

        run_verify(config, probe=False)
        return
    out.print(
        f"ok: {cfg.source} — flows {', '.join(cfg.flows)}; mappings {', '.join(result.mappings)}; "
        f"schedule {cfg.schedule_path}",
        highlight=False,
    )


@app.command(
    epilog=exits(0, 1, 2, 3, 4, 5, c1="some fields, stages or exchange-plan nodes could not be created")
)
def setup(
    config: ConfigOpt = None,
    exchange_nodes: Annotated[
        bool,
        typer.Option(
            "--exchange-nodes",
            help="also make this installation's nodes in the 1C exchange plan ExchangePlan_ДляCRM, where the base "
            "publishes it (one per 1C-reading flow, its Code the installation id, a dash and the flow, e.g. 1C-000f5baa-orders): the flows then read 1C's "
            "changes from them instead of date windows; do it before the first backfill",
        ),
    ] = False,
) -> None:
    """Create the Bitrix24 deal user fields and stages the mappings use (idempotent: present ones are left alone)."""
    with connector(config) as conn:
        try:
            report = conn.setup()
            if exchange_nodes:
                from connector.flows.exchange_nodes import ensure_nodes

                report += ensure_nodes(conn)
        except ConnectorError as exc:
            raise fail(exc) from None
    for name, state in report:
        out.print(f"{name}: {state}", highlight=False)
    if any(state.startswith("failed") for _, state in report):
        raise typer.Exit(EXIT_FAILED_RECORDS)
