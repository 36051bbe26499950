"""The `b24-1c` command line: commands only, no business logic.

One module per group of commands, registered on the one Typer app in the order `--help` lists them:
init (`init`), check/setup (`check`), the go-live checklist (`verify`), backfill/sync/run (`sync`), status (`status`), the ledger and reconcile
(`admin`), explain (`explain`), schema/sandbox/demo/version (`tools`). What they share (exit codes, config loading, error reporting, report printing) is in `common`.
"""

from __future__ import annotations

# isort: off
# The import order is the order `--help` lists the commands in.
from connector.cli import init, check, verify, sync, status, admin, explain, tools
from connector.cli import report

# isort: on
from connector.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED_RECORDS,
    EXIT_LEDGER,
    EXIT_LOCKED,
    EXIT_STOPPED,
    app,
)

_COMMANDS = (
    init,
    check,
    verify,
    sync,
    status,
    admin,
    explain,
    tools,
    report,
)  # imported for their @app.command registrations


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED_RECORDS",
    "EXIT_LEDGER",
    "EXIT_LOCKED",
    "EXIT_STOPPED",
    "app",
    "main",
]
