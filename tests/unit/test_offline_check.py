"""`b24-1c check` reports the config's problems and those of its mappings and schedule in the same run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import app
from connector.offline_check import check_files
from tests.conftest import OFFLINE_ENV

ROOT = Path(__file__).resolve().parents[2]


def installation(tmp_path: Path) -> Path:
    """config.example.yaml beside copies of the shipped mappings and schedules; orders.yaml has a typo."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    shutil.copytree(ROOT / "schedules", tmp_path / "schedules")
    orders = tmp_path / "mappings" / "orders.yaml"
    orders.write_text(orders.read_text(encoding="utf-8").replace("type: money", "type: mony", 1), "utf-8")
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.example.yaml").read_text(encoding="utf-8"), "utf-8")
    return config


def test_a_config_with_problems_still_gets_its_mappings_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ONEC_USER", "a")  # three of the four required variables unset
    result = check_files(installation(tmp_path))
    assert result.config is None
    assert sum("environment variable" in p for p in result.problems) == 3, result.problems
    assert any("orders.yaml" in p and "'mony'" in p and "did you mean 'money'?" in p for p in result.problems)


def test_check_lists_the_config_and_the_mapping_problems_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OFFLINE_ENV:
        monkeypatch.delenv(name, raising=False)
    done = CliRunner().invoke(app, ["check", "--config", str(installation(tmp_path))])
    assert done.exit_code == 2
    assert "B24_WEBHOOK_URL" in done.stderr and "'mony'" in done.stderr


def test_a_valid_installation_passes_with_its_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    config = installation(tmp_path)
    orders = tmp_path / "mappings" / "orders.yaml"
    orders.write_text(orders.read_text(encoding="utf-8").replace("type: mony", "type: money"), "utf-8")
    result = check_files(config)
    assert result.problems == [] and result.config is not None and "orders" in result.mappings
    done = CliRunner().invoke(app, ["check", "--config", str(config)])
    assert done.exit_code == 0 and done.stdout.startswith("ok: ")
