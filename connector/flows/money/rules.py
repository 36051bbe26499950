"""RULES of the money target, pure: given an order's action, its prepared context and `today`, the commands to
send (deal fields and stage, payments, to-do, overdue task) and the child links each settles. No I/O, no clock.

A stage rule never moves a deal backwards, nor out of a closed stage, unless the rule (or `stages_backwards`) says
so; a stage named without its pipeline means that stage in the deal's own pipeline."""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import TYPE_CHECKING, Any

from connector.compare import changed_fields
from connector.flows.money.memo import Memo, deal_fields, forget
from connector.flows.money.payments import PAYMENT, Need, PaymentRules, Portal
from connector.flows.money.plan import Errors, Plan, Results
from connector.flows.money.reminders import (
    DONE,
    OPEN,
    TASK,
    TASK_KEY,
    TODO,
    TODO_KEY,
    UNSTAMPED,
    WATCHED,
    FoundTodo,
    reminder_rules,
    task_xml_id,
    todo_origin,
)
from connector.ledger import Child
from connector.mapping.engine import FACTS, PAYMENTS
from connector.mapping.schema import MoneySpec
from connector.records import Action, Change, ChildLink, SourceState, content_hash

if TYPE_CHECKING:
    from connector.flows.money.context import OrderContext

STAGE = "STAGE_ID"


class _Formatter(string.Formatter):
    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        value = kwargs.get(key, "")
        return "" if value is None else value


def values_of(rec: Any) -> dict[str, Any]:
    """An order's facts and mapped fields, under their names (what titles and rules refer to)."""
    values: dict[str, Any] = dict(rec.fields.get(FACTS) or {})
    values.update({k: v for k, v in rec.fields.items() if not k.startswith("@")})
    return values


def payment_need(action: Action, deal_id: str, children: list[Child]) -> Need:
    """The 1C payment rows an order wants on its deal (refunds are not payments) against the ledger's links."""
    rows = list(action.record.fields.get(PAYMENTS) or [])
    wanted = {p["key"]: p for p in rows if not p.get("refund")}
    have = {c.key: c for c in children if c.kind == PAYMENT}
    return Need(action.record.key, deal_id, wanted, have)


def stage_move(
    money: MoneySpec, stages: dict[str, int], wanted: Any, deal: dict[str, Any]
) -> tuple[str | None, int | None]:
    """(stage, category) to set, or (None, None) when the rule would move the deal backwards or nowhere."""
    if isinstance(wanted, dict):
        stage, category = str(wanted.get("stage")), wanted.get("category")
        backwards = bool(wanted.get("backwards", money.stages_backwards))
    else:
        stage, category, backwards = str(wanted), None, money.stages_backwards
    current = str(deal.get("STAGE_ID") or "")
    current_cat = int(deal.get("CATEGORY_ID") or 0)
    if category is not None and int(category) != current_cat:
        return stage, int(category)  # a move to another pipeline is never "backwards"
    prefix, _, bare = stage.rpartition(":")
    stage_cat = int(prefix[1:]) if prefix.startswith("C") and prefix[1:].isdigit() else None
    if not prefix and current_cat:
        # A stage named without its pipeline means that stage in the deal's own pipeline, if it has one.
        stage = f"C{current_cat}:{bare}"
        if stage not in stages:
            return None, None
    elif (stage_cat or 0) != current_cat:
        return None, None  # a stage of another pipeline: only an explicit category moves the deal there
    if stage == current:
        return None, None
    if deal.get("STAGE_SEMANTIC_ID") in ("S", "F") and not backwards:
        return None, None  # a closed deal stays closed unless a rule says otherwise
    if not backwards and stages.get(stage, 0) < stages.get(current, 0):
        return None, None
    return stage, None


@dataclass(frozen=True)
class MoneyRules:
    """The rules of one money mapping: what they need besides an order's context (names, zones, our stamp)."""

    money: MoneySpec
    flow: str
    originator: str
    portal_tz: tzinfo
    native: PaymentRules

    @property
    def watch_flow(self) -> str:
        return f"{self.flow}:due"

    def text(self, template: str, values: dict[str, Any]) -> str:
        """A title or description from the mapping's template; a missing value is empty, a bad template as is."""
        try:
            return _Formatter().format(template, **values)
        except (ValueError, IndexError):
            return template

    def plan(self, action: Action, ctx: OrderContext, stages: dict[str, int], today: date, n: int) -> Plan:
        """One order's commands and the child links they settle (`n` makes its command keys unique in a batch)."""
        plan = Plan(action, ctx.deal_id, f"o{n}_")
        plan.problems.extend(ctx.problems)
        if ctx.memo is not None:
            self.quiet_deal(plan, ctx.memo)
        else:
            self.deal(plan, ctx.deal, stages)
        mode = self.money.payments.mode
        if mode != "none":
            need = payment_need(action, ctx.deal_id, ctx.children)
            if mode == "native":
                self.native.plan(plan, need, ctx.portal or Portal())
            else:
                self.items(plan, need)
        self.reminders(plan, ctx, today)
        plan.after.append(self._memo(plan))
        return plan

    def quiet(
        self, action: Action, ctx: OrderContext, memo: Memo, stages: dict[str, int] | None, today: date
    ) -> bool:
        """Whether this order's change needs nothing but its deal's money fields (money/memo.py), from the ledger
        alone: no stage move from where the memo left the deal (the rule's result unchanged, or the rules decline
        the move with `stages`, the stage order known in this process), every payment linked as it is, no to-do
        step, no overdue task, and no to-do of ours to look for on the deal."""
        rec = action.record
        wanted = rec.fields.get(STAGE)
        if STAGE in rec.fields and content_hash(wanted) != memo.stage:
            move = stage_move(self.money, stages, wanted, memo.deal_left()) if stages else ("?", None)
            if move != (None, None):
                return False  # the stage may move: the deal's current stage is read first
        if self.money.payments.mode != "none":
            need = payment_need(action, ctx.deal_id, ctx.children)
            if need.changed or need.gone:
                return False
        values = values_of(rec)
        todo = next((c for c in ctx.children if c.kind == TODO), None)
        tasked = any(c.kind == TASK for c in ctx.children)
        rules = reminder_rules(self.money, values, today, todo, tasked, self.portal_tz)
        spec = self.money.reminder
        looked_for = spec is not None and todo is None and bool(values.get(spec.date))  # as prepare reads it
        return rules.todo is None and not rules.task and not looked_for

    def quiet_deal(self, plan: Plan, memo: Memo) -> None:
        """A quiet order's deal: every money field in one update when they differ from what was written last."""
        plan.quiet, plan.left = True, memo.left
        fields = deal_fields(plan.action.record, STAGE)
        if content_hash(fields) == memo.fields:
            plan.done.append(f"deal {plan.deal_id}: its money fields are as written last (ledger); not read")
            return
        params = {"id": plan.deal_id, "fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}}
        plan.add({plan.cmd("u"): ("crm.deal.update", params)}, "deal")

    def _memo(self, plan: Plan) -> Callable[[Results, Errors], list[Change]]:
        """The memo of what this plan leaves on the deal, kept when every command of it succeeded (else dropped,
        so the next change of the order reads the deal)."""
        order = plan.action.record.key
        memo = Memo.of(plan.action.record, plan.deal_id, STAGE, plan.left)
        keys = [k for unit in plan.units for k in unit]

        def record(results: Results, errors: Errors) -> list[Change]:
            ok = all(k in results and k not in errors for k in keys)
            return [memo.state(self.flow, order) if ok else forget(self.flow, order)]

        return record

    def deal(self, plan: Plan, deal: dict[str, Any], stages: dict[str, int]) -> None:
        """Only what differs from the deal as it is (after a lost ledger, or a repeated run: no write)."""
        rec = plan.action.record
        fields = changed_fields(
            deal, {k: v for k, v in rec.fields.items() if k != STAGE and not k.startswith("@")}
        )
        category: int | None = None
        left_cat = int(deal.get("CATEGORY_ID") or 0)
        plan.left = (str(deal.get(STAGE) or ""), left_cat, str(deal.get("STAGE_SEMANTIC_ID") or ""))
        if STAGE in rec.fields:
            stage, category = stage_move(self.money, stages, rec.fields[STAGE], deal)
            if stage is not None:  # its semantics unknown here: "" (taken as open by the next quiet check)
                plan.left = (stage, left_cat if category is None else category, "")
            if category is not None:
                params = {
                    "entityTypeId": 2,
                    "id": plan.deal_id,
                    "fields": {"categoryId": category, "stageId": stage},
                }
                plan.add({plan.cmd("c"): ("crm.item.update", params)}, "pipeline")
            elif stage is not None:
                fields[STAGE] = stage
        if fields:
            params = {"id": plan.deal_id, "fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}}
            plan.add({plan.cmd("u"): ("crm.deal.update", params)}, "deal")
        elif category is None:
            plan.done.append(f"deal {plan.deal_id}: its fields and stage are as wanted already")

    def items(self, plan: Plan, need: Need) -> None:
        """Payments as items of a smart process, linked to the deal, with the external key in xmlId."""
        sp = self.money.payments.entity_type_id
        for key in need.changed:
            p = need.wanted[key]
            fields = {
                "title": self.text(self.money.payments.title, {**p, "date": p["date"][:10]}),
                "opportunity": float(p["amount"]),
                "parentId2": int(plan.deal_id),
                "xmlId": self.native.xml_id(key),
                "begindate": p["date"][:10],
            }
            link = need.have.get(key)
            cmd = plan.cmd("pu" if link else "pa")
            if link is not None:
                params = {"entityTypeId": sp, "id": link.target_id, "fields": fields}
                plan.add({cmd: ("crm.item.update", params)}, f"payment {p['number']}")
            else:
                plan.add(
                    {cmd: ("crm.item.add", {"entityTypeId": sp, "fields": fields})}, f"payment {p['number']}"
                )

            def record(
                results: Results,
                errors: Errors,
                key: str = key,
                cmd: str = cmd,
                p: dict[str, Any] = p,
                link: Child | None = link,
            ) -> list[Change]:
                if cmd not in results:
                    return []
                target = link.target_id if link else str(results[cmd].get("item", {}).get("id"))
                return [self.native.link(need.order, key, target, content_hash(p))]

            plan.after.append(record)
        for key in need.gone:
            cmd = plan.cmd("pd")
            plan.add(
                {cmd: ("crm.item.delete", {"entityTypeId": sp, "id": need.have[key].target_id})},
                "payment removal",
            )
            plan.after.append(self._dropped(need.order, key, cmd))

    def _dropped(self, order: str, key: str, cmd: str) -> Callable[[Results, Errors], list[Change]]:
        """The payment link goes once its removal succeeded."""
        return lambda results, errors: [self.native.link(order, key, None)] if cmd in results else []

    def reminders(self, plan: Plan, ctx: OrderContext, today: date) -> None:
        """The to-do and the overdue task, and whether the order is looked at again tomorrow."""
        order, values = plan.action.record.key, values_of(plan.action.record)
        todo = next((c for c in ctx.children if c.kind == TODO), None)
        todo = todo or (ctx.found_todo.child if ctx.found_todo is not None else None)
        tasked = any(c.kind == TASK for c in ctx.children) or ctx.found_task is not None
        rules = reminder_rules(self.money, values, today, todo, tasked, self.portal_tz)
        # Watched orders are looked at again once a day (the source state keeps the day of the last look).
        watch = SourceState(self.watch_flow, WATCHED, order, today.isoformat(), drop=not rules.watch)
        plan.after.append(_constant([watch]))
        if self.money.reminder is not None:
            self.todo(plan, ctx.deal, values, rules.todo, rules.deadline, todo, ctx.found_todo)
        if ctx.found_task is not None:  # ours on the deal, unknown to the ledger: linked, never twinned
            plan.done.append(f"overdue task {ctx.found_task[0]}: ours, found on the deal; linked")
            plan.after.append(
                _constant([ChildLink(self.flow, order, TASK, TASK_KEY, ctx.found_task[0], OPEN)])
            )
            return
        rule = self.money.overdue
        if rule is None or not rules.task:
            return
        task_key = plan.cmd("k")
        fields = {
            "TITLE": self.text(rule.title, values),
            "DESCRIPTION": self.text(rule.description, values),
            "RESPONSIBLE_ID": rule.responsible_by_contract_kind.get(
                str(values.get("contract_kind")), rule.responsible_id
            ),
            "UF_CRM_TASK": [f"D_{plan.deal_id}"],
            "XML_ID": task_xml_id(self.originator, order),
        }
        plan.add({task_key: ("tasks.task.add", {"fields": fields})}, "overdue task")

        def record_task(results: Results, errors: Errors) -> list[Change]:
            created = results.get(task_key)
            if not isinstance(created, dict) or not created.get("task", {}).get("id"):
                return []
            return [ChildLink(self.flow, order, TASK, TASK_KEY, str(created["task"]["id"]), OPEN)]

        plan.after.append(record_task)

    def todo(
        self,
        plan: Plan,
        deal: dict[str, Any],
        values: dict[str, Any],
        step: str | None,
        deadline: str | None,
        todo: Child | None,
        found: FoundTodo | None,
    ) -> None:
        """Add (then stamp, in the same batch: crm.activity.todo.add takes no external key), move, close, or stamp
        an adopted to-do; every update carries the stamp. A found to-do that needs nothing is only linked."""
        spec = self.money.reminder
        assert spec is not None
        order = plan.action.record.key
        stamp = {
            "OWNER_TYPE_ID": 2,
            "OWNER_ID": int(plan.deal_id),
            "ORIGINATOR_ID": self.originator,
            "ORIGIN_ID": todo_origin(order),
        }
        key = stamp_key = plan.cmd("t")
        if step == "add":
            params: dict[str, Any] = {
                "ownerTypeId": 2,
                "ownerId": int(plan.deal_id),
                "deadline": deadline,
                "title": self.text(spec.title, values),
                "description": self.text(spec.description, values),
                "responsibleId": int(deal.get("ASSIGNED_BY_ID") or 1),
                "pingOffsets": [0, 60],
            }
            stamp_key = plan.cmd("ts")
            unit = {
                key: ("crm.activity.todo.add", params),
                stamp_key: ("crm.activity.update", {"id": f"$result[{key}][id]", "fields": stamp}),
            }
            plan.add(unit, "to-do")
        elif step is not None or (found is not None and found.stamp):
            assert todo is not None
            fields: dict[str, Any] = {}
            if step == "close":
                fields = {"COMPLETED": "Y"}
            elif step == "move":
                fields = {
                    "DEADLINE": deadline,
                    "END_TIME": deadline,
                    "DESCRIPTION": self.text(spec.description, values),
                }
            plan.add(
                {key: ("crm.activity.update", {"id": todo.target_id, "fields": {**fields, **stamp}})}, "to-do"
            )
        elif found is not None:  # ours, as it should be: link only
            c = found.child
            plan.done.append(f"to-do {c.target_id}: ours, found on the deal as wanted; linked")
            plan.after.append(
                _constant([ChildLink(self.flow, order, TODO, TODO_KEY, c.target_id, c.state, c.deadline)])
            )
            return
        else:
            return
        state: str | None
        if step in ("add", "move"):
            state, written = OPEN, deadline
        elif step == "close":
            state, written = DONE, None
        else:  # adopted and stamped: as found
            assert todo is not None
            state, written = todo.state, todo.deadline
        known = todo.target_id if todo is not None else None

        def record_todo(results: Results, errors: Errors) -> list[Change]:
            if key not in results:
                return []
            created = results[key]
            todo_id = known or (created.get("id") if isinstance(created, dict) else created)
            # An add whose stamp did not land is `unstamped`: the next run writes the stamp again.
            stamped = stamp_key in results and stamp_key not in errors
            written_state = state if stamped else UNSTAMPED
            return [ChildLink(self.flow, order, TODO, TODO_KEY, str(todo_id), written_state, written)]

        plan.after.append(record_todo)


def _constant(links: list[Change]) -> Callable[[Results, Errors], list[Change]]:
    return lambda results, errors: links
