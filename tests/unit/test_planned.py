"""The shared path of a target's writes (connector/engine/planned.py), without I/O and with a fixed `today`:
apply_planned (skips pass through, chunks, a lost reply in one chunk does not stop the next), a dry run's preview
(plans only; a failed read is a note), batch units as steps, the dry-run lines under a record's diff, and the money
target's rules through the protocol: the steps of an order on a given day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest

from connector.bitrix24.client import Bitrix24Client
from connector.dryrun import plan_lines
from connector.engine.planned import CommandPlan, PlannedTarget, apply_planned, preview
from connector.engine.report import RunReport
from connector.engine.steps import Planned, RecordPlan, Step
from connector.errors import OutcomeUnknown, RemoteRejected
from connector.flows.money.context import OrderContext, Prepared
from connector.flows.money.target import MoneyTarget
from connector.ledger import Child, Ledger
from connector.mapping.engine import FACTS, PAYMENTS
from connector.mapping.schema import load_mappings
from connector.records import Action, Mapped, Outcome

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 3, 10)
MOSCOW = ZoneInfo("Europe/Moscow")


def act(key: str, kind: str = "update") -> Action:
    return Action(
        kind, Mapped(key, "v1", {"TITLE": key}, label=f"record {key}"), None if kind == "create" else "9"
    )  # type: ignore[arg-type]


class Recorder(PlannedTarget):
    """A target that records what the engine asks of it; `lose` names records whose batch loses its reply."""

    def __init__(self, chunk: int = 0, lose: Sequence[str] = ()) -> None:
        self.chunk = chunk
        self.lose = set(lose)
        self.calls: list[tuple[str, list[str], date]] = []

    def prepare(self, actions: Sequence[Action], today: date) -> str:
        self.calls.append(("prepare", [a.record.key for a in actions], today))
        return "read"

    def rules(self, actions: Sequence[Action], prepared: Any, today: date) -> list[RecordPlan]:
        assert prepared == "read"
        self.calls.append(("rules", [a.record.key for a in actions], today))
        return [RecordPlan(a, [Step("bitrix24", "crm.deal.update", "9")]) for a in actions]

    def execute(self, plans: Sequence[RecordPlan], prepared: Any) -> list[Outcome]:
        self.calls.append(("execute", [p.key for p in plans], DAY))
        done = [Outcome(p.key, p.action.kind, "applied", "9") for p in plans if p.key not in self.lose]
        if len(done) < len(plans):
            lost = OutcomeUnknown("the batch's reply was lost")
            lost.settled = done
            raise lost
        return done


def test_skips_pass_through_and_the_rest_go_prepare_rules_execute_with_the_days_date() -> None:
    target = Recorder()
    assert isinstance(target, Planned)
    outcomes = apply_planned(target, [act("a"), Action("skip", Mapped("s", "v", {}), "7"), act("b")], DAY)
    assert [(o.key, o.status) for o in outcomes] == [("s", "skipped"), ("a", "applied"), ("b", "applied")]
    assert target.calls == [
        ("prepare", ["a", "b"], DAY),
        ("rules", ["a", "b"], DAY),
        ("execute", ["a", "b"], DAY),
    ]


def test_a_chunked_target_is_prepared_per_chunk_and_a_lost_reply_does_not_stop_the_next_chunk() -> None:
    target = Recorder(chunk=2, lose=["b"])
    with pytest.raises(OutcomeUnknown) as caught:
        apply_planned(target, [act(k) for k in "abcde"], DAY)
    assert [c[1] for c in target.calls if c[0] == "prepare"] == [["a", "b"], ["c", "d"], ["e"]]
    # Every record whose reply arrived is settled; only "b" is left for the engine to look up by key.
    assert sorted(o.key for o in caught.value.settled) == ["a", "c", "d", "e"]


def test_the_target_apply_uses_its_business_date() -> None:
    target = Recorder()
    target.today = lambda: date(2027, 1, 2)
    target.apply([act("a")])
    assert {c[2] for c in target.calls if c[0] != "execute"} == {date(2027, 1, 2)}


def test_a_preview_plans_without_executing_and_a_failed_read_is_a_note() -> None:
    target = Recorder()
    plans, notes = preview(target, [act("a"), Action("skip", Mapped("s", "v", {}), "7")], DAY)
    assert [p.key for p in plans] == ["a"] and notes == []
    assert [c[0] for c in target.calls] == ["prepare", "rules"]  # nothing executed

    class Unreadable(Recorder):
        def prepare(self, actions: Sequence[Action], today: date) -> str:
            raise RemoteRejected("crm.deal.list: ACCESS_DENIED")

    plans, notes = preview(Unreadable(), [act("a")], DAY)
    assert plans == [] and len(notes) == 1 and "ACCESS_DENIED" in notes[0]


def test_batch_units_become_steps_with_the_objects_they_write() -> None:
    plan = CommandPlan(act("a", "create"))
    plan.add(
        {
            "a0": ("crm.deal.add", {"fields": {"TITLE": "x"}}),
            "r0": ("crm.deal.productrows.set", {"id": "$result[a0]", "rows": []}),
        }
    )
    plan.add({"u0": ("crm.company.update", {"id": 12, "fields": {}})})
    assert [(s.name, s.target_id) for s in plan.steps] == [
        ("crm.deal.add", None),
        ("crm.deal.productrows.set", None),  # made in the same batch: not known before it runs
        ("crm.company.update", "12"),
    ]


def test_a_dry_run_shows_each_records_steps_done_and_problems_under_its_diff() -> None:
    report = RunReport("orders", "sync", dry_run=True)
    a, b = act("a"), act("b")
    report.planned += [a, b]
    report.plans += [
        RecordPlan(
            a, [Step("bitrix24", "crm.deal.update", "9"), Step("bitrix24", "tasks.task.add")], ["to-do 5"]
        ),
        RecordPlan(b, problems=["no deal yet"]),
    ]
    report.notes.append("(cannot read …)")
    noted: list[str] = []
    lines = plan_lines(report, object(), noted.append)
    assert lines == [
        "~ update 9: record a",
        "    ~ TITLE = 'a'",
        "    steps: crm.deal.update, tasks.task.add",
        "    done: to-do 5",
        "~ update 9: record b",
        "    ~ TITLE = 'b'",
        "    steps: none",
        "    problem: no deal yet",
    ]
    assert noted == ["(cannot read …)"]


# -- the money target's rules, through the protocol, on a fixed day -----------------------------------------------


class _Raises:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the rules used {name}: they are pure")


def money_target() -> MoneyTarget:
    spec = load_mappings(ROOT / "mappings", ["money", "orders"])["money"]
    assert spec.money is not None and spec.money.payments.mode == "native"

    def no_clock() -> date:
        raise AssertionError("the rules read the target's clock instead of the day they are given")

    client, ledger = cast(Bitrix24Client, _Raises()), cast(Ledger, _Raises())
    return MoneyTarget(client, spec, ledger, no_clock, MOSCOW, MOSCOW)


def order(due: str, rows: list[dict[str, Any]]) -> Action:
    facts = {"pay_due_date": due, "days_overdue": 0, "fully_paid": False, "Number": "ЦБ-1"}
    return Action("update", Mapped("o1", "v1", {FACTS: facts, PAYMENTS: rows}, label="order ЦБ-1"), "12")


RECEIPT = {
    "key": "r1:1",
    "document": "r1",
    "number": "ЦБ-1",
    "date": "2026-03-01T10:00:00",
    "amount": "5000",
    "kind": "bank",
    "refund": False,
}


def test_money_rules_steps_on_a_given_day() -> None:
    target = money_target()
    deal = {"ID": "12", "STAGE_ID": "NEW", "CATEGORY_ID": "0", "ASSIGNED_BY_ID": "5"}
    todo = Child("o1", "todo", "due", "77", "open", "2026-03-01T10:00:00+03:00")
    prepared = Prepared({}, {"o1": OrderContext("12", deal, [todo])})
    missing = order("2026-03-20", [RECEIPT])
    [plan] = target.rules([missing], prepared, DAY)  # a new receipt, the to-do's date moved
    assert [s.name for s in plan.steps] == [
        "crm.item.payment.add",
        "sale.payment.update",
        "sale.payment.update",
        "crm.activity.update",
    ]
    assert plan.steps[-1].target_id == "77" and plan.problems == []
    # The same order 73 days after its due date: the to-do is closed, and no overdue task that old is opened.
    [later] = target.rules([order("2026-03-20", [])], prepared, date(2026, 6, 1))
    assert [(s.name, s.target_id) for s in later.steps] == [("crm.activity.update", "77")]
    # An order whose deal the orders flow has not made: no step, its reason.
    [waiting] = target.rules([missing], Prepared({}, {}), DAY)
    assert waiting.steps == [] and "no deal yet" in waiting.problems[0]
