"""The money flow's memo of what it last wrote to a deal (connector/flows/money/memo.py), pure: which changes of an
order are quiet (only the deal's money fields change: one update, no read) and which still read the deal first
(a stage that may move, a payment, a to-do, an overdue task, a to-do of ours the ledger does not know), and what a
plan leaves in the memo once sent."""

from __future__ import annotations

from typing import Any

from connector.flows.money.context import OrderContext
from connector.flows.money.memo import Memo, memo_flow
from connector.ledger import Child
from connector.records import Action, Mapped, SourceState, content_hash
from tests.unit.test_money_target_rules import (
    STAGES,
    TODAY,
    action,
    deal,
    facts,
    methods,
    plan,
    receipt,
    replies,
    rules,
    sent,
)

FIELDS = {"UF_CRM_1C_PAID_PERCENT": 40, "UF_CRM_1C_BALANCE": "15000.00"}
PAID = Child("o1", "payment", "r1:1", "301", None)  # its state set from the row below


def order(stage: Any = "EXECUTING", rows: list[Any] | None = None, **fields: Any) -> Action:
    return action({**FIELDS, **fields, "STAGE_ID": stage}, rows=rows)


def memo_of(act: Action, left: tuple[str, int, str] = ("EXECUTING", 0, "P")) -> Memo:
    return Memo.of(act.record, "12", "STAGE_ID", left)


def paid_child(row: dict[str, Any]) -> Child:
    return Child("o1", "payment", row["key"], "301", content_hash(row))


def quiet(act: Action, memo: Memo, children: list[Child] | None = None, stages: Any = STAGES) -> bool:
    return rules().quiet(act, OrderContext("12", {}, children or []), memo, stages, TODAY)


def test_only_new_money_fields_are_one_update_of_every_field_without_the_stage() -> None:
    before = order()
    now = order(UF_CRM_1C_BALANCE="20000.00")
    memo = memo_of(before)
    assert quiet(now, memo)
    p = plan(now, OrderContext("12", {}, memo=memo))
    ((method, params),) = sent(p)
    assert method == "crm.deal.update" and params["id"] == "12"
    assert params["fields"] == {"UF_CRM_1C_PAID_PERCENT": 40, "UF_CRM_1C_BALANCE": "20000.00"}  # no STAGE_ID
    # the same fields as written last: nothing is sent
    assert sent(plan(order(), OrderContext("12", {}, memo=memo))) == []


def test_the_memo_follows_a_plan_that_succeeded_and_is_dropped_when_a_command_failed() -> None:
    now = order(UF_CRM_1C_BALANCE="20000.00")
    p = plan(now, OrderContext("12", {}, memo=memo_of(order())))
    kept = [c for c in p.links(replies(p), {}) if isinstance(c, SourceState) and c.flow == memo_flow("money")]
    assert kept == [memo_of(now).state("money", "o1")]
    (key,) = p.units[0]
    failed = p.links({}, {key: {"error": "NOT_FOUND"}})
    assert SourceState("money:deal", "deal", "o1", drop=True) in failed


def test_a_read_plan_leaves_the_stage_it_moved_to_in_the_memo() -> None:
    now = order("FINAL_INVOICE")
    p = plan(now, OrderContext("12", deal(STAGE_ID="EXECUTING", STAGE_SEMANTIC_ID="P")))
    assert methods(p) == ["crm.deal.update"]
    (state,) = [c for c in p.links(replies(p), {}) if isinstance(c, SourceState) and c.entity == "deal"]
    assert Memo.load(state.version) == memo_of(now, ("FINAL_INVOICE", 0, ""))
    behind = plan(order("PREPARATION"), OrderContext("12", deal(STAGE_ID="WON", STAGE_SEMANTIC_ID="S")))
    (state,) = [
        c for c in behind.links(replies(behind), {}) if isinstance(c, SourceState) and c.entity == "deal"
    ]
    memo = Memo.load(state.version)
    assert memo is not None and memo.left == ("WON", 0, "S")  # not moved back: the deal as read


def test_a_stage_is_read_for_unless_the_rules_would_not_move_it_from_where_the_memo_left_it() -> None:
    memo = memo_of(order("FINAL_INVOICE"), ("FINAL_INVOICE", 0, ""))
    assert quiet(order("FINAL_INVOICE", UF_CRM_1C_BALANCE="1.00"), memo)  # the same result
    assert quiet(order("EXECUTING"), memo)  # behind the deal's stage: never moved back
    assert not quiet(order("EXECUTING"), memo, stages=None)  # the stage order not known in this process
    assert not quiet(order("WON"), memo)  # forward: read, then moved
    assert not quiet(order({"stage": "C3:PAID", "category": 3}), memo)  # another pipeline
    closed = memo_of(order("WON"), ("WON", 0, "S"))
    assert quiet(order("FINAL_INVOICE"), closed)
    backwards = rules().money.model_copy(update={"stages_backwards": True})
    assert not rules(backwards).quiet(order("EXECUTING"), OrderContext("12", {}), memo, STAGES, TODAY)


def test_a_payment_a_to_do_or_a_task_to_write_or_look_for_is_read_first() -> None:
    row = receipt(1, 10000)
    have = [paid_child(row)]
    act = order(rows=[row])
    memo = memo_of(act)
    assert quiet(order(rows=[row], UF_CRM_1C_BALANCE="1.00"), memo, have)
    assert not quiet(order(rows=[receipt(1, 12000)]), memo, have)  # re-posted with another sum
    assert not quiet(order(rows=[]), memo, have)  # un-posted
    assert not quiet(order(rows=[row, receipt(2, 500)]), memo, have)  # a new one
    due = {**FIELDS, "STAGE_ID": "EXECUTING"}
    with_due = Action(
        "update", Mapped("o1", "v1", {**due, "@facts": facts("2026-03-20"), "@payments": []}), "12"
    )
    todo = Child("o1", "todo", "due", "77", "open", "2026-03-20T10:00:00+03:00")
    assert quiet(with_due, memo, [todo])  # its to-do where it should be
    assert not quiet(with_due, memo, [Child("o1", "todo", "due", "77", "open", "2026-03-01T10:00:00+03:00")])
    assert not quiet(with_due, memo)  # a to-do to add
    old = Action("update", Mapped("o1", "v1", {**due, "@facts": facts("2025-01-20"), "@payments": []}), "12")
    assert not quiet(
        old, memo
    )  # no to-do is added for it, but ours may be on the deal: looked for, as before
    late = {"@facts": facts("2026-02-01", days_overdue=35), "@payments": []}
    overdue = Action("update", Mapped("o1", "v1", {**due, **late}), "12")
    todo_late = Child("o1", "todo", "due", "77", "open", "2026-02-01T10:00:00+03:00")
    assert not quiet(overdue, memo, [todo_late])  # an overdue task to create
    assert quiet(overdue, memo, [todo_late, Child("o1", "task", "overdue", "5", "open")])


def test_a_memo_that_cannot_be_read_is_none() -> None:
    memo = memo_of(order())
    assert Memo.load(memo.dump()) == memo
    for text in (
        None,
        "",
        "{",
        '{"record": "x"}',
        '{"record":"x","deal":"1","fields":"f","stage":"s","left":[]}',
    ):
        assert Memo.load(text) is None
