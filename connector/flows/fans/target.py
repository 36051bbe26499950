"""Flags each deal of a fan (a field, and the ids of the other deals) and opens one task per fan group for the
product manager. The task carries XML_ID = `<installation>:fan:<rule>:<first deal id>` and is looked up on the
group's first deal (UF_CRM_TASK `D_<id>`) before it is added: a deal joining the group later, a lost ledger or a
lost reply never makes a second task."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from string import Formatter
from typing import Any, cast

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.engine.executor import BatchExecutor
from connector.engine.planned import CommandPlan, PlannedTarget, applied, failed
from connector.engine.steps import RecordPlan
from connector.mapping.fans import FanSpec
from connector.records import Action, Outcome


class _Blank(Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key)) if isinstance(key, str) else None
        return "" if value is None else value


def _text(template: str, values: dict[str, Any]) -> str:
    try:
        return _Blank().format(template, **values)
    except (ValueError, IndexError, AttributeError):
        return template


def _reason(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("error_description") or err.get("error") or err)
    return str(err)


def task_xml_id(originator: str, group: str) -> str:
    """The fan task's external key: one per group (named by its rule and first deal)."""
    return f"{originator}:fan:{group}"


@dataclass
class Prepared:
    """What the rules of a page's deals need: their facts, their fan groups and the groups' tasks' state."""

    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # fan group → its deals in this page
    found: set[str] = field(default_factory=set)  # groups whose task is made already
    problems: dict[str, str] = field(default_factory=dict)  # groups whose tasks could not be listed


class FanWriter(PlannedTarget):
    """A target that only updates existing deals (the deal id is the key) and adds the group's task."""

    def __init__(
        self,
        client: Bitrix24Client,
        spec: FanSpec,
        originator: str,
        facts_of: Callable[[str], dict[str, Any] | None],
        today: Callable[[], date],
        portal_tz: tzinfo,
    ) -> None:
        self.client = client
        self.spec = spec
        self.originator = originator
        self.facts_of = facts_of
        self.today = today  # the run's business date (the runner passes the same one to prepare and rules)
        self.portal_tz = portal_tz
        self.executor = BatchExecutor(client)  # the one writer: batches of 50, settled per command

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """The deals are the records themselves."""
        return {k: k for k in keys}

    def prepare(self, actions: Sequence[Action], today: date) -> Prepared:
        """Reads only: the facts the source computed for these deals, and for each fan group whether its task is
        on the group's first deal already."""
        out = Prepared()
        for action in actions:
            facts = dict(self.facts_of(action.record.key) or {})
            out.facts[action.record.key] = facts
            if facts.get("fan") and facts.get("fan_group"):
                out.groups.setdefault(str(facts["fan_group"]), []).append(action.record.key)
        if self.spec.task is not None and out.groups:
            self._look_for_tasks(out)
        return out

    def rules(self, actions: Sequence[Action], prepared: Prepared, today: date) -> list[CommandPlan]:
        """Pure: per deal, its update; the group's task (when not made yet) rides with the group's first deal of
        the page and is added after the updates."""
        task = self.spec.task
        plans = {a.record.key: CommandPlan(a, target_id=a.record.key) for a in actions}
        for n, action in enumerate(actions):
            fields = dict(action.record.fields)
            plans[action.record.key].add(
                {f"u{n}": ("crm.deal.update", {"id": action.record.key, "fields": fields})}
            )
        index = {a.record.key: n for n, a in enumerate(actions)}
        for group, keys in prepared.groups.items() if task is not None else ():
            assert task is not None
            xml = task_xml_id(self.originator, group)
            if group in prepared.problems:
                for key in keys:
                    plans[key].problems.append(prepared.problems[group])
                continue
            if group in prepared.found:
                for key in keys:
                    plans[key].done.append(f"fan task {xml}: ours, made already")
                continue
            first = group.rsplit(":", 1)[1]
            facts = prepared.facts[keys[0]]
            members = sorted(
                {first, *keys, *str(facts.get("fan_deals") or "").split(", ")} - {""},
                key=int,
            )
            values = {**facts, "fan_deals_all": ", ".join(members)}
            deadline = datetime.combine(today + timedelta(days=task.deadline_days), time(18), self.portal_tz)
            fields = {
                "TITLE": _text(task.title, values),
                "DESCRIPTION": _text(task.description, values),
                "RESPONSIBLE_ID": str(task.responsible_id),
                "DEADLINE": deadline.isoformat(),
                "UF_CRM_TASK": [f"D_{m}" for m in members],
                "XML_ID": xml,
            }
            plans[keys[0]].add({f"a{index[keys[0]]}": ("tasks.task.add", {"fields": fields})})
            for key in keys[1:]:
                plans[key].done.append(f"fan task {xml}: added with deal {keys[0]}")
        return [plans[a.record.key] for a in actions]

    def execute(self, plans: Sequence[RecordPlan], prepared: Prepared) -> list[Outcome]:
        """The deals' updates through the one executor, then the tasks of groups with an updated deal. Records
        whose batch lost its reply are left unsettled (OutcomeUnknown is raised with the others)."""
        writes = [cast(CommandPlan, p) for p in plans]
        updated = self.executor.run([p.units[0] for p in writes])
        problems: dict[str, str] = {}
        for plan in writes:
            head = next(iter(plan.units[0]))
            if head in updated.errors:
                problems[plan.key] = "the deal was not updated: " + _reason(updated.errors[head])
        ok = {p.key for p in writes if p.key not in problems and not updated.unknown & p.units[0].keys()}
        group_of = {k: g for g, keys in prepared.groups.items() for k in keys}
        adding = [p for p in writes if len(p.units) > 1 and set(prepared.groups[group_of[p.key]]) & ok]
        added = self.executor.run([p.units[1] for p in adding])
        for plan in adding:
            head = next(iter(plan.units[1]))
            if head in added.errors:
                for key in prepared.groups[group_of[plan.key]]:
                    problems[key] = "the fan task was not made: " + _reason(added.errors[head])
        unknown = updated.unknown | added.unknown
        outcomes = []
        for plan in writes:
            if any(k in unknown for unit in plan.units for k in unit):
                continue  # settled on the recovery: the deal is the record, the task is found by its XML_ID
            problem = problems.get(plan.key) or "; ".join(plan.problems)
            outcomes.append(
                failed(plan.action, problem, plan.key, remember=False)
                if problem
                else applied(plan.action, plan.key)
            )
        lost = updated.lost or added.lost
        if lost is not None:
            lost.settled = outcomes
            raise lost
        return outcomes

    def _look_for_tasks(self, out: Prepared) -> None:
        """Each group's task on its first deal, by XML_ID (one list command per group, in shared read batches)."""
        names = sorted(out.groups)
        for i in range(0, len(names), BATCH_LIMIT):
            part = names[i : i + BATCH_LIMIT]
            found = self.client.batch(
                {
                    f"t{n}": (
                        "tasks.task.list",
                        {
                            "filter": {
                                "UF_CRM_TASK": f"D_{g.rsplit(':', 1)[1]}",
                                "XML_ID": task_xml_id(self.originator, g),
                            },
                            "select": ["ID", "XML_ID"],
                        },
                    )
                    for n, g in enumerate(part)
                }
            )
            for n, group in enumerate(part):
                if f"t{n}" in found.errors:
                    out.problems[group] = "the fan's tasks could not be listed: " + _reason(
                        found.errors[f"t{n}"]
                    )
                    continue
                result = found.result.get(f"t{n}")
                rows = result.get("tasks", []) if isinstance(result, dict) else []
                xml = task_xml_id(self.originator, group)
                if any(isinstance(r, dict) and r.get("xmlId") == xml for r in rows):
                    out.found.add(group)  # made already (also when a deal joined the group later)
