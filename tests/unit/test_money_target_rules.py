"""The money target's pure rules (connector/flows/money/rules.py), without I/O and with a fixed `today`: the facts
(paid %, balance, shipped % by amount and by quantity), the payments diff (new, corrected on re-post, removed on
un-post), reminders moved and closed, overdue tasks, and stage moves that never go backwards unless a rule says so.
Each plan is the commands to send and the child links they settle."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connector.flows.facts import Payment, facts_of
from connector.flows.money.context import OrderContext
from connector.flows.money.payments import PaymentRules, Portal
from connector.flows.money.plan import Plan
from connector.flows.money.rules import MoneyRules, stage_move
from connector.ledger import Child
from connector.mapping.engine import FACTS, PAYMENTS
from connector.mapping.schema import MoneySpec
from connector.records import Action as Act
from connector.records import ChildLink, Mapped, SourceState, content_hash

MOSCOW = ZoneInfo("Europe/Moscow")
TODAY = date(2026, 3, 10)
INST = "1C-test"
STAGES = {
    "NEW": 10,
    "PREPARATION": 20,
    "EXECUTING": 40,
    "FINAL_INVOICE": 50,
    "WON": 60,
    "C3:NEW": 10,
    "C3:PAID": 40,
}
MONEY = MoneySpec.model_validate({"reminder": {}, "overdue": {"responsible_id": 7}})


def rules(money: MoneySpec = MONEY) -> MoneyRules:
    return MoneyRules(money, "money", INST, MOSCOW, PaymentRules("money", INST, MOSCOW))


def receipt(n: int, amount: int, day: str = "2026-01-05") -> dict[str, Any]:
    return {
        "key": f"r{n}:1",
        "document": f"r{n}",
        "number": f"ЦБ-{n}",
        "date": f"{day}T10:00:00",
        "amount": str(amount),
        "kind": "bank",
        "refund": False,
    }


def action(fields: dict[str, Any], facts: dict[str, Any] | None = None, rows: list[Any] | None = None) -> Act:
    record = Mapped("o1", "v1", {**fields, FACTS: facts or {}, PAYMENTS: rows or []}, label="order ЦБ-1")
    return Act("update", record, "12")


def deal(**fields: Any) -> dict[str, Any]:
    return {"ID": "12", "STAGE_ID": "NEW", "CATEGORY_ID": "0", "ASSIGNED_BY_ID": "5", **fields}


def plan(act: Act, ctx: OrderContext, money: MoneySpec = MONEY) -> Plan:
    return rules(money).plan(act, ctx, STAGES, TODAY, 0)


def sent(p: Plan) -> list[tuple[str, Any]]:
    return [command for unit in p.units for command in unit.values()]


def methods(p: Plan) -> list[str]:
    return [method for method, _ in sent(p)]


def replies(p: Plan, **by_method: Any) -> dict[str, Any]:
    """Every command of the plan answered (a given method with the given result, others with True)."""
    return {
        key: by_method.get(method.replace(".", "_"), True)
        for unit in p.units
        for key, (method, _) in unit.items()
    }


# -- facts ---------------------------------------------------------------------------------------------------------


def test_paid_percent_balance_and_shipped_percent_by_amount_and_by_quantity() -> None:
    order = {"СуммаДокумента": 25000, "Товары": [{"Количество": 4}, {"Количество": 6}]}
    payments = [
        Payment("a:1", "a", "1", "2026-01-05T10:00:00", Decimal(12000), "bank", False),
        Payment("b:1", "b", "2", "2026-02-01T10:00:00", Decimal(-2000), "bank", True),  # a refund
    ]
    shipped = (Decimal(5000), Decimal(5))
    by_amount = facts_of(order, payments, shipped, False, TODAY)
    assert (by_amount["paid_amount"], by_amount["paid_percent"], by_amount["balance"]) == (
        "10000.00",
        "40.00",
        "15000.00",
    )
    assert by_amount["shipped_percent"] == "20.00" and not by_amount["fully_shipped"]
    assert by_amount["last_payment_date"] == "2026-01-05"  # a refund is not a payment date
    by_quantity = facts_of(order, payments, shipped, False, TODAY, by_quantity=True)
    assert by_quantity["shipped_percent"] == "50.00"  # 5 of 10 pieces
    over = facts_of(
        order,
        [*payments, Payment("c:1", "c", "3", "x", Decimal(20000), "bank", False)],
        shipped,
        False,
        TODAY,
    )
    assert over["overpaid"] and over["fully_paid"] and over["balance"] == "-5000.00"


# -- the deal and its stage ------------------------------------------------------------------------------------------


def test_only_the_fields_that_differ_are_written() -> None:
    act = action({"UF_CRM_1C_PAID_PERCENT": "40.00", "UF_CRM_1C_BALANCE": "15000.00"})
    p = plan(act, OrderContext("12", deal(UF_CRM_1C_PAID_PERCENT="40.00", UF_CRM_1C_BALANCE="25000.00")))
    assert sent(p) == [
        (
            "crm.deal.update",
            {
                "id": "12",
                "fields": {"UF_CRM_1C_BALANCE": "15000.00"},
                "params": {"REGISTER_SONET_EVENT": "N"},
            },
        )
    ]
    same = plan(act, OrderContext("12", deal(UF_CRM_1C_PAID_PERCENT="40.00", UF_CRM_1C_BALANCE="15000.00")))
    assert sent(same) == []


def test_a_stage_moves_forward_never_backwards_unless_a_rule_says_so() -> None:
    assert stage_move(MONEY, STAGES, "EXECUTING", deal(STAGE_ID="PREPARATION")) == ("EXECUTING", None)
    assert stage_move(MONEY, STAGES, "EXECUTING", deal(STAGE_ID="FINAL_INVOICE")) == (None, None)  # backwards
    assert stage_move(MONEY, STAGES, "EXECUTING", deal(STAGE_ID="EXECUTING")) == (None, None)  # already there
    back = {"stage": "EXECUTING", "backwards": True}
    assert stage_move(MONEY, STAGES, back, deal(STAGE_ID="FINAL_INVOICE")) == ("EXECUTING", None)
    anyway = MoneySpec.model_validate({"stages_backwards": True})
    assert stage_move(anyway, STAGES, "EXECUTING", deal(STAGE_ID="FINAL_INVOICE")) == ("EXECUTING", None)
    won = deal(STAGE_ID="PREPARATION", STAGE_SEMANTIC_ID="S")
    assert stage_move(MONEY, STAGES, "EXECUTING", won) == (None, None)  # a closed deal stays closed


def test_a_stage_without_its_pipeline_means_the_deals_own_pipeline() -> None:
    in_c3 = deal(STAGE_ID="C3:NEW", CATEGORY_ID="3")
    assert stage_move(MONEY, STAGES, "PAID", in_c3) == ("C3:PAID", None)
    assert stage_move(MONEY, STAGES, "EXECUTING", in_c3) == (None, None)  # C3 has no such stage
    assert stage_move(MONEY, STAGES, {"stage": "C3:PAID", "category": 3}, deal()) == ("C3:PAID", 3)
    p = plan(action({"STAGE_ID": {"stage": "C3:PAID", "category": 3}}), OrderContext("12", deal()))
    assert sent(p) == [
        (
            "crm.item.update",
            {"entityTypeId": 2, "id": "12", "fields": {"categoryId": 3, "stageId": "C3:PAID"}},
        )
    ]


# -- payments ------------------------------------------------------------------------------------------------------


def test_a_new_1c_payment_is_added_stamped_and_paid_then_linked() -> None:
    p = plan(action({}, rows=[receipt(1, 10000)]), OrderContext("12", deal(), portal=Portal()))
    assert methods(p) == ["crm.item.payment.add", "sale.payment.update", "sale.payment.update"]
    (_, update), (_, pay) = sent(p)[1:]
    assert update["fields"]["xmlId"] == f"{INST}:r1:1" and update["fields"]["sum"] == 10000.0
    assert update["id"] == pay["id"] == "$result[o0_pa1]" and pay["fields"]["paid"] == "Y"
    links = p.links(replies(p, crm_item_payment_add=301), {})
    assert ChildLink("money", "o1", "payment", "r1:1", "301", content_hash(receipt(1, 10000))) in links
    failed = p.links(replies(p, crm_item_payment_add=301) | {"o0_pp3": None}, {"o0_pp3": {"error": "x"}})
    assert ChildLink("money", "o1", "payment", "r1:1", "301", None) in failed  # not all landed: written again


def test_a_reposted_payment_is_corrected_in_place_unpaid_first_when_its_sum_changes() -> None:
    old = receipt(1, 10000)
    have = [Child("o1", "payment", "r1:1", "301", content_hash(old))]
    portal = Portal(rows={"301": {"id": 301, "paid": "Y", "sum": 10000, "xmlId": f"{INST}:r1:1"}})
    p = plan(action({}, rows=[receipt(1, 12000)]), OrderContext("12", deal(), have, portal))
    assert methods(p) == ["crm.item.payment.unpay", "sale.payment.update", "sale.payment.update"]
    assert all(params["id"] == 301 for _, params in sent(p))  # the same payment, never a new one
    assert sent(p)[1][1]["fields"]["sum"] == 12000.0
    unchanged = plan(action({}, rows=[old]), OrderContext("12", deal(), have, portal))
    assert sent(unchanged) == []


def test_an_unposted_payment_is_unpaid_and_removed_and_its_link_dropped_only_once_removed() -> None:
    have = [Child("o1", "payment", "r1:1", "301", "h")]
    p = plan(action({}, rows=[]), OrderContext("12", deal(), have, Portal()))
    assert sent(p) == [("crm.item.payment.unpay", {"id": 301}), ("crm.item.payment.delete", {"id": 301})]
    assert ChildLink("money", "o1", "payment", "r1:1", None) in p.links(replies(p), {})
    refused = p.links({"o0_pn1": True}, {"o0_pd2": {"error": "ACCESS_DENIED"}})
    assert not [c for c in refused if isinstance(c, ChildLink) and c.kind == "payment"]


# -- reminders and overdue tasks -------------------------------------------------------------------------------------


def facts(due: str | None, days_overdue: int = 0, fully_paid: bool = False) -> dict[str, Any]:
    return {"pay_due_date": due, "days_overdue": days_overdue, "fully_paid": fully_paid, "Number": "ЦБ-1"}


def test_a_to_do_is_moved_with_its_date_and_keeps_its_stamp() -> None:
    todo = Child("o1", "todo", "due", "77", "open", "2026-03-01T10:00:00+03:00")
    p = plan(action({}, facts("2026-03-20")), OrderContext("12", deal(), [todo]))
    ((method, params),) = sent(p)
    assert (method, params["id"]) == ("crm.activity.update", "77")
    assert params["fields"]["DEADLINE"] == "2026-03-20T10:00:00+03:00"
    assert (params["fields"]["ORIGINATOR_ID"], params["fields"]["ORIGIN_ID"]) == (INST, "o1:due")
    links = p.links(replies(p), {})
    assert ChildLink("money", "o1", "todo", "due", "77", "open", "2026-03-20T10:00:00+03:00") in links
    assert SourceState("money:due", "order", "o1", "2026-03-10") in links  # looked at again tomorrow


def test_a_to_do_is_closed_when_paid_and_the_order_no_longer_watched() -> None:
    todo = Child("o1", "todo", "due", "77", "open", "2026-03-20T10:00:00+03:00")
    p = plan(action({}, facts(None, fully_paid=True)), OrderContext("12", deal(), [todo]))
    ((method, params),) = sent(p)
    assert (method, params["fields"]["COMPLETED"]) == ("crm.activity.update", "Y")
    links = p.links(replies(p), {})
    assert ChildLink("money", "o1", "todo", "due", "77", "done", None) in links
    assert SourceState("money:due", "order", "o1", "2026-03-10", drop=True) in links
    done = Child("o1", "todo", "due", "77", "done")
    assert sent(plan(action({}, facts(None, fully_paid=True)), OrderContext("12", deal(), [done]))) == []


def test_a_new_to_do_is_added_and_stamped_in_one_unit_and_unstamped_when_the_stamp_fails() -> None:
    p = plan(action({}, facts("2026-03-20")), OrderContext("12", deal()))
    assert methods(p) == ["crm.activity.todo.add", "crm.activity.update"] and len(p.units) == 1
    add, stamp = sent(p)
    assert add[1]["responsibleId"] == 5 and stamp[1]["id"] == "$result[o0_t1][id]"
    ok = p.links(replies(p, crm_activity_todo_add={"id": 90}), {})
    assert ChildLink("money", "o1", "todo", "due", "90", "open", "2026-03-20T10:00:00+03:00") in ok
    lost_stamp = p.links({"o0_t1": {"id": 90}}, {"o0_ts2": {"error": "x"}})
    assert (
        ChildLink("money", "o1", "todo", "due", "90", "unstamped", "2026-03-20T10:00:00+03:00") in lost_stamp
    )


def test_an_overdue_task_opens_once_within_its_window() -> None:
    overdue = facts("2026-02-05", days_overdue=33)
    p = plan(
        action({}, overdue),
        OrderContext("12", deal(), [Child("o1", "todo", "due", "77", "open", "2026-02-05T10:00:00+03:00")]),
    )
    ((method, params),) = sent(p)
    assert method == "tasks.task.add"
    assert params["fields"]["XML_ID"] == f"{INST}:o1:overdue" and params["fields"]["UF_CRM_TASK"] == ["D_12"]
    assert params["fields"]["RESPONSIBLE_ID"] == 7 and "33 дн." in params["fields"]["TITLE"]
    assert ChildLink("money", "o1", "task", "overdue", "55", "open") in p.links(
        replies(p, tasks_task_add={"task": {"id": 55}}), {}
    )
    tasked = [
        Child("o1", "todo", "due", "77", "open", "2026-02-05T10:00:00+03:00"),
        Child("o1", "task", "overdue", "55", "open"),
    ]
    assert sent(plan(action({}, overdue), OrderContext("12", deal(), tasked))) == []
    ancient = facts("2025-01-05", days_overdue=429)
    assert "tasks.task.add" not in methods(plan(action({}, ancient), OrderContext("12", deal())))


def test_a_read_that_failed_sends_nothing_for_that_order() -> None:
    p = plan(
        action({"UF_CRM_1C_BALANCE": "1.00"}),
        OrderContext("12", deal(), problems=["to-do: could not be listed"]),
    )
    assert p.problems == ["to-do: could not be listed"]  # the target sends no unit of a plan with problems


def test_the_day_is_the_today_the_rules_are_given() -> None:
    act, ctx = action({}, facts("2026-03-20")), OrderContext("12", deal())
    later = rules().plan(act, ctx, STAGES, date(2026, 6, 1), 0)  # the due date is 73 days past: no to-do
    assert sent(later) == []
    assert SourceState("money:due", "order", "o1", "2026-06-01", drop=True) in later.links(replies(later), {})
