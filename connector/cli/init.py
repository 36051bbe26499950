"""`b24-1c init DIR`: a config, the default mappings and the schedule, from the defaults inside the package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector.cli.common import app, exits, fail, out
from connector.errors import ConfigError


@app.command(epilog=exits(0, 2, c2="the folder holds files init would overwrite, or cannot be written"))
def init(
    folder: Annotated[Path, typer.Argument(help="where to write config.yaml, mappings/ and schedules/")],
    ledger: Annotated[
        Path | None,
        typer.Option(
            help="absolute path of the ledger, written into the config (e.g. /var/lib/b24-1c/ledger.sqlite3)"
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(help="KEY=value secrets file the config reads (e.g. /etc/b24-1c/secrets.env)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite files that are already there")] = False,
) -> None:
    """Write a config, the default mappings and schedules into FOLDER (works from a pip-installed b24-1c)."""
    from connector.init import init_dir

    try:
        written = init_dir(folder, ledger=ledger, force=force, env_file=env_file)
    except ConfigError as exc:
        raise fail(exc) from None
    for path in written:
        out.print(f"wrote {path}", highlight=False)
    out.print(
        f"next: set the variables the config names (or --env-file), then b24-1c check --config {folder / 'config.yaml'}",
        highlight=False,
    )
