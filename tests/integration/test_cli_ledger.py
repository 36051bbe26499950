"""The command line around the ledger, as a user meets it: no ledger yet, a bad or damaged one, a second daemon through
a symlink, exit codes (each listed in --help), and failures printed once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.config import load_config
from connector.ledger import Ledger
from connector.records import Outcome
from tests.conftest import EXAMPLE, OFFLINE_ENV
from tests.integration.test_cli import cli

pytestmark = pytest.mark.integration


def test_status_without_a_ledger_says_so_and_creates_nothing(tmp_path: Path) -> None:
    ledger = tmp_path / "state" / "ledger.sqlite3"
    env = {"B24_1C_LEDGER": str(ledger)}
    for command in ("status", "failed"):
        done = cli(command, "--config", str(EXAMPLE), env=env)
        assert done.returncode == 0, done.stderr
        assert f"no ledger yet at {ledger}" in done.stdout and "b24-1c backfill" in done.stdout
    assert list(tmp_path.iterdir()) == []  # no file, no folder, no lock


def test_status_counts_only_pending_intents(tmp_path: Path) -> None:
    from connector.records import Action, Mapped

    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    ledger.begin("orders", None, [Action("create", Mapped(k, "v", {})) for k in ("a", "b", "c")])
    ledger.commit("orders", None, [Outcome(k, "create", "applied", k, "h", "v") for k in ("a", "b")])
    ledger.close()
    done = cli("status", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path)})
    assert done.returncode == 0, done.stderr
    assert "creates announced but not settled: 1 " in done.stdout and ": 3 " not in done.stdout


def test_a_ledger_path_that_cannot_be_a_file_is_a_config_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for bad in (str(tmp_path), str(tmp_path / "file" / "ledger.sqlite3")):
        done = cli("sync", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": bad})
        assert done.returncode == 2, (bad, done.stderr)
        assert "ledger.path" in done.stderr


def test_an_empty_ledger_path_is_rejected_by_check(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "path: ${B24_1C_LEDGER:-state/ledger.sqlite3}", 'path: ""'
    )
    text = text.replace("mappings_dir: mappings", f"mappings_dir: {EXAMPLE.parent / 'mappings'}")
    text = text.replace("schedule: schedules/", f"schedule: {EXAMPLE.parent / 'schedules'}/")
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    done = cli("check", "--config", str(tmp_path / "config.yaml"))
    assert done.returncode == 2
    assert "ledger.path" in done.stderr and "must name the ledger file" in done.stderr


def test_a_damaged_ledger_exits_5_naming_the_file_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"PK\x03\x04 a zip archive someone restored over the ledger" * 50)
    for command in ("sync", "status", "backfill"):
        done = cli(command, "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path)})
        assert done.returncode == 5, (command, done.stderr)
        assert str(path) in done.stderr and "backup" in done.stderr and "b24-1c backfill" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_second_daemon_through_a_symlink_to_the_ledger_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "var" / "ledger.sqlite3"
    config = load_config(EXAMPLE, env={**OFFLINE_ENV, "B24_1C_LEDGER": str(real)})
    link = tmp_path / "ledger-link.sqlite3"
    with Connector(config):  # the first instance holds the lock
        link.symlink_to(real)
        for path in (link, Path(os.path.relpath(real, EXAMPLE.parent))):  # relative to the config file
            done = cli(
                "run", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path)}, cwd=tmp_path, timeout=30
            )
            assert done.returncode == 4, done.stderr
            assert f"using the ledger {real}" in done.stderr and "stop it first" in done.stderr


def test_failed_prints_each_label_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    label = "Document_ЗаказКлиента ЦБ00-000007 (c10ee522)"
    ledger.commit(
        "orders",
        None,
        [Outcome("c10ee522", "create", "failed", error=f"{label}: COMPANY_ID: not synced", label=label)],
    )
    ledger.close()
    done = cli("failed", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ЦБ00-000007") == 1 and "COMPANY_ID: not synced" in done.stdout


@pytest.mark.parametrize(
    "command", ["backfill", "sync", "run", "setup", "status", "failed", "retry", "reconcile"]
)
def test_help_of_the_main_commands_lists_exit_codes(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "Exit codes:" in text and "2 config" in text and "5 the ledger cannot be used" in text


def test_a_record_waiting_for_another_flow_is_processed_once_per_cycle(sandbox: Any, tmp_path: Path) -> None:
    """`sync` printed such a record twice: retried first as waiting, then again by the scan of the same cycle."""
    from datetime import timedelta

    from tests.conftest import SINCE, make_config

    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "orders"]
    with Connector(config) as conn:
        conn.setup()
        # counterparties not synced yet: the orders wait for them
        conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        yesterday = conn.clock.now().astimezone(conn.onec_tz).replace(tzinfo=None, microsecond=0) - timedelta(
            days=1
        )
        sandbox.dataset.order(yesterday)
        conn.runner("orders").incremental(30)
        waiting = conn.ledger.dead_letters("orders", "waiting")
        assert waiting
        report = conn.runner("orders").incremental(30)
        assert report.read == len(waiting) and report.failed == len(waiting)
        assert len(set(report.errors)) == len(report.errors)


def test_failed_shows_the_reason_1c_gave_on_the_same_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    ledger = Ledger(path)
    why = (
        '1C refused to post the order: Не удалось провести "Заказ клиента ЦБ00-000081" по причине:\nНет строк'
    )
    ledger.commit(
        "deals_to_orders", None, [Outcome("77", "create", "failed", "r", error=why, label="deal 77")]
    )
    ledger.close()
    done = cli("failed", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path)})
    line = next(x for x in done.stdout.splitlines() if "deal 77" in x)
    assert line.endswith('"Заказ клиента ЦБ00-000081" по причине: Нет строк')


def test_status_names_the_installation_stamped_on_our_objects(tmp_path: Path) -> None:
    from connector.config import derived_installation_id

    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    odata = "https://erp.example.ru:8443/trade/odata/standard.odata/"
    done = cli("status", "--config", str(EXAMPLE), env={"B24_1C_LEDGER": str(path), "ONEC_ODATA_URL": odata})
    assert done.returncode == 0, done.stderr
    assert f"installation {derived_installation_id(odata)}" in done.stdout
    assert derived_installation_id(odata) == derived_installation_id(odata.replace(":8443", ""))
