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
from connector.flows.rollups.target import task_xml_id
from tests.conftest import SINCE, make_config
from tests.integration.test_invoices_reads import WRITES, requests_of
from tests.integration.test_rollups import _orders, _rest, box  # noqa: F401  (box: fixture)

pytestmark = pytest.mark.integration


def _unasked(keys: Any) -> dict[str, str]:
    raise AssertionError("the engine asked `find` before prepare: rollups look their creates up in prepare")


def test_a_fresh_run_reads_a_page_in_one_request(
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
    # prepare's round: the lookup by stamp before create rides in it (no request of its own before it), and the
    # due tasks of the companies the counterparties flow links the clients to (the stamps found confirm them)
    assert set(reads[0]) == {"crm.company.list", "crm.contact.list", "tasks.task.list"}
    assert len(reads) == 1, reads


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


@pytest.mark.parametrize("guess", ["right", "wrong"])
def test_the_tasks_of_companies_the_counterparties_ledger_names_ride_in_prepares_first_round(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    guess: str,
) -> None:
    """With `linked` (the counterparties flow's ledger links), a create due a dormancy task has its task listed in
    the same round as its stamp lookup, on the company the ledger names: a first run reads its page in one request.
    The stamp decides: a guess it does not confirm is asked again on the stamped company (a second round), so a
    wrong guess never makes a second task, also on a lost ledger."""
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        links = {k: link.target_id for k, link in conn.ledger.links("counterparties", list(orders)).items()}
    companies = {
        c["ORIGIN_ID"]: c["ID"]
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID"]})
        if c["ORIGIN_ID"] in orders
    }
    assert {k: v for k, v in links.items() if v.isdigit()} == companies
    keys = sorted(companies)
    guesses = (
        companies
        if guess == "right"
        else {k: companies[keys[(n + 1) % len(keys)]] for n, k in enumerate(keys)}
    )
    newest = max(max(d) for k, d in orders.items() if k in companies)
    today = _add_months(newest, 6) + timedelta(days=3)  # a fresh dormancy: a task is due
    rounds = []
    with time_machine.travel(datetime.combine(today, time(9), UTC), tick=False):
        for ledger in ("first.db", "lost.db"):  # rollups' first run, then again on an empty ledger
            with Connector(make_config(box, tmp_path / ledger)) as conn:
                runner = conn.runner("rollups")
                runner.target.linked = lambda wanted: {k: guesses[k] for k in wanted if k in guesses}
                monkeypatch.setattr(runner.target, "find", _unasked)
                sent = requests_of(conn.bitrix24, monkeypatch)
                report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            assert report.failed == 0 and report.created == 0 and report.updated == len(companies), (
                report.errors
            )
            rounds.append([r for r in sent if not any(m.endswith(WRITES) for m in r)])
    first, lost = rounds
    if guess == "right":
        assert len(first) == 1 and set(first[0]) == {
            "crm.company.list",
            "crm.contact.list",
            "tasks.task.list",
        }
        assert len(lost) == 1, lost
    else:
        assert len(first) == 2 and set(first[1]) == {"tasks.task.list"}, first
    tasks = _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID", "UF_CRM_TASK"]})["tasks"]
    assert tasks and sorted(t["xmlId"] for t in tasks) == sorted(set(t["xmlId"] for t in tasks))  # one each
    assert all(t["ufCrmTask"] == [f"CO_{companies[t['xmlId'].split(':')[1]]}"] for t in tasks)


def test_a_task_on_the_guessed_company_only_is_not_taken_for_the_stamped_companys(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ledger names company B for client A (A's link moved since), and B holds A's dormancy task; A's stamp
    names A's own company: the task is looked for there, as without a guess, and made there."""
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        installation = conn.installation_id
    companies = {
        c["ORIGIN_ID"]: c["ID"]
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID"]})
        if c["ORIGIN_ID"] in orders
    }
    newest = max(max(d) for k, d in orders.items() if k in companies)
    client = next(k for k in companies if max(orders[k]) == newest)  # due a task on `today`
    other = next(c for k, c in companies.items() if k != client)
    xml = task_xml_id(installation, client, newest.isoformat())
    fields = {"TITLE": "older", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": [f"CO_{other}"], "XML_ID": xml}
    _rest(box, "tasks.task.add", {"fields": fields})
    today = _add_months(newest, 6) + timedelta(days=3)
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(make_config(box, tmp_path / "fresh.db")) as conn,
    ):
        runner = conn.runner("rollups")
        runner.target.linked = lambda wanted: {client: other} if client in wanted else {}
        report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.failed == 0, report.errors
    tasks = _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID", "UF_CRM_TASK"]})["tasks"]
    assert sorted(t["ufCrmTask"][0] for t in tasks if t["xmlId"] == xml) == sorted(
        [f"CO_{other}", f"CO_{companies[client]}"]
    )
