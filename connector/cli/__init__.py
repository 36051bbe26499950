"""The `b24-1c` command line: commands only, no business logic.

One module per group of commands, registered on the one Typer app in the order `--help` lists them:
check/setup (`check`), the go-live checklist (`verify`), backfill/sync/run (`sync`), the ledger and reconcile
(`admin`), schema/sandbox/demo/version (`tools`). What they share (exit codes, config loading, error reporting, report printing) is in `common`.
"""

from __future__ import annotations

# isort: off
# The import order is the order `--help` lists the commands in.
from connector.cli import check, verify, sync, admin, tools

# isort: on
from connector.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED_RECORDS,
    EXIT_LEDGER,
    EXIT_LOCKED,
    EXIT_STOPPED,
    app,
)

_COMMANDS = (check, verify, sync, admin, tools)  # imported for their @app.command registrations


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
