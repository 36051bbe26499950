"""Logging follows the current stderr: a command run with a swapped, later closed stderr breaks no later log line."""

from __future__ import annotations

import io
import sys

import pytest
import structlog

from connector.logs import configure, get_logger


def test_a_closed_stderr_of_an_earlier_command_does_not_break_later_log_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", swapped)
    configure(json=True)  # as a command does, inside a runner that swapped stderr
    get_logger("t").info("during the command")
    monkeypatch.undo()
    swapped.close()
    try:
        get_logger("t").info("after the command")  # raised ValueError: I/O operation on closed file
    finally:
        structlog.reset_defaults()
    assert "after the command" in capsys.readouterr().err
