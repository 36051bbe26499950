"""`b24-1c verify` (and `check --online`): the go-live checklist against the configured portal and 1C base."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED_RECORDS,
    EXIT_STOPPED,
    ConfigOpt,
    app,
    fail,
    load,
    out,
)
from connector.errors import ConfigError

EXIT_CODES = (
    "Exit codes: 0 ready for go-live, every check passed; 1 the checklist lists problems to fix; "
    "2 configuration problem (config or mapping files); 3 a system did not answer or refused the credentials, "
    "so its checks could not run."
)


def run_verify(config: Path | None, probe: bool) -> None:
    """Print the checklist and end with its exit code (0 only when everything is ready)."""
    from connector.verify import verify

    try:
        found = verify(load(config), probe=probe)
    except ConfigError as exc:
        raise fail(exc) from None
    for line in found.lines():
        out.print(line, highlight=False, markup=False)
    out.print(found.summary(), highlight=False, markup=False)
    if found.unreachable:
        raise typer.Exit(EXIT_STOPPED)
    if not found.ready:
        raise typer.Exit(EXIT_FAILED_RECORDS)


@app.command(epilog=EXIT_CODES)
def verify(
    config: ConfigOpt = None,
    write_probe: Annotated[
        bool,
        typer.Option(
            "--write-probe",
            help="also create one throwaway deal with a payment and delete both (proves the write rights)",
        ),
    ] = False,
) -> None:
    """Check the configuration against the real portal and 1C base; print a go-live checklist of what to fix.

    Read-only unless --write-probe. Checks every Bitrix24 method, scope and right the configured flows use, the
    deal user fields, pipelines and stages, the portal's time zone, the 1C OData publication and read right of
    every object and the field names of every mapping. A host that does not answer fails within seconds.
    """
    run_verify(config, write_probe)


__all__ = ["EXIT_CONFIG", "run_verify", "verify"]
