"""A fresh rollups run reads a page in two requests: the lookup before create, then one round of shared batches
with the unlinked clients' companies and contacts and the dormancy tasks of the companies (issue 13 goal 1: each
was its own request)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from connector.app import Connector
from connector.flows.rollups.model import _add_months
from tests.conftest import SINCE, make_config
from tests.integration.test_invoices_reads import WRITES, requests_of
from tests.integration.test_rollups import _orders, _rest, box  # noqa: F401  (box: fixture)

pytestmark = pytest.mark.integration


def test_a_fresh_run_reads_a_page_in_two_requests(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {c["ORIGIN_ID"] for c in _rest(box, "crm.company.list", {"select": ["ORIGIN_ID"]})}
    newest = max(max(d) for k, d in orders.items() if k in companies)
    today = _add_months(newest, 6) + timedelta(days=3)  # a fresh dormancy: a task is due
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(make_config(box, tmp_path / "ledger.db")) as conn,
    ):
        sent = requests_of(conn.bitrix24, monkeypatch)
        report = conn.runner("rollups").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.updated > 0 and report.failed == 0, report.errors
    reads = [r for r in sent if not any(m.endswith(WRITES) for m in r)]
    writes = [m for r in sent for m in r if m.endswith(WRITES)]
    assert "tasks.task.add" in writes  # the tasks lookup had something to find
    assert set(reads[0]) == {"crm.company.list"}  # the lookup before create
    assert {"crm.contact.list", "tasks.task.list"} <= set(reads[1])  # the round of prepare
    assert len(reads) == 2, reads


def test_companies_found_in_prepare_get_their_tasks_looked_up(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A company that prepare finds itself (the lookup before create found nothing, or another flow made it in
    between) has its dormancy task looked up in a second round: a lost ledger never makes a second task."""
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "first.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {c["ORIGIN_ID"] for c in _rest(box, "crm.company.list", {"select": ["ORIGIN_ID"]})}
    newest = max(max(d) for k, d in orders.items() if k in companies)
    today = _add_months(newest, 6) + timedelta(days=3)
    with time_machine.travel(datetime.combine(today, time(9), UTC), tick=False):
        with Connector(make_config(box, tmp_path / "first.db")) as conn:
            conn.runner("rollups").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        made = _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID"]})["tasks"]
        assert made
        with Connector(make_config(box, tmp_path / "lost.db")) as conn:  # an empty ledger
            runner = conn.runner("rollups")
            monkeypatch.setattr(runner.target, "find", lambda keys: {})  # every client a create until prepare
            report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.failed == 0, report.errors
    assert sorted(
        t["xmlId"] for t in _rest(box, "tasks.task.list", {"select": ["XML_ID"]})["tasks"]
    ) == sorted(t["xmlId"] for t in made)
