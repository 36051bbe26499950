"""Money facts onto the deal: fields, stage (never backwards), payments as detail records, reminders, overdue tasks.

The deal is the one the `attach_to` flow (orders) created; this target never creates deals. Payments are detail
records of the order: each 1C receipt row is one Bitrix24 payment, updated in place when re-posted and removed
when un-posted or deleted, always reconciled against the order's full current set of rows.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.errors import OutcomeUnknown
from connector.ledger import Ledger
from connector.logs import get_logger
from connector.mapping.conditions import holds
from connector.mapping.engine import FACTS, PAYMENTS
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome, content_hash, skip_outcomes

log = get_logger(__name__)
STAGE = "STAGE_ID"
CHUNK = 100  # orders planned together; their commands are packed into batches of 50


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
        self, client: Bitrix24Client, spec: Mapping, ledger: Ledger, portal_offset: str = "+03:00"
    ) -> None:
        assert spec.money is not None
        self.client = client
        self.spec = spec
        self.money = spec.money
        self.ledger = ledger
        self.offset = portal_offset
        self.payments_flow = f"{spec.flow}:payments"
        self.todo_flow = f"{spec.flow}:todo"
        self.overdue_flow = f"{spec.flow}:overdue"
        self.watch_flow = f"{spec.flow}:due"
        self._stage_order: dict[str, int] | None = None

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

    def _current(self, deal_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Stage, pipeline and responsible of the deals, up to 2,500 per request."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(deal_ids), 2500):
            flt = {"@ID": deal_ids[i : i + 2500]}
            for page in self.client.list_fast(
                "crm.deal.list",
                flt,
                ["ID", "STAGE_ID", "CATEGORY_ID", "ASSIGNED_BY_ID", "STAGE_SEMANTIC_ID"],
                expect=len(flt["@ID"]),
            ):
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
        """Skips pass through; the rest go 20 orders at a time. A lost reply is raised with what was settled."""
        outcomes = skip_outcomes(actions)
        live = [a for a in actions if a.kind != "skip"]
        deals = self.find([a.record.key for a in live])
        current = self._current(sorted(set(deals.values()))) if live else {}
        lost: OutcomeUnknown | None = None
        for i in range(0, len(live), CHUNK):
            try:
                outcomes.extend(self._apply_chunk(live[i : i + CHUNK], deals, current))
            except OutcomeUnknown as exc:
                lost = exc
        if lost is not None:
            lost.settled = outcomes
            raise lost
        return outcomes

    def _apply_chunk(
        self, live: Sequence[Action], deals: dict[str, str], current: dict[str, dict[str, Any]]
    ) -> list[Outcome]:
        """Plan every order's commands (deal, stage, payments, reminders), send them packed into shared batches,
        then record outcomes and detail links."""
        outcomes: list[Outcome] = []
        plans: list[_Plan] = []
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
            plan = _Plan(action, deal_id, f"o{n}_")
            self._plan_deal(plan, current[deal_id])
            self._plan_payments(plan, list(rec.fields.get(PAYMENTS) or []))
            self._plan_reminders(plan, current[deal_id], _values_of(rec))
            plans.append(plan)
        announced = [(key, "?", None, p.action.record.key) for p in plans for key in p.creating]
        if announced:  # a crash between a payment's creation and the ledger is recovered from these
            self.ledger.put_links(self.payments_flow, announced)
        results, errors = self._send([unit for p in plans for unit in p.units])
        for plan in plans:
            outcomes.append(self._settle(plan, results, errors))
        return outcomes

    def _send(
        self, units: list[dict[str, tuple[str, dict[str, Any]]]]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Pack units (commands that refer to each other) into batches of at most 50 commands."""
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        batch: dict[str, tuple[str, dict[str, Any]]] = {}
        for unit in [*units, {}]:
            if (not unit or len(batch) + len(unit) > BATCH_LIMIT) and batch:
                reply = self.client.batch(batch, write=True)
                results.update(reply.result)
                errors.update(reply.errors)
                batch = {}
            batch.update(unit)
        return results, errors

    def _settle(self, plan: _Plan, results: dict[str, Any], errors: dict[str, Any]) -> Outcome:
        rec = plan.action.record
        problems = [
            f"{name}: {errors[key].get('error_description') or errors[key].get('error')}"
            for key, name in plan.names.items()
            if key in errors
        ]
        for record in plan.after:
            record(results, errors)
        if problems:
            return Outcome(
                rec.key,
                plan.action.kind,
                "failed",
                plan.deal_id,
                version=rec.version,
                label=rec.label,
                error=f"{rec.label}: " + "; ".join(problems),
            )
        return Outcome(
            rec.key, plan.action.kind, "applied", plan.deal_id, rec.hash, rec.version, label=rec.label
        )

    def _plan_deal(self, plan: _Plan, deal: dict[str, Any]) -> None:
        rec = plan.action.record
        fields = {k: v for k, v in rec.fields.items() if k != STAGE and not k.startswith("@")}
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

    def _plan_payments(self, plan: _Plan, rows: list[dict[str, Any]]) -> None:
        mode = self.money.payments.mode
        if mode == "none":
            return
        order = plan.action.record.key
        wanted = {p["key"]: p for p in rows if not p.get("refund")}
        have = {
            link.source_key: link
            for link in self.ledger.children(self.payments_flow, [order])[order]
            if link.target_id != "?"
        }
        unsettled = [
            link.source_key
            for link in self.ledger.children(self.payments_flow, [order])[order]
            if link.target_id == "?"
        ]
        if unsettled and mode == "native":
            self._adopt_orphans(order, plan.deal_id, unsettled, have, wanted)
        writes: list[tuple[str, str, str, dict[str, Any]]] = []  # (payment key, add cmd, update cmd, payload)
        sp = self.money.payments.entity_type_id
        for key in sorted(wanted):
            p = wanted[key]
            if key in have and have[key].content_hash == content_hash(p):
                continue
            a, u = plan.key("pa"), plan.key("pu")
            if mode == "native":
                fields = {
                    "sum": float(p["amount"]),
                    "paid": "Y",
                    "datePaid": f"{p['date'][:19]}{self.offset}",
                }
                if key in have:
                    plan.add(
                        {u: ("crm.item.payment.update", {"id": have[key].target_id, "fields": fields})},
                        f"payment {p['number']}",
                    )
                else:
                    plan.creating.append(key)
                    plan.add(
                        {
                            a: ("crm.item.payment.add", {"entityTypeId": 2, "entityId": plan.deal_id}),
                            u: ("crm.item.payment.update", {"id": f"$result[{a}]", "fields": fields}),
                        },
                        f"payment {p['number']}",
                    )
            else:
                fields = {
                    "title": _fmt(self.money.payments.title, {**p, "date": p["date"][:10]}),
                    "opportunity": float(p["amount"]),
                    "parentId2": int(plan.deal_id),
                    "xmlId": f"1C:{key}",
                    "begindate": p["date"][:10],
                }
                if key in have:
                    plan.add(
                        {
                            u: (
                                "crm.item.update",
                                {"entityTypeId": sp, "id": have[key].target_id, "fields": fields},
                            )
                        },
                        f"payment {p['number']}",
                    )
                else:
                    plan.creating.append(key)
                    plan.add(
                        {a: ("crm.item.add", {"entityTypeId": sp, "fields": fields})},
                        f"payment {p['number']}",
                    )
            writes.append((key, a, u, p))
        gone = [(k, plan.key("pd")) for k in have if k not in wanted]
        for key, d in gone:
            method = "crm.item.payment.delete" if mode == "native" else "crm.item.delete"
            params: dict[str, Any] = {"id": have[key].target_id}
            if mode != "native":
                params["entityTypeId"] = sp
            plan.add({d: (method, params)}, "payment removal")

        def record(results: dict[str, Any], errors: dict[str, Any]) -> None:
            put: list[tuple[str, str, str | None, str | None]] = []
            for key, a, u, p in writes:
                if a in results:
                    created = results[a]
                    target = created.get("item", {}).get("id") if isinstance(created, dict) else created
                    put.append((key, str(target), content_hash(p) if u not in errors else None, order))
                elif key in have and u in results:
                    put.append((key, have[key].target_id, content_hash(p), order))
            dropped = [key for key, d in gone if d not in errors]
            self.ledger.put_links(self.payments_flow, put, drop=dropped)

        plan.after.append(record)

    def _adopt_orphans(
        self,
        order: str,
        deal_id: str,
        unsettled: list[str],
        have: dict[str, Any],
        wanted: dict[str, dict[str, Any]],
    ) -> None:
        """Payments announced but never recorded (a crash or a lost reply): adopt the deal's unknown payments that
        match by amount and date, or that an interrupted create left unpaid, instead of adding twins."""
        known = {link.target_id for link in have.values()}
        existing = (
            self.client.call("crm.item.payment.list", {"entityTypeId": 2, "entityId": deal_id}).result or []
        )
        strangers = [p for p in existing if str(p.get("id")) not in known]
        adopted: list[tuple[str, str, str | None, str | None]] = []
        for key in unsettled:
            w = wanted.get(key)
            match = None
            if w is not None:
                match = next(
                    (
                        p
                        for p in strangers
                        if abs(float(p.get("sum") or 0) - float(w["amount"])) < 0.005
                        and str(p.get("datePaid") or "")[:10] == w["date"][:10]
                    ),
                    None,
                )
            match = match or next((p for p in strangers if p.get("paid") == "N"), None)
            if match is not None:
                strangers.remove(match)
                adopted.append((key, str(match["id"]), None, order))
                log.info("adopted a payment left by an interrupted write", order=order, payment=match["id"])
        self.ledger.put_links(
            self.payments_flow, adopted, drop=[k for k in unsettled if k not in {a[0] for a in adopted}]
        )
        for key, target, _, _ in adopted:
            have[key] = _Known(key, target)

    # -- reminders and overdue tasks -------------------------------------------------------------------------------

    def _plan_reminders(self, plan: _Plan, deal: dict[str, Any], values: dict[str, Any]) -> None:
        order, spec = plan.action.record.key, self.money.reminder
        today = date.today()
        due = values.get(spec.date) if spec is not None else None
        fully_paid = bool(values.get("fully_paid"))
        horizon = max(
            spec.max_age_days if spec else 0,
            self.money.overdue.after_days + self.money.overdue.within_days if self.money.overdue else 0,
        )
        watching = (
            bool(due) and not fully_paid and (today - date.fromisoformat(str(due)[:10])).days <= horizon
        )
        # Watched orders are looked at again once a day (the source keeps the date of the last look in the hash).
        self.ledger.put_links(
            self.watch_flow,
            [(order, plan.deal_id, today.isoformat(), None)] if watching else [],
            drop=[] if watching else [order],
        )
        if spec is not None:
            paid = holds(spec.close_when, values)
            todo = self.ledger.links(self.todo_flow, [order]).get(order)
            recent = bool(due) and (today - date.fromisoformat(str(due)[:10])).days <= spec.max_age_days
            if due and not paid and (recent or todo is not None):
                deadline = f"{str(due)[:10]}T{spec.hour:02d}:00:00{self.offset}"
                if todo is None:
                    key = plan.key("t")
                    plan.add(
                        {
                            key: (
                                "crm.activity.todo.add",
                                {
                                    "ownerTypeId": 2,
                                    "ownerId": int(plan.deal_id),
                                    "deadline": deadline,
                                    "title": _fmt(spec.title, values),
                                    "description": _fmt(spec.description, values),
                                    "responsibleId": int(deal.get("ASSIGNED_BY_ID") or 1),
                                    "pingOffsets": [0, 60],
                                },
                            )
                        },
                        "to-do",
                    )
                    plan.after.append(
                        lambda r, e, key=key, d=deadline: self._record_todo(order, r.get(key), d, plan)
                    )
                elif todo.content_hash != deadline:
                    key = plan.key("t")
                    plan.add(
                        {
                            key: (
                                "crm.activity.update",
                                {
                                    "id": todo.target_id,
                                    "fields": {
                                        "DEADLINE": deadline,
                                        "END_TIME": deadline,
                                        "DESCRIPTION": _fmt(spec.description, values),
                                    },
                                },
                            )
                        },
                        "to-do",
                    )
                    plan.after.append(
                        lambda r, e, key=key, d=deadline, t=todo.target_id: self._record_todo(
                            order, t if key in r else None, d, plan
                        )
                    )
            elif todo is not None and todo.content_hash != "done" and (paid or not due):
                key = plan.key("t")
                plan.add(
                    {key: ("crm.activity.update", {"id": todo.target_id, "fields": {"COMPLETED": "Y"}})},
                    "to-do",
                )
                plan.after.append(
                    lambda r, e, key=key, t=todo.target_id: self._record_todo(
                        order, t if key in r else None, "done", plan
                    )
                )
        rule = self.money.overdue
        days = int(values.get("days_overdue") or 0)
        if rule is None or fully_paid or not rule.after_days <= days <= rule.after_days + rule.within_days:
            return
        if self.ledger.links(self.overdue_flow, [order]).get(order) is not None:
            return
        key = plan.key("k")
        plan.add(
            {
                key: (
                    "tasks.task.add",
                    {
                        "fields": {
                            "TITLE": _fmt(rule.title, values),
                            "DESCRIPTION": _fmt(rule.description, values),
                            "RESPONSIBLE_ID": rule.responsible_id,
                            "UF_CRM_TASK": [f"D_{plan.deal_id}"],
                        }
                    },
                )
            },
            "overdue task",
        )

        def record_task(results: dict[str, Any], errors: dict[str, Any]) -> None:
            created = results.get(key)
            if isinstance(created, dict):
                task = created.get("task", {})
                self.ledger.put_links(
                    self.overdue_flow, [(order, str(task.get("id", "?")), str(today), plan.deal_id)]
                )

        plan.after.append(record_task)

    def _record_todo(self, order: str, result: Any, deadline: str, plan: _Plan) -> None:
        if result is None:
            return
        todo_id = result.get("id") if isinstance(result, dict) else result
        self.ledger.put_links(self.todo_flow, [(order, str(todo_id), deadline, plan.deal_id)])


class _Known:
    def __init__(self, key: str, target: str) -> None:
        self.source_key = key
        self.target_id = target
        self.content_hash: str | None = None


class _Plan:
    """The commands one order needs, in units that must share a batch, and what to record after."""

    def __init__(self, action: Action, deal_id: str, prefix: str) -> None:
        self.action = action
        self.deal_id = deal_id
        self.prefix = prefix
        self.units: list[dict[str, tuple[str, dict[str, Any]]]] = []
        self.names: dict[str, str] = {}
        self.after: list[Any] = []
        self.creating: list[str] = []
        self._n = 0

    def key(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}{kind}{self._n}"

    def add(self, unit: dict[str, tuple[str, dict[str, Any]]], name: str) -> None:
        self.units.append(unit)
        self.names.update({k: name for k in unit})


def _values_of(rec: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(rec.fields.get(FACTS) or {})
    values.update({k: v for k, v in rec.fields.items() if not k.startswith("@")})
    return values


__all__ = ["MoneyTarget", "datetime"]
