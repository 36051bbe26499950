"""`b24-1c status` per flow in words, with who holds the ledger; `b24-1c explain deal ID FIELD` from the history."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from connector.app import LedgerLock
from connector.cli import app
from connector.status import state_path
from tests.conftest import EXAMPLE, SINCE

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

    from connector.app import Connector

pytestmark = pytest.mark.integration


def run_cli(box: Sandbox, ledger: Path, *args: str) -> Any:
    env = {**box.env(), "B24_1C_LEDGER": str(ledger), "B24_1C_LOG_LEVEL": "WARNING"}
    result = CliRunner().invoke(app, [*args, "--config", str(EXAMPLE)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def synced(connector: Connector, sandbox: Sandbox) -> Connector:
    for flow in ("orders", "money"):
        report = connector.runner(flow).backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
        assert report.failed == 0, report.errors
    connector.runner("orders").incremental(30)
    return connector


def test_status_says_per_flow_what_happened_and_what_is_next(synced: Connector, sandbox: Sandbox) -> None:
    ledger = synced.config.ledger_path
    data = json.loads(run_cli(sandbox, ledger, "status", "--json").stdout)
    flows = {f["flow"]: f for f in data["flows"]}
    assert set(flows) == set(synced.config.flows)
    orders = flows["orders"]
    assert orders["last_success"] and orders["last_success_kind"] == "sync"
    assert orders["changes_read_to"] and orders["lag_seconds"] is not None and orders["lag_seconds"] < 3600
    assert orders["backfill"].startswith("done, since 2017-01-01")
    assert flows["managers"]["last_success"] is None and flows["managers"]["backfill"] is None
    # The fixture's open connector holds the ledger, as a manual backfill would: not a daemon.
    assert data["daemon"]["holder"] == "other" and data["daemon"]["pid"] == os.getpid()
    text = run_cli(sandbox, ledger, "status").stdout
    assert "last success:   never" in text  # managers never ran
    assert "next run:       not scheduled (no daemon running)" in text
    assert "links:" not in text and "outcomes:" not in text  # words, not raw table counts


def test_status_tells_a_daemon_from_another_process_holding_the_ledger(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    from connector.ledger import Ledger

    ledger = tmp_path / "ledger.sqlite3"
    Ledger(ledger).close()
    lock = LedgerLock(ledger)
    lock.acquire()  # this process plays the other b24-1c process
    try:
        data = json.loads(run_cli(sandbox, ledger, "status", "--json").stdout)
        assert data["daemon"]["holder"] == "other" and data["daemon"]["pid"] == os.getpid()
        state = {
            "pid": os.getpid(),
            "started_at": "2026-12-02T03:00:00+00:00",
            "written_at": "2026-12-02T03:05:00+00:00",
            "flows": {
                "orders": {
                    "schedule": "5m",
                    "next_run": "2026-12-02T03:10:00+00:00",
                    "last_error": "1C did not answer: check ONEC_ODATA_URL",
                    "last_error_at": "2026-12-02T03:05:00+00:00",
                }
            },
        }
        state_path(ledger).write_text(json.dumps(state), encoding="utf-8")
        data = json.loads(run_cli(sandbox, ledger, "status", "--json").stdout)
        assert data["daemon"]["holder"] == "daemon" and data["daemon"]["since"] == "2026-12-02T03:00:00+00:00"
        orders = next(f for f in data["flows"] if f["flow"] == "orders")
        assert orders["next_run"] == "2026-12-02T03:10:00+00:00" and orders["schedule"] == "5m"
        assert orders["last_error"] == "1C did not answer: check ONEC_ODATA_URL"  # the daemon's own words
        assert "next run:       2026-12-02T03:10:00+00:00" in run_cli(sandbox, ledger, "status").stdout
    finally:
        lock.release()
    # The daemon is gone but left its file: not trusted.
    data = json.loads(run_cli(sandbox, ledger, "status", "--json").stdout)
    assert data["daemon"]["holder"] == "none" and "stopped without cleaning up" in data["daemon"]["note"]
    assert all(f["next_run"] is None for f in data["flows"])


def test_explain_names_the_value_the_1c_documents_and_the_mapping_rule(
    synced: Connector, sandbox: Sandbox
) -> None:
    ledger = synced.config.ledger_path
    entries = [e for e in synced.ledger.history() if e["flow"] == "money" and e["fields"].get("@payments")]
    assert entries, "the money backfill wrote no deal with payments"
    entry = entries[0]
    deal, paid = entry["target_id"], entry["fields"]["UF_CRM_1C_PAID_AMOUNT"]
    payment = entry["fields"]["@payments"][0]
    writes = json.loads(
        run_cli(sandbox, ledger, "explain", "deal", deal, "UF_CRM_1C_PAID_AMOUNT", "--json").stdout
    )
    assert writes[0]["value"] == paid and writes[0]["flow"] == "money"
    assert writes[0]["source_key"] == entry["source_key"]
    assert writes[0]["mapping"].startswith("mappings/money.yaml@")
    assert '"source": "paid_amount"' in writes[0]["rule"] and writes[0]["fact"].startswith("paid_amount = ")
    assert any(payment["number"] in d and payment["document"] in d for d in writes[0]["documents"])
    text = run_cli(sandbox, ledger, "explain", "deal", deal, "UF_CRM_1C_PAID_AMOUNT").stdout
    assert f"deal {deal}, field UF_CRM_1C_PAID_AMOUNT" in text and "document " in text
    # A field of the orders flow on the same deal: the order itself is the source.
    title = json.loads(run_cli(sandbox, ledger, "explain", "deal", deal, "TITLE", "--json").stdout)
    assert title[0]["flow"] == "orders" and title[0]["rule"].startswith("fields.TITLE: ")
    never = run_cli(sandbox, ledger, "explain", "deal", deal, "UF_CRM_NOT_OURS").stdout
    assert "never wrote UF_CRM_NOT_OURS" in never
