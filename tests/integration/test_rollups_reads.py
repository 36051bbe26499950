"""A fresh rollups run reads a page in one round of shared batches: the unlinked clients' companies (by their stamp:
the lookup before create rides in it, the target says `finds_in_prepare`) and contacts, and the dormancy tasks of
the linked companies; the tasks of companies found in it take a second round (issue 13 goal 1: each was its own
request, and the lookup before create one more). A create found by its stamp is that company's update: its
outcome, ledger link and history entry are an update's, and nothing but the company's update is written."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
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


def _unasked(keys: Any) -> dict[str, str]:
    raise AssertionError("the engine asked `find` before prepare: rollups look their creates up in prepare")


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
    # prepare's round: the lookup by stamp before create rides in it (no request of its own before it)
    assert set(reads[0]) == {"crm.company.list", "crm.contact.list"}
    assert set(reads[1]) == {"tasks.task.list"}  # the tasks of the companies found in it
    assert len(reads) == 2, reads


def test_companies_found_in_prepare_get_their_tasks_looked_up(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A company that prepare finds itself (every create's: the engine does not ask `find` first) has its dormancy
    task looked up in a second round: a lost ledger never makes a second task."""
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
            monkeypatch.setattr(runner.target, "find", _unasked)  # every client a create until prepare
            report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.failed == 0, report.errors
    assert sorted(
        t["xmlId"] for t in _rest(box, "tasks.task.list", {"select": ["XML_ID"]})["tasks"]
    ) == sorted(t["xmlId"] for t in made)


def _quiet_day(orders: dict[str, list[date]], keys: set[str]) -> date:
    """A day after every order on which no client of these has a fresh dormancy (no task is due)."""
    starts = [_add_months(max(d), 6) for k, d in orders.items() if k in keys]
    day = max(max(d) for k, d in orders.items() if k in keys) + timedelta(days=1)
    for _ in range(800):
        if not any(day - timedelta(days=30) <= s <= day for s in starts):
            return day
        day += timedelta(days=1)
    raise AssertionError("no day without a fresh dormancy")


def test_a_first_run_finds_its_companies_in_prepares_one_request_and_records_updates(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No task is due: the page is read in one request (the lookup by stamp and the contacts), written in one, and
    every client found by its company's stamp is that company's update, never a create of a company we did not
    make: its outcome, its ledger link and its history entry."""
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {  # the companies of the clients with orders (those the rollups source reads)
        c["ORIGIN_ID"]: c["ID"]
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID"]})
        if c["ORIGIN_ID"] in orders
    }
    today = _quiet_day(orders, set(companies))
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(
            make_config(box, tmp_path / "fresh.db")
        ) as conn,  # rollups' first run: every client a create
    ):
        runner = conn.runner("rollups")
        monkeypatch.setattr(runner.target, "find", _unasked)
        sent = requests_of(conn.bitrix24, monkeypatch)
        report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        links = conn.ledger.links("rollups", list(companies))
        history = conn.ledger.history("rollups")
        actions = {
            r[0]: r[1]
            for r in conn.ledger.conn.execute(
                "SELECT source_key, action FROM outcomes WHERE flow = 'rollups' AND status = 'applied'"
            )
        }
    assert report.failed == 0, report.errors
    assert report.created == 0 and report.updated == len(companies) > 0, (report.created, report.updated)
    reads = [r for r in sent if not any(m.endswith(WRITES) for m in r)]
    writes = [m for r in sent for m in r if m.endswith(WRITES)]
    assert len(reads) == 1 and set(reads[0]) == {"crm.company.list", "crm.contact.list"}, reads
    assert len(sent) == 2, sent  # the one round of reads, the one batch of writes
    assert writes == ["crm.company.update"] * len(companies)  # never a company's add, no task
    assert {k: link.target_id for k, link in links.items()} == companies
    assert actions == dict.fromkeys(companies, "update")
    assert {h["source_key"]: (h["action"], h["target_id"]) for h in history} == {
        k: ("update", c) for k, c in companies.items()
    }
    assert all(not set(h["fields"]) & {"ORIGINATOR_ID", "ORIGIN_ID"} for h in history)  # an update's fields


def test_a_dry_run_shows_a_client_found_by_its_stamp_as_its_companys_link_not_a_create(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The dry run of a first run: what prepare found by the stamp is shown linked to its company, with the
    company's update as its step (the engine's `find` used to make it an update before the diff)."""
    from connector.dryrun import plan_lines

    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {
        c["ORIGIN_ID"]: c["ID"]
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID"]})
        if c["ORIGIN_ID"] in orders
    }
    with Connector(make_config(box, tmp_path / "fresh.db")) as conn:
        runner = conn.runner("rollups")
        report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None, dry_run=True)
        lines = plan_lines(report, runner.target)
    labels = {a.record.key: a.record.label for a in report.planned}
    linked = [line for line in lines if line.startswith("= link")]
    assert sorted(linked) == sorted(
        f"= link (found by its stamp): {labels[k]} → company {c}" for k, c in companies.items()
    )
    assert not any(
        line.startswith("+ create") and line[10:] in {labels[k] for k in companies} for line in lines
    )
