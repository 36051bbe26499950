"""The systemd unit does not restart in a loop on the exit codes where only a human can help."""

from __future__ import annotations

from pathlib import Path

from connector.cli import EXIT_CONFIG, EXIT_LEDGER, EXIT_LOCKED, EXIT_STOPPED

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "b24-1c.service"


def _settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_config_and_ledger_exits_are_not_restarted_the_others_are() -> None:
    settings = _settings()
    assert settings["Restart"] == ["on-failure"]
    prevented = {int(code) for value in settings["RestartPreventExitStatus"] for code in value.split()}
    assert prevented == {EXIT_CONFIG, EXIT_LEDGER}
    assert EXIT_STOPPED not in prevented and EXIT_LOCKED not in prevented


def test_the_config_is_validated_by_the_main_process_whose_exit_code_systemd_judges() -> None:
    # RestartPreventExitStatus= looks at the main process only: a failing ExecStartPre= would restart forever.
    settings = _settings()
    assert "ExecStartPre" not in settings
    assert settings["ExecStart"][0].split()[1:3] == ["run", "--config"]


def test_the_daemon_speaks_sd_notify_with_a_watchdog() -> None:
    settings = _settings()
    assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"]
    assert settings["WatchdogSec"] and settings["TimeoutStartSec"]


def test_the_ledger_path_is_not_moved_by_the_unit() -> None:
    # One ledger for the daemon and for manual runs: its path lives in config.yaml (init --ledger), not here.
    assert not any("B24_1C_LEDGER" in value for value in _settings().get("Environment", []))
