"""`b24-1c status [--json]`: per flow what the admin needs to know, in words (connector/status.py builds it)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, app, connector, exits, no_ledger_yet, out


@app.command(epilog=exits(0, 2, 5, c0="shown (also when there is no ledger yet: nothing is created)"))
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
) -> None:
    """Per flow: last success, last error, how far changes are read and the lag, failed and waiting records, the
    next scheduled run; and whether a daemon holds the ledger. Reads only; runs next to the daemon."""
    from connector.status import lines

    if no_ledger_yet(config):
        return
    with connector(config, lock=False) as conn:
        info = conn.status()
        now = conn.clock.now()
    if as_json:
        sys.stdout.write(json.dumps(info.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    for line in lines(info, now):
        out.print(line, highlight=False, markup=False)
