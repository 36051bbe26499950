"""Bitrix24 smart invoices (crm.item, entityTypeId 31) as a flow target: batched adds and updates, found again by
their external key in `xmlId`, with stages named by meaning in the mapping and resolved from crm.status.list
(directories.py: the stage names, and the directories read once a run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, cast

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.compare import changed_fields
from connector.engine.executor import BatchExecutor, Sent
from connector.engine.planned import NO_DAY, CommandPlan, PlannedTarget
from connector.engine.steps import RecordPlan
from connector.errors import RecordError, RemoteRejected
from connector.flows.invoices.directories import (
    SMART_INVOICE,
    STAGE_NAMES,
    Command,
    Directories,
    DirectoryReads,
    describe,
    resolve_stage,
    stages_by_meaning,
)
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome

__all__ = ["SMART_INVOICE", "STAGE_NAMES", "InvoiceTarget", "resolve_stage", "stages_by_meaning"]


class InvoiceTarget(DirectoryReads, PlannedTarget):
    """Applies create/update actions as crm.item.add/update (entityTypeId 31), up to 50 commands per batch."""

    def __init__(
        self, client: Bitrix24Client, spec: Mapping, commands_per_batch: int = BATCH_LIMIT, in_flight: int = 1
    ) -> None:
        self.client = client
        self.key = spec.target.external_key  # xmlId "<installation id>:<Ref_Key>" (docs/identity.md)
        # The deal default (ORIGIN_ID) is not a crm.item name; a mapping that leaves it means xmlId.
        self.field = "xmlId" if self.key.field == "ORIGIN_ID" else self.key.field
        self.rows_on = spec.rows.on if spec.rows is not None else None
        self.mapped = set(spec.fields)  # what the mapping writes: which directories its creates will need
        self.executor = BatchExecutor(client, in_flight, limit=max(2, min(commands_per_batch, BATCH_LIMIT)))
        self._stages: dict[int, dict[str, str]] = {}
        self._category: int | None = None
        self._my_company: int | None = None
        self._my_company_read = False

    def external_key(self, key: str) -> str:
        """What `xmlId` carries for a source record."""
        return f"{self.key.originator_id}:{key}"

    # -- writes --------------------------------------------------------------------------------------------------

    def prepare(self, actions: Sequence[Action], today: date) -> Directories:
        """Reads only: the default pipeline, the stages of the pipelines named by meaning, our own company (what
        is not known yet, in one round of shared batches)."""
        reads = self._directory_reads(*self._needs(actions))
        if reads:
            self._take_directories(reads, *self._reads(reads))
        out = Directories()
        for action in actions:
            fields = action.record.create_fields() if action.kind == "create" else action.record.fields
            if not fields.get("categoryId"):
                out.category = self.default_category()
            category = int(fields.get("categoryId") or out.category)
            if str(fields.get("stageId")) in STAGE_NAMES and category not in out.stages:
                out.stages[category] = self.stages(category)
            if action.kind == "create" and "mycompanyId" not in fields:
                out.my_company = self.my_company()
        return out

    def rules(self, actions: Sequence[Action], prepared: Directories, today: date) -> list[CommandPlan]:
        """Pure: per record, the invoice's add or update with its product rows (a stage the pipeline lacks is the
        record's problem)."""
        plans = []
        for n, action in enumerate(actions):
            plan = CommandPlan(action, target_id=action.target_id)
            try:
                plan.add(self._commands(n, action, prepared))
            except RecordError as exc:
                plan.problems.append(str(exc))
            plans.append(plan)
        return plans

    def execute(self, plans: Sequence[RecordPlan], prepared: Directories) -> list[Outcome]:
        """Every plan through the one executor. OutcomeUnknown propagates (with what was settled): those records
        are looked up by xmlId by the engine; nothing is re-sent here."""
        ready = [cast(CommandPlan, p) for p in plans if not p.problems]
        outcomes = [
            self._failed(p.action, p.action.target_id, "; ".join(p.problems)) for p in plans if p.problems
        ]
        sent = self.executor.run([p.units[0] for p in ready])
        for plan in ready:
            if next(iter(plan.units[0])) not in sent.unknown:
                outcomes.append(self._outcome(plan.action, plan.units[0], sent))
        if sent.lost is not None:
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    def _fields(self, action: Action, prepared: Directories) -> dict[str, Any]:
        rec = action.record
        fields = rec.create_fields() if action.kind == "create" else dict(rec.fields)
        category = int(fields.get("categoryId") or prepared.category)
        if "stageId" in fields:
            fields["stageId"] = resolve_stage(prepared.stages.get(category, {}), category, fields["stageId"])
        if "contactIds" in fields and not isinstance(fields["contactIds"], list):
            one = fields["contactIds"]  # a mapped link gives one contact; the API wants a list
            fields["contactIds"] = [int(one)] if str(one).strip() else []
        # Every write carries the stamp: a found or adopted invoice is stamped too.
        fields[self.field] = self.external_key(rec.key)
        if action.kind == "create" and "mycompanyId" not in fields and prepared.my_company is not None:
            fields["mycompanyId"] = prepared.my_company
        return fields

    def _commands(self, n: int, action: Action, prepared: Directories) -> dict[str, Command]:
        """The invoice's command, plus its product rows when the mapping has any (БП 3.0 invoices do)."""
        fields = self._fields(action, prepared)
        if action.kind == "create":
            out: dict[str, Command] = {
                f"a{n}": ("crm.item.add", {"entityTypeId": SMART_INVOICE, "fields": fields})
            }
            owner: Any = f"$result[a{n}][item][id]"
            rows = action.record.rows
        else:
            out = {
                f"a{n}": (
                    "crm.item.update",
                    {"entityTypeId": SMART_INVOICE, "id": action.target_id, "fields": fields},
                )
            }
            owner, rows = action.target_id, action.record.update_rows()
        if rows is not None:
            out[f"r{n}"] = (
                "crm.item.productrow.set",
                {"ownerType": "SI", "ownerId": owner, "productRows": rows},
            )
        return out

    def _outcome(self, action: Action, cmds: dict[str, Command], sent: Sent) -> Outcome:
        rec = action.record
        head, rows = next(iter(cmds)), next((k for k in cmds if k.startswith("r")), None)
        result = sent.results.get(head)
        if head in sent.errors or not isinstance(result, dict):
            error = describe(sent.errors[head]) if head in sent.errors else "no result for the invoice"
            return self._failed(action, action.target_id, error)
        target = str((result.get("item") or {}).get("id") or action.target_id)
        if rows is not None and (rows in sent.errors or rows not in sent.results):
            error = describe(sent.errors[rows]) if rows in sent.errors else "no result in the batch reply"
            return self._failed(action, target, f"product rows: {error}")
        return Outcome(rec.key, action.kind, "applied", target, rec.hash, rec.version, label=rec.label)

    @staticmethod
    def _failed(action: Action, target: str | None, error: str) -> Outcome:
        rec = action.record
        return Outcome(
            rec.key,
            action.kind,
            "failed",
            target,
            version=rec.version,
            error=f"{rec.label}: {error}",
            label=rec.label,
        )

    def same(self, actions: Sequence[Action]) -> set[str]:
        """Keys of updates whose smart invoice already holds what we would write (found after a lost ledger or a
        lost reply): linked without a write. Invoices with product rows are written (their rows are not compared)."""
        updates = [
            a for a in actions if a.kind == "update" and a.target_id and a.record.update_rows() is None
        ]
        if not updates:
            return set()
        # The item lists and the directories the fields need share one round of batches.
        ids = list(dict.fromkeys(str(a.target_id) for a in updates))
        select = sorted({"id", self.field, *(k for a in updates for k in a.record.fields)})
        lists = {
            f"s{i}": (
                "crm.item.list",
                {
                    "entityTypeId": SMART_INVOICE,
                    "filter": {"@id": ids[i : i + 50]},
                    "select": select,
                    "start": -1,
                },
            )
            for i in range(0, len(ids), 50)
        }
        dirs = self._directory_reads(*self._needs(updates))
        results, errors = self._reads({**dirs, **lists})
        if dirs:
            self._take_directories(dirs, results, errors)
        now: dict[str, dict[str, Any]] = {}
        for name in lists:
            if name in errors:
                raise RemoteRejected(
                    f"crm.item.list failed inside a batch: {describe(errors[name])}", method="crm.item.list"
                )
            reply = results.get(name)
            for row in reply.get("items", []) if isinstance(reply, dict) else []:
                now[str(row["id"])] = row
        directories = self.prepare(updates, NO_DAY)  # known by now: nothing more is read
        wanted = {str(a.target_id): self._fields(a, directories) for a in updates}
        return {
            a.record.key
            for a in updates
            if str(a.target_id) in now and not changed_fields(now[str(a.target_id)], wanted[str(a.target_id)])
        }

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Smart invoices carrying our external key, as {source key: item id} (the lowest id if twins exist): the
        first page of every 50 keys in shared batches, the rest of a full page by keyset."""
        found: dict[str, str] = {}
        keys = list(dict.fromkeys(keys))
        # Ours, and an older release's "1C:<Ref_Key>" for invoices of this base (adopted; re-stamped on update).
        chunks = [
            {f"{o}:{k}": k for k in keys[i : i + 50] for o in self.key.originators}
            for i in range(0, len(keys), 50)
        ]
        # The directories the creates' rules will need ride in the same round (read once a run).
        mapped = self.mapped
        dirs = self._directory_reads(
            "categoryId" not in mapped,
            {None} if "stageId" in mapped and "categoryId" not in mapped else set(),
            "mycompanyId" not in mapped,
        )
        results, errors = self._reads(
            {**dirs, **{f"f{n}": ("crm.item.list", self._by_key(c, 0)) for n, c in enumerate(chunks)}}
        )
        first: dict[int, list[dict[str, Any]]] = {}
        for n in range(len(chunks)):
            if f"f{n}" in errors:
                err = errors[f"f{n}"]
                raise RemoteRejected(
                    f"crm.item.list failed inside a batch: {err.get('error_description') or err}",
                    method="crm.item.list",
                )
            rows = results.get(f"f{n}")
            first[n] = rows.get("items", []) if isinstance(rows, dict) else []
        # A directory that failed here is read again by prepare, whose failure is the page's (or a dry run's note).
        self._take_directories({n: c for n, c in dirs.items() if n not in errors}, results, errors)
        for n, wanted in enumerate(chunks):
            items = first[n]
            while True:  # keyset pages: twins made by another tool must not push ours off the first page
                for row in items:
                    key = wanted.get(str(row.get(self.field)))
                    if key is not None and key not in found:
                        found[key] = str(row["id"])
                if len(items) < 50:
                    break
                rows = self.client.call("crm.item.list", self._by_key(wanted, int(items[-1]["id"]))).result
                items = rows.get("items", []) if isinstance(rows, dict) else []
        return found

    def _by_key(self, wanted: dict[str, str], last: int) -> dict[str, Any]:
        return {
            "entityTypeId": SMART_INVOICE,
            "filter": {"@" + self.field: list(wanted), ">id": last},
            "select": ["id", self.field],
            "order": {"id": "ASC"},
            "start": -1,
        }
