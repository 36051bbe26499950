"""A rollups run writes its companies' updates and their dormancy tasks in shared batches (issue 13 goal 1: the
tasks were a request of their own after the updates): a company's task follows its update in the same batch, sent
with `halt`, so a task is still made only if its company's update succeeded; what a halted batch left unsent is sent
again (the updates, then the tasks of those that succeeded)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from connector.app import Connector
from connector.engine.planned import CommandPlan
from connector.errors import OutcomeUnknown
from connector.flows.rollups.model import _add_months
from connector.records import Action
from tests.conftest import SINCE, make_config
from tests.integration.test_invoices_reads import requests_of
from tests.integration.test_rollups import _orders, _rest, box  # noqa: F401  (box: fixture)

pytestmark = pytest.mark.integration
WRITES = ("crm.company.update", "tasks.task.add")


def _due_day(box: Any, tmp_path: Path) -> date:  # noqa: F811
    """Counterparties synced; a day on which a client's dormancy is fresh (its task is due)."""
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "ledger.db")) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {c["ORIGIN_ID"] for c in _rest(box, "crm.company.list", {"select": ["ORIGIN_ID"]})}
    newest = max(max(d) for k, d in orders.items() if k in companies)
    return _add_months(newest, 6) + timedelta(days=3)


def _tasks(box: Any) -> set[str]:  # noqa: F811
    return {t["xmlId"] for t in _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID"]})["tasks"]}


def test_the_updates_and_the_tasks_go_in_one_request(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    today = _due_day(box, tmp_path)
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(make_config(box, tmp_path / "ledger.db")) as conn,
    ):
        sent = requests_of(conn.bitrix24, monkeypatch)
        report = conn.runner("rollups").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.updated > 0 and report.failed == 0, report.errors
    writes = [r for r in sent if any(m in WRITES for m in r)]
    assert len(writes) == 1 and set(writes[0]) == set(WRITES), writes
    assert len(_tasks(box)) == writes[0].count("tasks.task.add") > 0


@pytest.mark.parametrize("which", ["its own", "an earlier one"])
def test_a_task_is_made_only_if_its_company_was_updated_whatever_failed_before_it(
    box: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    which: str,
) -> None:
    """One company's update fails (its id is one the portal does not have): the batch halts there. Its own task is
    never made; a task whose company came after it in the batch is made on the second round."""
    today = _due_day(box, tmp_path)
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(make_config(box, tmp_path / "ledger.db")) as conn,
    ):
        runner = conn.runner("rollups")
        rules = runner.target.rules
        tasked: list[str] = []
        updated: list[str] = []  # the companies whose update is not broken

        def one_update_fails(actions: Sequence[Action], prepared: Any, day: date) -> list[CommandPlan]:
            plans = rules(actions, prepared, day)
            writes = [p for p in plans if p.units]
            first = next(n for n, p in enumerate(writes) if len(p.units) > 1)  # the first client due a task
            assert first > 0  # a company without a task comes before it in the batch
            tasked.extend(p.key for p in writes if len(p.units) > 1)
            plan = writes[first if which == "its own" else first - 1]
            (key, (method, params)), *_ = plan.units[0].items()
            plan.units[0][key] = (method, {**params, "id": "999999"})  # the portal answers "not found"
            updated.extend(str(p.target_id) for p in writes if p is not plan)
            return plans

        monkeypatch.setattr(runner.target, "rules", one_update_fails)
        report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.failed == 1 and "the company was not updated" in report.errors[0], report.errors
    # the companies after it in the halted batch were updated all the same (on the portal, not only reported)
    assert report.updated == len(updated) > 1
    rows = _rest(
        box, "crm.company.list", {"filter": {"@ID": updated}, "select": ["ID", "UF_CRM_1C_ORDERS_COUNT"]}
    )
    assert len(rows) == len(updated) and all(r["UF_CRM_1C_ORDERS_COUNT"] not in (None, "") for r in rows)
    xml = _tasks(box)
    made = {k for k in tasked if any(f":{k}:dormant:" in x for x in xml)}
    assert made == (set(tasked[1:]) if which == "its own" else set(tasked)), (made, tasked)


def test_after_a_lost_reply_every_client_found_by_its_stamp_stays_its_companys_update_with_one_task(
    box: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The first run (every client a create, found by its stamp in prepare) loses the reply of its write batch:
    the engine looks the unsettled clients up with `find` (kept for this; prepare would find them again anyway)
    and sends them again as updates, whose tasks are found on the companies. Nothing but the companies' updates and
    one task per dormancy is written; every outcome and history entry is an update of the client's company."""
    from b24_1c_sandbox.faults import FaultInjector

    today = _due_day(box, tmp_path)
    companies = {
        c["ORIGIN_ID"]: c["ID"] for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID"]})
    }
    before = len(box.portal.calls)
    box.portal.faults = FaultInjector()
    box.portal.faults.force("lost_reply", "batch", times=1)
    with (
        time_machine.travel(datetime.combine(today, time(9), UTC), tick=False),
        Connector(make_config(box, tmp_path / "ledger.db")) as conn,
    ):
        for _ in range(3):
            try:
                conn.runner("rollups").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
                break
            except OutcomeUnknown:  # a run may stop on the lost reply; the next one settles it by stamp
                continue
        history = conn.ledger.history("rollups")
        outcomes = list(
            conn.ledger.conn.execute(
                "SELECT source_key, action, target_id FROM outcomes WHERE flow = 'rollups' AND status = 'applied'"
            )
        )
        pending = conn.ledger.pending("rollups")
    assert box.portal.faults.injected.get("lost_reply") == 1
    assert pending == []
    assert outcomes and all(a == "update" and t == companies[k] for k, a, t in outcomes), outcomes
    assert history and all(h["action"] == "update" for h in history)
    assert {h["source_key"] for h in history} == {k for k, _, _ in outcomes}
    written = Counter(c.method for c in box.portal.calls[before:] if c.method.endswith(".add"))
    tasks = Counter(t["xmlId"] for t in _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID"]})["tasks"])
    assert set(written) == {"tasks.task.add"} and set(tasks.values()) == {1}, (written, tasks)
