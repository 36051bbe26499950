"""Flags each deal of a fan (a field, and the ids of the other deals) and opens one task per fan group for the
product manager. The task carries XML_ID = `<installation>:fan:<rule>:<first deal id>` and is looked up on the
group's first deal (UF_CRM_TASK `D_<id>`) before it is added: a deal joining the group later, a lost ledger or a
lost reply never makes a second task."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from string import Formatter
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
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


class FanWriter:
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
        self.today = today
        self.portal_tz = portal_tz

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """The deals are the records themselves."""
        return {k: k for k in keys}

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        writes = []
        for action in actions:
            rec = action.record
            if action.kind == "skip":
                outcomes.append(
                    Outcome(
                        rec.key, "skip", "skipped", action.target_id, rec.hash, rec.version, label=rec.label
                    )
                )
            else:
                writes.append(action)
        for i in range(0, len(writes), BATCH_LIMIT):
            outcomes.extend(self._write(writes[i : i + BATCH_LIMIT]))
        return outcomes

    def _write(self, writes: list[Action]) -> list[Outcome]:
        reply = self.client.batch(
            {
                f"u{n}": ("crm.deal.update", {"id": a.record.key, "fields": dict(a.record.fields)})
                for n, a in enumerate(writes)
            },
            write=True,
        )
        problems = {
            a.record.key: "the deal was not updated: " + _reason(reply.errors[f"u{n}"])
            for n, a in enumerate(writes)
            if f"u{n}" in reply.errors
        }
        groups: dict[str, list[str]] = {}
        for action in writes:
            facts = self.facts_of(action.record.key) or {}
            if action.record.key not in problems and facts.get("fan") and facts.get("fan_group"):
                groups.setdefault(str(facts["fan_group"]), []).append(action.record.key)
        for group, failed in self._tasks(groups).items():
            for key in groups[group]:
                problems[key] = failed
        return [
            Outcome(
                a.record.key,
                a.kind,
                "failed",
                a.record.key,
                error=problems[a.record.key],
                label=a.record.label,
            )
            if a.record.key in problems
            else Outcome(
                a.record.key,
                a.kind,
                "applied",
                a.record.key,
                a.record.hash,
                a.record.version,
                label=a.record.label,
            )
            for a in writes
        ]

    def _tasks(self, groups: dict[str, list[str]]) -> dict[str, str]:
        """Look for each group's task on its first deal; add the missing ones. {group: problem} of failures."""
        task = self.spec.task
        if task is None or not groups:
            return {}
        names = sorted(groups)
        problems: dict[str, str] = {}
        deadline = datetime.combine(
            self.today() + timedelta(days=task.deadline_days), time(18), self.portal_tz
        )
        for i in range(0, len(names), BATCH_LIMIT):
            part = names[i : i + BATCH_LIMIT]
            first = {g: g.rsplit(":", 1)[1] for g in part}
            found = self.client.batch(
                {
                    f"t{n}": (
                        "tasks.task.list",
                        {
                            "filter": {
                                "UF_CRM_TASK": f"D_{first[g]}",
                                "XML_ID": task_xml_id(self.originator, g),
                            },
                            "select": ["ID", "XML_ID"],
                        },
                    )
                    for n, g in enumerate(part)
                }
            )
            adds: dict[str, tuple[str, dict[str, Any]]] = {}
            for n, group in enumerate(part):
                if f"t{n}" in found.errors:
                    problems[group] = "the fan's tasks could not be listed: " + _reason(found.errors[f"t{n}"])
                    continue
                result = found.result.get(f"t{n}")
                rows = result.get("tasks", []) if isinstance(result, dict) else []
                xml = task_xml_id(self.originator, group)
                if any(isinstance(r, dict) and r.get("xmlId") == xml for r in rows):
                    continue  # made already (also when a deal joined the group later)
                facts = dict(self.facts_of(groups[group][0]) or {})
                members = sorted(
                    {first[group], *groups[group], *str(facts.get("fan_deals") or "").split(", ")} - {""},
                    key=int,
                )
                values = {**facts, "fan_deals_all": ", ".join(members)}
                adds[f"a{n}"] = (
                    "tasks.task.add",
                    {
                        "fields": {
                            "TITLE": _text(task.title, values),
                            "DESCRIPTION": _text(task.description, values),
                            "RESPONSIBLE_ID": str(task.responsible_id),
                            "DEADLINE": deadline.isoformat(),
                            "UF_CRM_TASK": [f"D_{m}" for m in members],
                            "XML_ID": xml,
                        }
                    },
                )
            if adds:
                added = self.client.batch(adds, write=True)
                for n, group in enumerate(part):
                    if f"a{n}" in added.errors:
                        problems[group] = "the fan task was not made: " + _reason(added.errors[f"a{n}"])
        return problems
