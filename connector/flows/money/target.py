"""Money facts onto the deal: fields, stage (never backwards), payments as detail records, reminders, overdue tasks.

The deal is the one the `attach_to` flow (orders) created; this target never creates deals. Payments are detail
records of the order: each 1C receipt row is one Bitrix24 payment, updated in place when re-posted and removed
when un-posted or deleted, always reconciled against the order's full current set of rows (money/payments.py).
The target writes nothing to the ledger: each outcome carries the child links its commands settled (payments,
to-do, task) and the watch state of its order, and the runner records them in the same commit as the outcome.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, tzinfo
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.compare import changed_fields
from connector.engine.executor import BatchExecutor
from connector.errors import OutcomeUnknown, RemoteRejected
from connector.flows.money.payments import PAYMENT, NativePayments, Need
from connector.flows.money.plan import Errors, Plan, Results
from connector.flows.money.reminders import (
    DONE,
    OPEN,
    TASK,
    TASK_KEY,
    TASK_SELECT,
    TODO,
    TODO_KEY,
    TODO_SELECT,
    UNSTAMPED,
    WATCHED,
    FoundTodo,
    found_todo,
    reminder_rules,
    task_xml_id,
    todo_origin,
)
from connector.ledger import Child, Ledger
from connector.logs import get_logger
from connector.mapping.engine import FACTS, PAYMENTS
from connector.mapping.schema import Mapping
from connector.records import Action, Change, ChildLink, Outcome, SourceState, content_hash, skip_outcomes

log = get_logger(__name__)
STAGE = "STAGE_ID"
CHUNK = 100  # orders planned together (one ledger read, one payments read); commands go in batches of 50


class _Formatter(string.Formatter):
    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        value = kwargs.get(key, "")
        return "" if value is None else value


def _fmt(template: str, values: dict[str, Any]) -> str:
    try:
        return _Formatter().format(template, **values)
    except (ValueError, IndexError):
        return template


class MoneyTarget:
    """Updates deals found through the `attach_to` flow's ledger links; keeps payments and to-dos in step."""

    def __init__(
        self,
        client: Bitrix24Client,
        spec: Mapping,
        ledger: Ledger,
        today: Callable[[], date],
        onec_tz: tzinfo,
        portal_tz: tzinfo,
        in_flight: int = 1,
    ) -> None:
        assert spec.money is not None
        self.client = client
        self.executor = BatchExecutor(
            client
        )  # the one writer: units packed into batches of 50, settled per command
        self.spec = spec
        self.money = spec.money
        self.ledger = ledger  # read only: links of the deals, payments, to-dos
        self.today = today  # the run's 1C business date
        self.onec_tz = onec_tz
        self.portal_tz = portal_tz
        self.watch_flow = f"{spec.flow}:due"
        self._stage_order: dict[str, int] | None = None
        originator = spec.target.external_key.originator_id or "1C"  # stamped from the installation's id
        self.originator = originator
        self.native = NativePayments(client, spec.flow, originator, onec_tz)

    # -- the deal ------------------------------------------------------------------------------------------------

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        return {k: link.target_id for k, link in self.ledger.links(self.money.attach_to, list(keys)).items()}

    def _stages(self) -> dict[str, int]:
        """Every deal stage id → its position (category-prefixed ids are unique across pipelines)."""
        if self._stage_order is None:
            order: dict[str, int] = {}
            reply = self.client.call("crm.status.list", {"order": {"SORT": "ASC"}, "filter": {}})
            for row in reply.result or []:
                if str(row.get("ENTITY_ID", "")).startswith("DEAL_STAGE"):
                    order[str(row["STATUS_ID"])] = int(row.get("SORT") or 0)
            self._stage_order = order
        return self._stage_order

    def _current(self, deal_ids: list[str], fields: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """Stage, pipeline, responsible and the money fields of the deals, up to 2,500 per request."""
        found: dict[str, dict[str, Any]] = {}
        select = ["ID", "STAGE_ID", "CATEGORY_ID", "ASSIGNED_BY_ID", "STAGE_SEMANTIC_ID"]
        select += sorted({f for f in fields if f not in select})
        for i in range(0, len(deal_ids), 2500):
            flt = {"@ID": deal_ids[i : i + 2500]}
            for page in self.client.list_fast("crm.deal.list", flt, select, expect=len(flt["@ID"])):
                for row in page:
                    found[str(row["ID"])] = row
        return found

    def _stage_move(self, wanted: Any, deal: dict[str, Any]) -> tuple[str | None, int | None]:
        """(stage, category) to set, or (None, None) when the rule would move the deal backwards or nowhere."""
        if isinstance(wanted, dict):
            stage, category, backwards = (
                str(wanted.get("stage")),
                wanted.get("category"),
                bool(wanted.get("backwards", self.money.stages_backwards)),
            )
        else:
            stage, category, backwards = str(wanted), None, self.money.stages_backwards
        current = str(deal.get("STAGE_ID") or "")
        current_cat = int(deal.get("CATEGORY_ID") or 0)
        if category is not None and int(category) != current_cat:
            return stage, int(category)  # a move to another pipeline is never "backwards"
        prefix, _, bare = stage.rpartition(":")
        stage_cat = int(prefix[1:]) if prefix.startswith("C") and prefix[1:].isdigit() else None
        if not prefix and current_cat:
            # A stage named without its pipeline means that stage in the deal's own pipeline, if it has one.
            stage = f"C{current_cat}:{bare}"
            if stage not in self._stages():
                return None, None
        elif (stage_cat or 0) != current_cat:
            return None, None  # a stage of another pipeline: only an explicit category moves the deal there
        if stage == current:
            return None, None
        if deal.get("STAGE_SEMANTIC_ID") in ("S", "F") and not backwards:
            return None, None  # a closed deal stays closed unless a rule says otherwise
        order = self._stages()
        if not backwards and order.get(stage, 0) < order.get(current, 0):
            return None, None
        return stage, None

    # -- apply ---------------------------------------------------------------------------------------------------

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        """Skips pass through; the rest go CHUNK orders at a time. A lost reply is raised with what was settled."""
        outcomes = skip_outcomes(actions)
        live = [a for a in actions if a.kind != "skip"]
        deals = self.find([a.record.key for a in live])
        written = {k for a in live for k in a.record.fields if not k.startswith("@") and k != STAGE}
        current = self._current(sorted(set(deals.values())), written) if live else {}
        today = self.today()
        lost: OutcomeUnknown | None = None
        for i in range(0, len(live), CHUNK):
            try:
                outcomes.extend(self._apply_chunk(live[i : i + CHUNK], deals, current, today))
            except OutcomeUnknown as exc:  # the chunk's records whose replies did arrive are settled
                outcomes.extend(exc.settled)
                lost = exc
        if lost is not None:
            lost.settled = outcomes
            raise lost
        return outcomes

    def _apply_chunk(
        self, live: Sequence[Action], deals: dict[str, str], current: dict[str, dict[str, Any]], today: date
    ) -> list[Outcome]:
        """Plan every order's commands (deal, stage, payments, reminders), send them packed into shared batches,
        then settle outcomes with the links their commands settled."""
        outcomes: list[Outcome] = []
        plans: list[Plan] = []
        for n, action in enumerate(live):
            rec = action.record
            deal_id = action.target_id or deals.get(rec.key)
            if deal_id is None or deal_id not in current:
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        version=rec.version,
                        deferred=True,
                        error=f"{rec.label}: no deal yet (flow {self.money.attach_to} has not "
                        "synced this order); retried every cycle",
                        label=rec.label,
                    )
                )
                continue
            plan = Plan(action, deal_id, f"o{n}_")
            self._plan_deal(plan, current[deal_id])
            plans.append(plan)
        children = self.ledger.child_links(self.spec.flow, [p.action.record.key for p in plans])
        self._plan_payments(plans, children)
        todos = {o: c for o, cs in children.items() for c in cs if c.kind == TODO}
        tasks = {o for o, cs in children.items() for c in cs if c.kind == TASK}
        found_todos = self._find_todos([p for p in plans if p.action.record.key not in todos], today)
        found_tasks = self._find_tasks([p for p in plans if p.action.record.key not in tasks], today)
        for plan in plans:
            order = plan.action.record.key
            self._plan_reminders(
                plan,
                current[plan.deal_id],
                _values_of(plan.action.record),
                today,
                todos.get(order),
                order in tasks,
                found_todos.get(order),
                found_tasks.get(order),
            )
        sent = self.executor.run([unit for p in plans if not p.problems for unit in p.units])
        for plan in plans:
            if any(k in sent.unknown for unit in plan.units for k in unit):
                continue  # its batch lost its reply: settled by lookups (deal payments, to-dos) on the recovery
            outcomes.append(self._settle(plan, sent.results, sent.errors))
        if sent.lost is not None:
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    def _settle(self, plan: Plan, results: Results, errors: Errors) -> Outcome:
        rec = plan.action.record
        problems = list(plan.problems) or [
            f"{name}: {errors[key].get('error_description') or errors[key].get('error')}"
            for key, name in plan.names.items()
            if key in errors
        ]
        links = () if plan.problems else tuple(plan.links(results, errors))  # recorded with the outcome
        if problems:
            return Outcome(
                rec.key,
                plan.action.kind,
                "failed",
                plan.deal_id,
                version=rec.version,
                label=rec.label,
                error=f"{rec.label}: " + "; ".join(problems),
                links=links,
            )
        return Outcome(
            rec.key,
            plan.action.kind,
            "applied",
            plan.deal_id,
            rec.hash,
            rec.version,
            label=rec.label,
            links=links,
        )

    def _plan_deal(self, plan: Plan, deal: dict[str, Any]) -> None:
        rec = plan.action.record
        # Only what differs from the deal as it is: a deal that already shows these figures (after a lost ledger,
        # or a repeated run) gets no write.
        fields = changed_fields(
            deal, {k: v for k, v in rec.fields.items() if k != STAGE and not k.startswith("@")}
        )
        if STAGE in rec.fields:
            stage, category = self._stage_move(rec.fields[STAGE], deal)
            if category is not None:
                plan.add(
                    {
                        plan.key("c"): (
                            "crm.item.update",
                            {
                                "entityTypeId": 2,
                                "id": plan.deal_id,
                                "fields": {"categoryId": category, "stageId": stage},
                            },
                        )
                    },
                    "pipeline",
                )
            elif stage is not None:
                fields[STAGE] = stage
        if fields:
            plan.add(
                {
                    plan.key("u"): (
                        "crm.deal.update",
                        {"id": plan.deal_id, "fields": fields, "params": {"REGISTER_SONET_EVENT": "N"}},
                    )
                },
                "deal",
            )

    # -- payments (detail records) ---------------------------------------------------------------------------------

    def _plan_payments(self, plans: list[Plan], children: dict[str, list[Child]]) -> None:
        mode = self.money.payments.mode
        if mode == "none" or not plans:
            return
        needs = {}
        for plan in plans:
            order = plan.action.record.key
            rows = list(plan.action.record.fields.get(PAYMENTS) or [])
            wanted = {p["key"]: p for p in rows if not p.get("refund")}
            have = {c.key: c for c in children[order] if c.kind == PAYMENT}
            needs[order] = Need(order, plan.deal_id, wanted, have)
        if mode == "native":
            portal = self.native.prepare(needs.values())
            for plan in plans:
                order = plan.action.record.key
                self.native.plan(plan, needs[order], portal.get(order))
        else:
            for plan in plans:
                self._plan_items(plan, needs[plan.action.record.key])

    def _plan_items(self, plan: Plan, need: Need) -> None:
        """Payments as items of a smart process, linked to the deal, with the external key in xmlId."""
        sp = self.money.payments.entity_type_id
        for key in need.changed:
            p = need.wanted[key]
            fields = {
                "title": _fmt(self.money.payments.title, {**p, "date": p["date"][:10]}),
                "opportunity": float(p["amount"]),
                "parentId2": int(plan.deal_id),
                "xmlId": self.native.xml_id(key),
                "begindate": p["date"][:10],
            }
            link = need.have.get(key)
            cmd = plan.key("pu" if link else "pa")
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
                created = results[cmd]
                target = link.target_id if link else str(created.get("item", {}).get("id"))
                return [self.native.link(need.order, key, target, content_hash(p))]

            plan.after.append(record)
        for key in need.gone:
            cmd = plan.key("pd")
            plan.add(
                {cmd: ("crm.item.delete", {"entityTypeId": sp, "id": need.have[key].target_id})},
                "payment removal",
            )
            plan.after.append(self._dropped(need.order, key, cmd))

    def _dropped(self, order: str, key: str, cmd: str) -> Callable[[Results, Errors], list[Change]]:
        """The payment link goes once its removal succeeded."""
        return lambda results, errors: [self.native.link(order, key, None)] if cmd in results else []

    # -- reminders and overdue tasks -------------------------------------------------------------------------------

    def _find_todos(self, plans: list[Plan], today: date) -> dict[str, FoundTodo]:
        """The to-dos of orders the ledger does not link (a lost ledger, an old backup, a kill between the add and
        the stamp), found on their deals: one crm.activity.list over all those deals (@OWNER_ID, to-dos only)."""
        spec = self.money.reminder
        if spec is None:
            return {}
        wanted = [
            p for p in plans if _values_of(p.action.record).get(spec.date)
        ]  # no due date: never a to-do
        if not wanted:
            return {}
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        flt = {
            "OWNER_TYPE_ID": 2,
            "@OWNER_ID": sorted({int(p.deal_id) for p in wanted}),
            "PROVIDER_ID": "CRM_TODO",
        }
        try:
            for page in self.client.list_fast("crm.activity.list", flt, TODO_SELECT):
                for row in page:
                    rows[str(row.get("OWNER_ID"))].append(row)
        except RemoteRejected as exc:
            for plan in wanted:
                plan.problems.append(f"to-do: the deal's to-dos could not be listed: {exc}")
            return {}
        found: dict[str, FoundTodo] = {}
        for plan in wanted:
            order, values = plan.action.record.key, _values_of(plan.action.record)
            probe = Child(
                order, TODO, TODO_KEY, "?", OPEN
            )  # the deadline the rules keep on a to-do that exists
            deadline = reminder_rules(self.money, values, today, probe, True, self.portal_tz).deadline
            hit = found_todo(rows[plan.deal_id], self.originator, order, _fmt(spec.title, values), deadline)
            if hit is not None:
                found[order] = hit
        return found

    def _find_tasks(self, plans: list[Plan], today: date) -> dict[str, tuple[str, str]]:
        """Overdue tasks of orders about to get one that the ledger does not link: tasks.task.list on the deal
        (UF_CRM_TASK) and our XML_ID, one command per order in shared read batches; the XML_ID is compared here
        too, as the vendor does not document it as a filter key. → order → (task id, its date)."""
        if self.money.overdue is None:
            return {}
        due = [
            p
            for p in plans
            if reminder_rules(
                self.money, _values_of(p.action.record), today, None, False, self.portal_tz
            ).task
        ]
        xml = {p.action.record.key: task_xml_id(self.originator, p.action.record.key) for p in due}
        commands = {
            f"k{i}": (
                "tasks.task.list",
                {
                    "filter": {"UF_CRM_TASK": f"D_{p.deal_id}", "XML_ID": xml[p.action.record.key]},
                    "select": TASK_SELECT,
                },
            )
            for i, p in enumerate(due)
        }
        found: dict[str, tuple[str, str]] = {}
        keys = list(commands)
        for i in range(0, len(keys), BATCH_LIMIT):
            reply = self.client.batch({k: commands[k] for k in keys[i : i + BATCH_LIMIT]})
            for cmd in keys[i : i + BATCH_LIMIT]:
                plan = due[int(cmd[1:])]
                order = plan.action.record.key
                if cmd in reply.errors:
                    err = reply.errors[cmd]
                    reason = (
                        err.get("error_description") or err.get("error") if isinstance(err, dict) else err
                    )
                    plan.problems.append(f"overdue task: the deal's tasks could not be listed: {reason}")
                    continue
                result = reply.result.get(cmd)
                rows = result.get("tasks", []) if isinstance(result, dict) else []
                for row in rows:
                    if isinstance(row, dict) and row.get("xmlId") == xml[order]:
                        found[order] = (str(row.get("id")), str(row.get("createdDate") or today)[:10])
                        break
        return found

    def _plan_reminders(
        self,
        plan: Plan,
        deal: dict[str, Any],
        values: dict[str, Any],
        today: date,
        todo: Child | None,
        tasked: bool,
        found: FoundTodo | None = None,
        found_task: tuple[str, str] | None = None,
    ) -> None:
        order, spec = plan.action.record.key, self.money.reminder
        todo = todo or (found.child if found is not None else None)
        rules = reminder_rules(
            self.money, values, today, todo, tasked or found_task is not None, self.portal_tz
        )
        # Watched orders are looked at again once a day (the source keeps the date of the last look in the hash).
        watch = SourceState(self.watch_flow, WATCHED, order, today.isoformat(), drop=not rules.watch)
        plan.after.append(lambda results, errors: [watch])
        if spec is not None:
            self._plan_todo(plan, deal, values, rules.todo, rules.deadline, todo, found)
        if found_task is not None:  # ours on the deal, unknown to the ledger: linked, never twinned
            task_link = ChildLink(self.spec.flow, order, TASK, TASK_KEY, found_task[0], OPEN)
            plan.after.append(_constant([task_link]))
            return
        rule = self.money.overdue
        if rule is None or not rules.task:
            return
        task_key = plan.key("k")
        plan.add(
            {
                task_key: (
                    "tasks.task.add",
                    {
                        "fields": {
                            "TITLE": _fmt(rule.title, values),
                            "DESCRIPTION": _fmt(rule.description, values),
                            "RESPONSIBLE_ID": rule.responsible_id,
                            "UF_CRM_TASK": [f"D_{plan.deal_id}"],
                            "XML_ID": task_xml_id(self.originator, order),
                        }
                    },
                )
            },
            "overdue task",
        )

        def record_task(results: Results, errors: Errors) -> list[Change]:
            created = results.get(task_key)
            if not isinstance(created, dict) or not created.get("task", {}).get("id"):
                return []
            task_id = str(created["task"]["id"])
            return [ChildLink(self.spec.flow, order, TASK, TASK_KEY, task_id, OPEN)]

        plan.after.append(record_task)

    def _plan_todo(
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
        adopt = found is not None and found.stamp
        key = plan.key("t")
        stamp_key = key
        if step == "add":
            params: dict[str, Any] = {
                "ownerTypeId": 2,
                "ownerId": int(plan.deal_id),
                "deadline": deadline,
                "title": _fmt(spec.title, values),
                "description": _fmt(spec.description, values),
                "responsibleId": int(deal.get("ASSIGNED_BY_ID") or 1),
                "pingOffsets": [0, 60],
            }
            stamp_key = plan.key("ts")
            unit = {
                key: ("crm.activity.todo.add", params),
                stamp_key: ("crm.activity.update", {"id": f"$result[{key}][id]", "fields": stamp}),
            }
            plan.add(unit, "to-do")
        elif step is not None or adopt:
            assert todo is not None
            fields: dict[str, Any] = {}
            if step == "close":
                fields = {"COMPLETED": "Y"}
            elif step == "move":
                fields = {
                    "DEADLINE": deadline,
                    "END_TIME": deadline,
                    "DESCRIPTION": _fmt(spec.description, values),
                }
            plan.add(
                {key: ("crm.activity.update", {"id": todo.target_id, "fields": {**fields, **stamp}})}, "to-do"
            )
        elif found is not None:  # ours, as it should be: link only
            c = found.child
            plan.after.append(
                _constant(
                    [ChildLink(self.spec.flow, order, TODO, TODO_KEY, c.target_id, c.state, c.deadline)]
                )
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
            child = ChildLink(
                self.spec.flow, order, TODO, TODO_KEY, str(todo_id), state if stamped else UNSTAMPED, written
            )
            return [child]

        plan.after.append(record_todo)


def _constant(links: list[Change]) -> Callable[[Results, Errors], list[Change]]:
    return lambda results, errors: links


def _values_of(rec: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(rec.fields.get(FACTS) or {})
    values.update({k: v for k, v in rec.fields.items() if not k.startswith("@")})
    return values


__all__ = ["MoneyTarget"]
