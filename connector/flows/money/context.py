"""PREPARE for the money target: everything the rules need, read before any write (no writes here).

Per order: its deal as it is now (stage, pipeline, responsible, the money fields), the ledger's child links, the
deal's payments when they change (native mode), and — for orders the ledger links no to-do or task to (a lost
ledger, an old backup, a kill between an add and its stamp) — ours found on the deal. A quiet order (money/memo.py:
only its money fields change, and the ledger remembers what was written to its deal) is not read at all."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, tzinfo
from typing import Any

from connector.bitrix24.client import PAGE, Bitrix24Client
from connector.errors import RemoteRejected
from connector.flows.money import stages as stage_order
from connector.flows.money.memo import MEMO, Memo, memo_flow
from connector.flows.money.payments import NativePayments, Portal
from connector.flows.money.reads import Answers, Command, chunks, reason, run_reads
from connector.flows.money.reminders import (
    OPEN,
    TASK,
    TASK_SELECT,
    TODO,
    TODO_KEY,
    TODO_SELECT,
    FoundTodo,
    found_todo,
    reminder_rules,
    task_xml_id,
)
from connector.flows.money.rules import STAGE, MoneyRules, payment_need, values_of
from connector.ledger import Child, Ledger
from connector.records import Action


@dataclass
class OrderContext:
    """What one order's rules are given: its deal, the ledger's child links and what was found on the deal."""

    deal_id: str
    deal: dict[str, Any]
    children: list[Child] = field(default_factory=list)
    portal: Portal | None = None  # the deal's payments (native mode), read when the order's payments change
    found_todo: FoundTodo | None = None
    found_task: tuple[str, str] | None = None  # (task id, its date)
    problems: list[str] = field(default_factory=list)  # a read that failed: the order's outcome fails
    memo: Memo | None = None  # a quiet order's memo: nothing was read, `deal` is empty (money/memo.py)


@dataclass
class Prepared:
    """The context of a chunk of orders: the deal stages in pipeline order, and each order's context (an order
    whose deal the `attach_to` flow has not made yet has none)."""

    stages: dict[str, int]
    orders: dict[str, OrderContext]


class MoneyReader:
    """Reads the deals, child links, payments, to-dos and tasks the rules of a chunk of orders need."""

    def __init__(
        self,
        client: Bitrix24Client,
        ledger: Ledger,
        rules: MoneyRules,
        native: NativePayments,
        portal_tz: tzinfo,
    ) -> None:
        self.client = client
        self.ledger = ledger  # read only
        self.rules = rules
        self.money = rules.money
        self.native = native
        self.portal_tz = portal_tz
        self._stages: dict[str, int] | None = None

    def deals(self, keys: Iterable[str]) -> dict[str, str]:
        """{order: deal id} through the `attach_to` flow's links."""
        return {k: link.target_id for k, link in self.ledger.links(self.money.attach_to, list(keys)).items()}

    def _stage_command(self) -> dict[str, Command]:
        """The deal stages, asked once a run (in the first round of reads that needs them)."""
        if self._stages is not None:
            return {}
        return {"stages": ("crm.status.list", {"order": {"SORT": "ASC"}, "filter": {}})}

    def _stages_from(self, answers: Answers) -> dict[str, int]:
        """Every deal stage id → its position (category-prefixed ids are unique across pipelines)."""
        if self._stages is None:
            if "stages" in answers.errors:
                raise RemoteRejected(
                    f"crm.status.list failed: {reason(answers.errors['stages'])}", method="crm.status.list"
                )
            rows = list(answers.results.get("stages") or [])
            # crm.status.list pages by 50 over every directory: the deal stages may be on a later page.
            if "stages" in answers.more:
                rows = self.client.list_all("crm.status.list", {"order": {"SORT": "ASC"}, "filter": {}})
            order: dict[str, int] = {}
            for row in rows:
                if isinstance(row, dict) and str(row.get("ENTITY_ID", "")).startswith("DEAL_STAGE"):
                    order[str(row["STATUS_ID"])] = int(row.get("SORT") or 0)
            self._stages = order
            stage_order.remember(self.client, order)  # for deciding without a read that no stage moves
        return self._stages

    def _deal_commands(self, deal_ids: list[str], fields: Iterable[str]) -> dict[str, Command]:
        """Stage, pipeline, responsible and the money fields of the deals: one list command per 50 deals."""
        select = ["ID", "STAGE_ID", "CATEGORY_ID", "ASSIGNED_BY_ID", "STAGE_SEMANTIC_ID"]
        select += sorted({f for f in fields if f not in select})
        return {
            f"dl{i}": (
                "crm.deal.list",
                {"filter": {"@ID": part}, "select": select, "order": {"ID": "ASC"}, "start": -1},
            )
            for i, part in enumerate(chunks(sorted(set(deal_ids), key=int), PAGE))
        }

    def prepare(
        self,
        actions: Sequence[Action],
        deals: dict[str, str],
        fields: Iterable[str],
        today: date,
    ) -> Prepared:
        """The context of a chunk of non-skip actions: the deals as they are now (with `fields`), their sale
        orders, to-dos and overdue tasks in one round of shared read batches, then the orders' payments."""
        orders: dict[str, OrderContext] = {}
        for action in actions:
            deal_id = action.target_id or deals.get(action.record.key)
            if deal_id is not None:
                orders[action.record.key] = OrderContext(deal_id, {})
        if not orders:
            return Prepared({}, {})
        for order, children in self.ledger.child_links(self.rules.flow, list(orders)).items():
            orders[order].children = children
        live = [a for a in actions if a.record.key in orders]
        for key, memo in self._quiet(live, orders, today).items():
            orders[key].memo = memo  # only its money fields change: written without a read
        live = [a for a in live if orders[a.record.key].memo is None]
        if not live:
            return Prepared({}, orders)
        staged = any(STAGE in a.record.fields for a in live)
        payments = None
        if self.money.payments.mode == "native":
            needs = [
                payment_need(a, orders[a.record.key].deal_id, orders[a.record.key].children) for a in live
            ]
            payments = self.native.reads(needs)
        todos = self._todo_reads([a for a in live if not _has(orders[a.record.key], TODO)], orders)
        tasks = self._task_reads([a for a in live if not _has(orders[a.record.key], TASK)], orders, today)
        # One round of shared batches: the deals, the stages, the deals' sale orders, to-dos and overdue tasks;
        # then the payments of those sale orders.
        reads = self._deal_commands([orders[a.record.key].deal_id for a in live], fields)
        first = run_reads(
            self.client,
            {
                **reads,
                **(self._stage_command() if staged else {}),
                **(payments.commands() if payments else {}),
                **todos.commands,
                **tasks.commands,
            },
        )
        current: dict[str, dict[str, Any]] = {}
        for name in reads:
            if name in first.errors:
                raise RemoteRejected(
                    f"crm.deal.list failed inside a batch: {reason(first.errors[name])}",
                    method="crm.deal.list",
                )
            for row in first.results.get(name) or []:
                current[str(row["ID"])] = row
        for key in [a.record.key for a in live]:  # a deal deleted on the portal: no context, the order waits
            if orders[key].deal_id in current:
                orders[key].deal = current[orders[key].deal_id]
            else:
                del orders[key]
        stages = self._stages_from(first) if staged and orders else {}
        self._found_todos(todos, first, orders, today)
        self._found_tasks(tasks, first, orders, today)
        if payments is not None:
            for order, portal in payments.portals(run_reads(self.client, payments.payments(first))).items():
                orders[order].portal = portal
        return Prepared(stages, orders)

    def _quiet(self, actions: list[Action], orders: dict[str, OrderContext], today: date) -> dict[str, Memo]:
        """The memos of the orders whose change needs nothing but their deal's money fields: updates whose memo
        still matches the money link's hash and the deal the `attach_to` flow links (money/memo.py)."""
        updates = [a.record.key for a in actions if a.kind == "update"]
        states = self.ledger.source_state(memo_flow(self.rules.flow), MEMO, updates) if updates else {}
        if not states:
            return {}
        links = self.ledger.links(self.rules.flow, list(states))
        order = stage_order.recalled(self.client)
        out: dict[str, Memo] = {}
        for action in actions:
            key = action.record.key
            state, link = states.get(key), links.get(key)
            memo = Memo.load(state.version) if state is not None else None
            if memo is None or link is None or link.content_hash != memo.record:
                continue  # no memo, or a failed outcome, a repair or another writer since: read
            if memo.deal == orders[key].deal_id and self.rules.quiet(action, orders[key], memo, order, today):
                out[key] = memo
        return out

    def _todo_reads(self, actions: list[Action], orders: dict[str, OrderContext]) -> _Reads:
        """Ours among the to-dos of those orders' deals: crm.activity.list over 50 deals a command (to-dos only)."""
        spec = self.money.reminder
        if spec is None:
            return _Reads([])
        wanted = [a for a in actions if values_of(a.record).get(spec.date)]  # no due date: never a to-do
        deals = sorted({int(orders[a.record.key].deal_id) for a in wanted})
        reads = _Reads(wanted)
        for i, part in enumerate(chunks(deals, PAGE)):
            reads.commands[f"td{i}"] = ("crm.activity.list", _todo_params(part, 0))
        return reads

    def _found_todos(
        self, reads: _Reads, answers: Answers, orders: dict[str, OrderContext], today: date
    ) -> None:
        spec = self.money.reminder
        reads.actions = [a for a in reads.actions if a.record.key in orders]  # not those whose deal is gone
        if spec is None or not reads.actions:
            return
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        failed = [reason(answers.errors[n]) for n in reads.commands if n in answers.errors]
        if failed:
            for a in reads.actions:
                orders[a.record.key].problems.append(
                    f"to-do: the deal's to-dos could not be listed: {failed[0]}"
                )
            return
        for name, (_, params) in reads.commands.items():
            page = [r for r in answers.results.get(name) or [] if isinstance(r, dict)]
            if len(page) >= PAGE:  # a full page: these deals have more to-dos, read to the end by ID
                deals = params["filter"]["@OWNER_ID"]
                page = [
                    r
                    for p in self.client.list_keyset("crm.activity.list", _todo_filter(deals), TODO_SELECT)
                    for r in p
                ]
            for row in page:
                rows[str(row.get("OWNER_ID"))].append(row)
        for a in reads.actions:
            order, values, ctx = a.record.key, values_of(a.record), orders[a.record.key]
            probe = Child(order, TODO, TODO_KEY, "?", OPEN)  # the deadline kept on a to-do that exists
            deadline = reminder_rules(self.money, values, today, probe, True, self.portal_tz).deadline
            title = self.rules.text(spec.title, values)
            ctx.found_todo = found_todo(rows[ctx.deal_id], self.rules.originator, order, title, deadline)

    def _task_reads(self, actions: list[Action], orders: dict[str, OrderContext], today: date) -> _Reads:
        """Ours among the tasks of orders about to get one: tasks.task.list on the deal (UF_CRM_TASK) and our
        XML_ID, one command per order in the shared read batches; the XML_ID is compared here too, as the vendor
        does not document it as a filter key."""
        if self.money.overdue is None:
            return _Reads([])
        due = [
            a
            for a in actions
            if reminder_rules(self.money, values_of(a.record), today, None, False, self.portal_tz).task
        ]
        reads = _Reads(due)
        for i, a in enumerate(due):
            flt = {
                "UF_CRM_TASK": f"D_{orders[a.record.key].deal_id}",
                "XML_ID": task_xml_id(self.rules.originator, a.record.key),
            }
            reads.commands[f"tk{i}"] = ("tasks.task.list", {"filter": flt, "select": TASK_SELECT})
        return reads

    def _found_tasks(
        self, reads: _Reads, answers: Answers, orders: dict[str, OrderContext], today: date
    ) -> None:
        for name, a in zip(reads.commands, reads.actions, strict=True):
            order = a.record.key
            if order not in orders:
                continue  # its deal is gone
            xml = task_xml_id(self.rules.originator, order)
            if name in answers.errors:
                orders[order].problems.append(
                    f"overdue task: the deal's tasks could not be listed: {reason(answers.errors[name])}"
                )
                continue
            result = answers.results.get(name)
            rows = result.get("tasks", []) if isinstance(result, dict) else []
            for row in rows:
                if isinstance(row, dict) and row.get("xmlId") == xml:
                    orders[order].found_task = (str(row.get("id")), str(row.get("createdDate") or today)[:10])
                    break


@dataclass
class _Reads:
    """Read commands of one kind for a chunk, and the actions they are for."""

    actions: list[Action]
    commands: dict[str, Command] = field(default_factory=dict)


def _todo_filter(deals: list[int]) -> dict[str, Any]:
    return {"OWNER_TYPE_ID": 2, "@OWNER_ID": deals, "PROVIDER_ID": "CRM_TODO"}


def _todo_params(deals: list[int], after: int) -> dict[str, Any]:
    """The first page of the deals' to-dos in ID order (`start=-1`: no count)."""
    return {
        "filter": {**_todo_filter(deals), ">ID": after},
        "order": {"ID": "ASC"},
        "select": TODO_SELECT,
        "start": -1,
    }


def _has(ctx: OrderContext, kind: str) -> bool:
    return any(c.kind == kind for c in ctx.children)
