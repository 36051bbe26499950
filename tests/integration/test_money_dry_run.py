"""A dry run writes nothing at all (DESIGN §3): not the ledger — no tracked 1C document, no `:due` look, no
payment, to-do or task link — and neither system. Sources and targets return what must be recorded and the runner
writes it in the page's one commit, so after `sync --dry-run` and `backfill --dry-run` a real `sync` does exactly
what it does in a sandbox where no dry run happened."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import EXAMPLE, ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "money"]
ORDER = "Document_ЗаказКлиента"


def prepared(tmp_path: Path) -> tuple[Any, Path]:
    """A sandbox backfilled through the API, then a new 1C receipt for the reference order, not synced yet."""
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off"))
    box.__enter__()
    box.reference = reference_scenario(box.infobase)
    ledger = tmp_path / "ledger.sqlite3"
    config = make_config(box, ledger)
    config.flows = list(FLOWS)
    with Connector(config) as conn:
        conn.setup()
        for flow in FLOWS:
            report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            assert report.failed == 0, report.errors
    box.dataset.receipt(box.infobase.get(ORDER, box.reference["order"]), 5000, datetime(2024, 11, 20, 9, 30))
    return box, ledger


def cli(box: Any, ledger: Path, *args: str) -> str:
    """`b24-1c …` as a user runs it, in its own process."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    result = subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(EXAMPLE)],
        cwd=ROOT,
        env={**clean, **box.env(), "B24_1C_LEDGER": str(ledger)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def ledger_rows(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def writes(box: Any) -> list[str]:
    """Methods called that change something (a batch's commands are logged one by one)."""
    reads = ("list", "get", "fields", "batch")
    return [c.method for c in box.portal.calls_snapshot() if c.method.rsplit(".", 1)[-1] not in reads]


def outcome(box: Any) -> dict[str, Any]:
    deal = next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == box.reference["order"])
    payments = sorted(
        (p["xmlId"], p["sum"], p["paid"], p["datePaid"])
        for p in box.portal.rows_of("payment")
        if p["_owner"] == [2, int(deal["ID"])]
    )
    return {"paid": deal["UF_CRM_1C_PAID_AMOUNT"], "stage": deal["STAGE_ID"], "payments": payments}


def test_dry_runs_write_nothing_and_the_real_sync_then_matches_a_sandbox_without_them(tmp_path: Path) -> None:
    dry, dry_ledger = prepared(tmp_path / "dry")
    plain, plain_ledger = prepared(tmp_path / "plain")
    try:
        before = ledger_rows(dry_ledger)
        dry.portal.clear_calls()
        shown = cli(dry, dry_ledger, "sync", *FLOWS, "--dry-run")
        assert "money" in shown
        flags = [f"--flow={f}" for f in FLOWS]
        cli(dry, dry_ledger, "backfill", *flags, "--dry-run")
        restarted = cli(
            dry, dry_ledger, "backfill", *flags, "--dry-run", "--restart"
        )  # reads every page again
        # Under the reference order's diff, the steps its rules plan: the new receipt's payment (added, then
        # keyed and marked paid), nothing sent.
        steps = [line.strip() for line in restarted.splitlines() if line.strip().startswith("steps: ")]
        assert any("crm.item.payment.add" in s and "sale.payment.update" in s for s in steps), steps
        assert ledger_rows(dry_ledger) == before  # not one row: no document, no due day, no link, no cursor
        assert writes(dry) == []  # nor a write to Bitrix24 (`batch` would be listed too)

        # The receipt is dated in 2024, outside the look-back window: a full scan is what finds it (the backfill
        # counts as the first one, so a plain cycle waits for the next scheduled scan).
        cli(dry, dry_ledger, "sync", *FLOWS, "--full-scan")
        cli(plain, plain_ledger, "sync", *FLOWS, "--full-scan")
        got, want = outcome(dry), outcome(plain)
        assert float(got["paid"]) == 15000 and len(got["payments"]) == 2
        assert got == want
    finally:
        dry.__exit__(None, None, None)
        plain.__exit__(None, None, None)
