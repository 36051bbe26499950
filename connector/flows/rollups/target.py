"""Writes a client's rollups to the company the counterparties flow made, and opens one task per dormancy.

The company is found by its stamp (ORIGINATOR_ID = our installation or an adopted older stamp, ORIGIN_ID = the
counterparty's Ref_Key; docs/identity.md), so this flow never creates companies. The dormancy task carries
XML_ID = `<installation>:<counterparty>:dormant:<last order date>` and is looked up on the company (UF_CRM_TASK
`CO_<id>`) before it is added: a lost ledger, a lost reply or a crash between the two writes never makes a second
task, and a client who orders again and goes quiet again gets a new one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from string import Formatter
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.bitrix24.reads import run_reads
from connector.engine.executor import BatchExecutor, Sent
from connector.engine.planned import CommandPlan, PlannedTarget, applied, failed
from connector.engine.steps import RecordPlan
from connector.flows.rollups.model import task_due
from connector.mapping.rollups import RollupSpec
from connector.records import Action, Outcome

KEYS_PER_LIST = 50
Command = tuple[str, dict[str, Any]]
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


def _merged(first: Sent, then: Sent) -> Sent:
    """The replies of two rounds of writes as one (the second sent what the first left unsent)."""
    return Sent(
        {**first.results, **then.results},
        {**first.errors, **then.errors},
        first.unknown | then.unknown,
        first.lost or then.lost,
    )


def _reason(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("error_description") or err.get("error") or err)
    return str(err)


@dataclass
class Prepared:
    """What the rules of a page's clients need: their companies, facts, and their dormancy tasks' state."""

    companies: dict[str, str] = field(default_factory=dict)  # client → company id
    people: set[str] = field(default_factory=set)  # clients that are contacts (persons): nothing to write
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    xml: dict[str, str] = field(default_factory=dict)  # client → its due dormancy task's XML_ID
    asked: dict[str, str] = field(default_factory=dict)  # client → the company whose tasks were listed for it
    tasks_found: set[str] = field(default_factory=set)  # clients whose due task is on the company already
    task_problems: dict[str, str] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)  # company → its responsible manager


class RollupWriter(PlannedTarget):
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
        linked: Callable[[list[str]], dict[str, str]] | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.originator = originator
        self.stamps = [originator, *[a for a in adopt if a != originator]]
        self.facts_of = facts_of
        self.today = today  # the run's business date (the runner passes the same one to prepare and rules)
        self.portal_tz = portal_tz
        # {client: company id} the `attach_to` flow's ledger links name: only a guess of the company whose dormancy
        # task is looked up in prepare's first round (the company is the one its stamp names; a wrong guess is
        # asked again in the second round).
        self.linked = linked
        self.executor = BatchExecutor(client)  # the one writer: batches of 50, settled per command
        self._assigned: dict[str, str] = {}  # company id → responsible user id

    # The engine does not look a page's creates up before prepare: prepare does, in its one round of reads (a create
    # found by its stamp is that company's update there). `find` stays: recovery after a lost reply asks it.
    finds_in_prepare = True

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """{counterparty Ref_Key: company id} for companies stamped with our (or an adopted) installation."""
        wanted = list(dict.fromkeys(keys))
        commands = self._stamp_reads("company", wanted, "f")
        return self._stamped(commands, self._reads(commands)[0], wanted)

    def _stamp_reads(self, entity: str, keys: list[str], prefix: str) -> dict[str, Command]:
        """The list commands that find the companies (or contacts) stamped with these keys, 50 keys a command."""
        return {
            f"{prefix}{i}": (
                f"crm.{entity}.list",
                {
                    "filter": {"@ORIGINATOR_ID": self.stamps, "@ORIGIN_ID": keys[i : i + KEYS_PER_LIST]},
                    "select": COMPANY_SELECT,
                    "order": {"ID": "ASC"},
                },
            )
            for i in range(0, len(keys), KEYS_PER_LIST)
        }

    def _stamped(
        self, commands: dict[str, Command], results: dict[str, Any], wanted: list[str]
    ) -> dict[str, str]:
        """{key: object id} from the answers of `_stamp_reads` commands (the oldest object wins, as the lookups
        elsewhere); a company's responsible manager is kept for its dormancy task."""
        found: dict[str, str] = {}
        keys = set(wanted)
        for name, (method, _) in commands.items():
            for row in results.get(name) or []:
                key = str(row.get("ORIGIN_ID") or "")
                if key in keys and key not in found:
                    found[key] = str(row["ID"])
                    if method == "crm.company.list":
                        self._assigned[str(row["ID"])] = str(row.get("ASSIGNED_BY_ID") or "")
        return found

    def _reads(self, commands: dict[str, Command]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every command once, 50 to a `batch` request, in the order given (reads only): (results, errors)."""
        answers = run_reads(self.client, commands)
        return answers.results, answers.errors

    def prepare(self, actions: Sequence[Action], today: date) -> Prepared:
        """Reads only: the company of each record (found by its stamp when not linked yet; a person is a contact),
        the facts the source computed, and for each record due a dormancy task, whether ours is on the company
        already and who is responsible for the company. One round of shared batches: the unlinked records'
        companies and contacts (the lookup by stamp before create: `finds_in_prepare`), the linked companies'
        tasks; a second only for tasks of companies found in it."""
        out = Prepared()
        for a in actions:
            out.facts[a.record.key] = dict(self.facts_of(a.record.key) or {})
            if a.kind == "update" and a.target_id:
                out.companies[a.record.key] = a.target_id
        creates = [a.record.key for a in actions if a.kind == "create" and not a.target_id]
        unfound = [a.record.key for a in actions if a.record.key not in out.companies]
        companies, contacts = (
            self._stamp_reads("company", creates, "f"),
            self._stamp_reads("contact", unfound, "p"),
        )
        tasks, owners = self._task_reads(actions, out, today, self._guesses(actions, out, today))
        results, errors = self._reads({**companies, **contacts, **tasks})
        out.companies.update(self._stamped(companies, results, creates))
        out.people = set(self._stamped(contacts, results, unfound)) - set(out.companies)
        self._take_tasks(owners, results, errors, out)
        tasks, owners = self._task_reads(actions, out, today)  # companies found just now (not guessed right)
        if tasks:
            self._take_tasks(owners, *self._reads(tasks), out)
        out.assigned = {c: self._assigned.get(c, "") for k, c in out.companies.items() if k in out.xml}
        return out

    def rules(self, actions: Sequence[Action], prepared: Prepared, today: date) -> list[CommandPlan]:
        """Pure: per client, its company's update and, when a dormancy task is due and not on the company yet,
        the task's add (sent after the update, only if the update succeeded). A create whose company prepare found
        by its stamp is that company's update (its outcome, link and history an update's), as `find` made it."""
        task = self.spec.task
        plans = []
        for n, action in enumerate(actions):
            key, rec = action.record.key, action.record
            company = prepared.companies.get(key)
            if company is not None and action.kind == "create":
                action = Action("update", rec, company)
            plan = CommandPlan(action, target_id=company)
            plans.append(plan)
            if company is None:
                if key in prepared.people:
                    plan.done.append("a person (a contact in Bitrix24): no company to write to")
                else:
                    plan.problems.append(
                        f"counterparty {rec.label} has no Bitrix24 company yet: flow '{self.spec.attach_to}' "
                        "makes it; retried on every cycle until it exists"
                    )
                continue
            plan.add({f"u{n}": ("crm.company.update", {"id": company, "fields": dict(rec.fields)})})
            if task is None or key not in prepared.xml:
                continue
            if key in prepared.task_problems:
                plan.problems.append(prepared.task_problems[key])
            elif key in prepared.tasks_found:
                plan.done.append(f"dormancy task {prepared.xml[key]}: ours, on the company already")
            elif not (responsible := str(task.responsible_id or prepared.assigned.get(company) or "")):
                plan.problems.append(f"company {company} has no responsible manager for the dormancy task")
            else:
                deadline = datetime.combine(
                    today + timedelta(days=task.deadline_days), time(18), self.portal_tz
                )
                values = prepared.facts.get(key, {})
                fields = {
                    "TITLE": _text(task.title, values),
                    "DESCRIPTION": _text(task.description, values),
                    "RESPONSIBLE_ID": responsible,
                    "DEADLINE": deadline.isoformat(),
                    "UF_CRM_TASK": [f"CO_{company}"],
                    "XML_ID": prepared.xml[key],
                }
                plan.add({f"a{n}": ("tasks.task.add", {"fields": fields})})
        return plans

    def adopted_in(self, plans: Iterable[RecordPlan]) -> dict[str, tuple[str, str]]:
        """A dry run's view of the creates whose company prepare found by its stamp (their plans are the
        companies' updates), as {counterparty: ('company 12', 'found by its stamp')}. Pure."""
        return {
            p.key: (f"company {p.target_id}", "found by its stamp")
            for p in plans
            if isinstance(p, CommandPlan) and p.action.kind == "update" and p.target_id
        }

    def execute(self, plans: Sequence[RecordPlan], prepared: Prepared) -> list[Outcome]:
        """The companies' updates through the one executor, then the tasks of those whose update succeeded.
        Records whose batch lost its reply are left unsettled (OutcomeUnknown is raised with the others)."""
        outcomes: list[Outcome] = []
        writes: list[CommandPlan] = []
        for plan in plans:
            rec = plan.action.record
            if isinstance(plan, CommandPlan) and plan.units:
                writes.append(plan)
            elif plan.problems:
                outcomes.append(failed(plan.action, "; ".join(plan.problems), deferred=True, remember=False))
            else:  # a person: nothing to write, not a failure
                outcomes.append(
                    Outcome(rec.key, "skip", "skipped", None, rec.hash, rec.version, label=rec.label)
                )
        # Each company's update and its task in one unit, the task after the update, sent with `halt`: a batch
        # stops at its first failed command, so a task is made only if its company's update succeeded. What a halt
        # left unsent goes again the way it did before: the updates, then the tasks of those that succeeded.
        first = self.executor.run([{k: c for u in p.units for k, c in u.items()} for p in writes], halt=True)
        ran = first.results.keys() | first.errors.keys() | first.unknown
        rest = self.executor.run([p.units[0] for p in writes if not p.units[0].keys() <= ran])
        updated = _merged(first, rest)
        problems = {}
        for plan in writes:
            head = next(iter(plan.units[0]))
            if head in updated.errors:
                problems[plan.key] = "the company was not updated: " + _reason(updated.errors[head])
            elif head not in updated.results and head not in updated.unknown:
                problems[plan.key] = "the company was not updated: no result for it in the batch reply"
        adding = [
            p
            for p in writes
            if len(p.units) > 1
            and p.key not in problems
            and not updated.unknown & p.units[0].keys()
            and not p.units[1].keys() <= ran
        ]
        added = _merged(first, self.executor.run([p.units[1] for p in adding]))
        for plan in (p for p in writes if len(p.units) > 1):
            head = next(iter(plan.units[1]))
            if head in added.errors:
                problems[plan.key] = "the dormancy task was not made: " + _reason(added.errors[head])
            elif plan.key not in problems and head not in added.results and head not in added.unknown:
                problems[plan.key] = "the dormancy task was not made: no result for it in the batch reply"
        lost = updated.lost or added.lost
        unknown = updated.unknown | added.unknown
        for plan in writes:
            if any(k in unknown for unit in plan.units for k in unit):
                continue  # settled on the recovery: the company found by its stamp, the task by its XML_ID
            problem = problems.get(plan.key) or "; ".join(plan.problems)
            outcomes.append(
                failed(plan.action, problem, plan.target_id, remember=False)
                if problem
                else applied(plan.action, plan.target_id)
            )
        if lost is not None:
            lost.settled = outcomes
            raise lost
        return outcomes

    def _task_wanted(self, facts: dict[str, Any], today: date) -> bool:
        task = self.spec.task
        if task is None or not facts.get("dormant"):
            return False
        return task_due(facts.get("dormant_since"), today, task.within_days)

    def _guesses(self, actions: Sequence[Action], out: Prepared, today: date) -> dict[str, str]:
        """{client: company the `attach_to` flow linked it to} for the creates due a dormancy task (their company
        is looked up by its stamp in the same round, so their tasks are listed on this guess; contacts are no
        guess)."""
        if self.linked is None or self.spec.task is None:
            return {}
        keys = [
            a.record.key
            for a in actions
            if a.record.key not in out.companies and self._task_wanted(out.facts[a.record.key], today)
        ]
        links = self.linked(keys) if keys else {}
        return {k: c for k, c in links.items() if c and str(c).isdigit()}

    def _task_reads(
        self, actions: Sequence[Action], out: Prepared, today: date, guesses: Mapping[str, str] | None = None
    ) -> tuple[dict[str, Command], dict[str, str]]:
        """(commands, {command: record}): ours among the tasks of each company due a dormancy task and not asked
        yet (by XML_ID), and the companies' responsible managers when the mapping names none and they are not
        known yet. `guesses` name the companies of records whose company is not known yet: their tasks are asked
        on those (the company's stamp read in the same round gives its responsible manager)."""
        task = self.spec.task
        commands: dict[str, Command] = {}
        owners: dict[str, str] = {}
        if task is None:
            return commands, owners
        for n, a in enumerate(actions):
            key = a.record.key
            known = out.companies.get(key)
            company = known or (guesses or {}).get(key)
            if (
                company is None
                or out.asked.get(key) == company
                or not self._task_wanted(out.facts[key], today)
            ):
                continue
            out.xml[key] = task_xml_id(self.originator, key, str(out.facts[key].get("last_order_date") or ""))
            out.asked[key] = company
            commands[f"t{n}"] = (
                "tasks.task.list",
                {
                    "filter": {"UF_CRM_TASK": f"CO_{company}", "XML_ID": out.xml[key]},
                    "select": ["ID", "XML_ID"],
                },
            )
            owners[f"t{n}"] = key
            if known is not None and task.responsible_id is None and company not in self._assigned:
                commands[f"c{company}"] = (
                    "crm.company.list",
                    {"filter": {"ID": company}, "select": COMPANY_SELECT},
                )
        return commands, owners

    def _take_tasks(
        self, owners: dict[str, str], results: dict[str, Any], errors: dict[str, Any], out: Prepared
    ) -> None:
        for name, key in owners.items():
            if out.companies.get(key) != out.asked[key]:  # a guess its stamp did not confirm: asked again
                del out.asked[key]
                continue
            if name in errors:
                out.task_problems[key] = "the company's tasks could not be listed: " + _reason(errors[name])
                continue
            result = results.get(name)
            rows = result.get("tasks", []) if isinstance(result, dict) else []
            if any(isinstance(r, dict) and r.get("xmlId") == out.xml[key] for r in rows):
                out.tasks_found.add(key)
        for name, result in results.items():
            if name.startswith("c"):  # the company's responsible manager gets the task
                for row in result or []:
                    self._assigned[str(row["ID"])] = str(row.get("ASSIGNED_BY_ID") or "")
