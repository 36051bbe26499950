"""Writes a client's rollups to the company the counterparties flow made, and opens one task per dormancy.

The company is found by its stamp (ORIGINATOR_ID = our installation or an adopted older stamp, ORIGIN_ID = the
counterparty's Ref_Key; docs/identity.md), so this flow never creates companies. The dormancy task carries
XML_ID = `<installation>:<counterparty>:dormant:<last order date>` and is looked up on the company (UF_CRM_TASK
`CO_<id>`) before it is added: a lost ledger, a lost reply or a crash between the two writes never makes a second
task, and a client who orders again and goes quiet again gets a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from string import Formatter
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.flows.rollups.model import task_due
from connector.mapping.rollups import RollupSpec
from connector.records import Action, Outcome

KEYS_PER_LIST = 50
COMPANY_SELECT = ["ID", "ORIGIN_ID", "ASSIGNED_BY_ID"]


class _Blank(Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        value = kwargs.get(str(key)) if isinstance(key, str) else None
        return "" if value is None else value


def _text(template: str, values: dict[str, Any]) -> str:
    """A title or description from the mapping's template; a missing value is empty, a bad template as is."""
    try:
        return _Blank().format(template, **values)
    except (ValueError, IndexError, AttributeError):
        return template


def task_xml_id(originator: str, client: str, last_order_date: str) -> str:
    """The dormancy task's external key: one per client and dormancy (a new order starts a new one)."""
    return f"{originator}:{client}:dormant:{last_order_date}"


def _reason(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("error_description") or err.get("error") or err)
    return str(err)


class RollupWriter:
    """A target that only updates companies found by their stamp, and adds the dormancy task."""

    def __init__(
        self,
        client: Bitrix24Client,
        spec: RollupSpec,
        originator: str,
        adopt: Iterable[str],
        facts_of: Callable[[str], dict[str, Any] | None],
        today: Callable[[], date],
        portal_tz: tzinfo,
    ) -> None:
        self.client = client
        self.spec = spec
        self.originator = originator
        self.stamps = [originator, *[a for a in adopt if a != originator]]
        self.facts_of = facts_of
        self.today = today
        self.portal_tz = portal_tz
        self._assigned: dict[str, str] = {}  # company id → responsible user id

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """{counterparty Ref_Key: company id} for companies stamped with our (or an adopted) installation."""
        return self._stamped("company", keys)

    def _stamped(self, entity: str, keys: Iterable[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(keys))
        commands = {
            f"f{i}": (
                f"crm.{entity}.list",
                {
                    "filter": {"@ORIGINATOR_ID": self.stamps, "@ORIGIN_ID": wanted[i : i + KEYS_PER_LIST]},
                    "select": COMPANY_SELECT,
                    "order": {"ID": "ASC"},
                },
            )
            for i in range(0, len(wanted), KEYS_PER_LIST)
        }
        found: dict[str, str] = {}
        names = list(commands)
        for i in range(0, len(names), BATCH_LIMIT):
            reply = self.client.batch({k: commands[k] for k in names[i : i + BATCH_LIMIT]})
            for name in names[i : i + BATCH_LIMIT]:
                for row in reply.result.get(name) or []:
                    key = str(row.get("ORIGIN_ID") or "")
                    if (
                        key in wanted and key not in found
                    ):  # the oldest company wins, as the lookups elsewhere
                        found[key] = str(row["ID"])
                        self._assigned[str(row["ID"])] = str(row.get("ASSIGNED_BY_ID") or "")
        return found

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        creates = [a for a in actions if a.kind == "create"]
        found = self.find(a.record.key for a in creates) if creates else {}
        # A person is a contact, not a company (the counterparties flow's KIND): nothing to write, not a failure.
        unfound = [
            a.record.key
            for a in actions
            if a.kind != "skip" and not a.target_id and a.record.key not in found
        ]
        people = self._stamped("contact", unfound) if unfound else {}
        writes: list[tuple[Action, str]] = []
        for action in actions:
            rec = action.record
            if action.kind == "skip":
                outcomes.append(
                    Outcome(
                        rec.key, "skip", "skipped", action.target_id, rec.hash, rec.version, label=rec.label
                    )
                )
            elif action.kind == "update" and action.target_id:
                writes.append((action, action.target_id))
            elif rec.key in found:
                writes.append((action, found[rec.key]))
            elif rec.key in people:
                outcomes.append(
                    Outcome(rec.key, "skip", "skipped", None, rec.hash, rec.version, label=rec.label)
                )
            else:
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        error=f"counterparty {rec.label} has no Bitrix24 company yet: flow "
                        f"'{self.spec.attach_to}' makes it; retried on every cycle until it exists",
                        label=rec.label,
                        deferred=True,
                    )
                )
        for i in range(0, len(writes), BATCH_LIMIT):
            outcomes.extend(self._write(writes[i : i + BATCH_LIMIT]))
        return outcomes

    def _write(self, writes: list[tuple[Action, str]]) -> list[Outcome]:
        commands = {
            f"u{n}": ("crm.company.update", {"id": company, "fields": dict(action.record.fields)})
            for n, (action, company) in enumerate(writes)
        }
        reply = self.client.batch(commands, write=True)
        problems: dict[str, str] = {}
        for n, (action, _) in enumerate(writes):
            if f"u{n}" in reply.errors:
                problems[action.record.key] = "the company was not updated: " + _reason(reply.errors[f"u{n}"])
        tasked = [
            (a, c) for a, c in writes if a.record.key not in problems and self._task_wanted(a.record.key)
        ]
        problems.update(self._tasks(tasked))
        out = []
        for action, company in writes:
            rec = action.record
            if rec.key in problems:
                out.append(
                    Outcome(rec.key, action.kind, "failed", company, error=problems[rec.key], label=rec.label)
                )
            else:
                out.append(
                    Outcome(rec.key, action.kind, "applied", company, rec.hash, rec.version, label=rec.label)
                )
        return out

    def _task_wanted(self, key: str) -> bool:
        facts = self.facts_of(key)
        task = self.spec.task
        if task is None or facts is None or not facts.get("dormant"):
            return False
        return task_due(facts.get("dormant_since"), self.today(), task.within_days)

    def _tasks(self, tasked: list[tuple[Action, str]]) -> dict[str, str]:
        """Look for our task on each company, add the missing ones; {key: problem} for those that failed."""
        if not tasked:
            return {}
        task = self.spec.task
        assert task is not None
        xml = {
            a.record.key: task_xml_id(self.originator, a.record.key, self._fact(a, "last_order_date"))
            for a, _ in tasked
        }
        lookups = {
            f"t{n}": (
                "tasks.task.list",
                {
                    "filter": {"UF_CRM_TASK": f"CO_{company}", "XML_ID": xml[a.record.key]},
                    "select": ["ID", "XML_ID"],
                },
            )
            for n, (a, company) in enumerate(tasked)
        }
        reply = self.client.batch(lookups)
        unknown = [c for _, c in tasked if c not in self._assigned] if task.responsible_id is None else []
        if unknown:  # the company's responsible manager gets the task
            listed = self.client.batch(
                {
                    f"c{n}": ("crm.company.list", {"filter": {"ID": company}, "select": COMPANY_SELECT})
                    for n, company in enumerate(unknown)
                }
            )
            for result in listed.result.values():
                for row in result or []:
                    self._assigned[str(row["ID"])] = str(row.get("ASSIGNED_BY_ID") or "")
        problems: dict[str, str] = {}
        adds: dict[str, tuple[str, dict[str, Any]]] = {}
        deadline = datetime.combine(
            self.today() + timedelta(days=task.deadline_days), time(18), self.portal_tz
        )
        for n, (action, company) in enumerate(tasked):
            key = action.record.key
            if f"t{n}" in reply.errors:
                problems[key] = "the company's tasks could not be listed: " + _reason(reply.errors[f"t{n}"])
                continue
            result = reply.result.get(f"t{n}")
            rows = result.get("tasks", []) if isinstance(result, dict) else []
            if any(isinstance(r, dict) and r.get("xmlId") == xml[key] for r in rows):
                continue  # ours is there already: never a second one
            responsible = str(task.responsible_id or self._assigned.get(company) or "")
            if not responsible:
                problems[key] = f"company {company} has no responsible manager for the dormancy task"
                continue
            values = {**(self.facts_of(key) or {})}
            adds[f"a{n}"] = (
                "tasks.task.add",
                {
                    "fields": {
                        "TITLE": _text(task.title, values),
                        "DESCRIPTION": _text(task.description, values),
                        "RESPONSIBLE_ID": responsible,
                        "DEADLINE": deadline.isoformat(),
                        "UF_CRM_TASK": [f"CO_{company}"],
                        "XML_ID": xml[key],
                    }
                },
            )
        if adds:
            added = self.client.batch(adds, write=True)
            for n, (action, _) in enumerate(tasked):
                if f"a{n}" in added.errors:
                    problems[action.record.key] = "the dormancy task was not made: " + _reason(
                        added.errors[f"a{n}"]
                    )
        return problems

    def _fact(self, action: Action, name: str) -> str:
        return str((self.facts_of(action.record.key) or {}).get(name) or "")
