"""`b24-1c --version` prints the version and exits 0 (as `b24-1c version` does), without needing a config."""

from __future__ import annotations

from typer.testing import CliRunner

from connector import __version__
from connector.cli import app


def test_version_flag_prints_the_version_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"b24-1c {__version__}"


def test_the_version_command_still_works_and_commands_still_run_after_the_callback() -> None:
    assert CliRunner().invoke(app, ["version"]).output.strip() == f"b24-1c {__version__}"
    listed = CliRunner().invoke(app, ["--help"])
    assert listed.exit_code == 0 and "--version" in listed.output and "check" in listed.output
