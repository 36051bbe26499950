"""Bitrix24 smart invoices (crm.item, entityTypeId 31) as a flow target: batched adds and updates, found again by
their external key in `xmlId`, with stages named by meaning in the mapping and resolved from crm.status.list.

Stage names the mapping may give (anything else is written as a literal stage id, e.g. "DT31_3:S"):
`new` the first in-process stage, `sent` the in-process stage after it (the first one if there is only one),
`paid` the first success stage, `declined` the first failure stage — all read once from the directory
SMART_INVOICE_STAGE_<category> by EXTRA.SEMANTICS, because the suffix codes differ between portals.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.compare import changed_fields
from connector.engine.executor import BatchExecutor, Sent
from connector.errors import RecordError, RemoteRejected
from connector.logs import get_logger
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome, skip_outcomes

log = get_logger(__name__)
SMART_INVOICE = 31
STAGE_NAMES = ("new", "sent", "paid", "declined")
Command = tuple[str, dict[str, Any]]


def _describe(err: dict[str, Any]) -> str:
    code, desc = err.get("error"), err.get("error_description") or ""
    return f"{code}: {desc}".strip(": ") if code not in (None, "") else str(desc or "rejected")


def stages_by_meaning(rows: list[dict[str, Any]]) -> dict[str, str]:
    """{new, sent, paid, declined} → stage id, from one pipeline's crm.status.list rows."""
    by_sort = sorted(rows, key=lambda r: int(r.get("SORT") or 0))

    def meaning(row: dict[str, Any]) -> str:
        extra = row.get("EXTRA") if isinstance(row.get("EXTRA"), dict) else {}
        legacy = {"S": "success", "F": "failure"}.get(str(row.get("SEMANTICS") or ""), "process")
        return str((extra or {}).get("SEMANTICS") or legacy)

    process = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "process"]
    success = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "success"]
    failure = [str(r["STATUS_ID"]) for r in by_sort if meaning(r) == "failure"]
    out: dict[str, str] = {}
    if process:
        out["new"] = process[0]
        out["sent"] = process[1] if len(process) > 1 else process[0]
    if success:
        out["paid"] = success[0]
    if failure:
        out["declined"] = failure[0]
    return out


class InvoiceTarget:
    """Applies create/update actions as crm.item.add/update (entityTypeId 31), up to 50 commands per batch."""

    def __init__(
        self, client: Bitrix24Client, spec: Mapping, commands_per_batch: int = BATCH_LIMIT, in_flight: int = 1
    ) -> None:
        self.client = client
        self.key = spec.target.external_key  # xmlId "<installation id>:<Ref_Key>" (docs/identity.md)
        # The deal default (ORIGIN_ID) is not a crm.item name; a mapping that leaves it means xmlId.
        self.field = "xmlId" if self.key.field == "ORIGIN_ID" else self.key.field
        self.rows_on = spec.rows.on if spec.rows is not None else None
        self.executor = BatchExecutor(client, in_flight, limit=max(2, min(commands_per_batch, BATCH_LIMIT)))
        self._stages: dict[int, dict[str, str]] = {}
        self._category: int | None = None
        self._my_company: int | None = None
        self._my_company_read = False

    def external_key(self, key: str) -> str:
        """What `xmlId` carries for a source record."""
        return f"{self.key.originator_id}:{key}"

    # -- directories, read once ----------------------------------------------------------------------------------

    def default_category(self) -> int:
        """The smart invoice pipeline marked isDefault."""
        if self._category is None:
            reply = self.client.call("crm.category.list", {"entityTypeId": SMART_INVOICE}).result or {}
            cats = reply.get("categories", []) if isinstance(reply, dict) else []
            default = [c for c in cats if c.get("isDefault") == "Y"] or cats
            self._category = int(default[0]["id"]) if default else 0
        return self._category

    def stage(self, category: int, wanted: Any) -> str:
        """The stage id for a meaning (new, sent, paid, declined) in a pipeline, or the literal id given."""
        text = str(wanted)
        if text not in STAGE_NAMES:
            return text
        if category not in self._stages:
            rows = (
                self.client.call(
                    "crm.status.list",
                    {"order": {"SORT": "ASC"}, "filter": {"ENTITY_ID": f"SMART_INVOICE_STAGE_{category}"}},
                ).result
                or []
            )
            self._stages[category] = stages_by_meaning([r for r in rows if isinstance(r, dict)])
        found = self._stages[category].get(text)
        if found is None:
            raise RecordError(
                f"smart invoice pipeline {category} has no '{text}' stage (SMART_INVOICE_STAGE_"
                f"{category}: {self._stages[category] or 'no stages'}); give a stage id instead"
            )
        return found

    def my_company(self) -> int | None:
        """Our own company (isMyCompany), which a smart invoice names as the seller; None if the portal has none."""
        if not self._my_company_read:
            self._my_company_read = True
            try:
                reply = self.client.call(
                    "crm.item.list",
                    {
                        "entityTypeId": 4,
                        "filter": {"isMyCompany": "Y"},
                        "select": ["id"],
                        "order": {"id": "ASC"},
                    },
                ).result
            except RemoteRejected as exc:  # optional: the invoice is valid without it
                log.warning(
                    "could not read our own company; smart invoices are created without mycompanyId",
                    error=str(exc),
                )
                return None
            items = reply.get("items", []) if isinstance(reply, dict) else []
            self._my_company = int(items[0]["id"]) if items else None
        return self._my_company

    # -- writes --------------------------------------------------------------------------------------------------

    def _fields(self, action: Action) -> dict[str, Any]:
        rec = action.record
        fields = rec.create_fields() if action.kind == "create" else dict(rec.fields)
        category = int(fields.get("categoryId") or self.default_category())
        if "stageId" in fields:
            fields["stageId"] = self.stage(category, fields["stageId"])
        if "contactIds" in fields and not isinstance(fields["contactIds"], list):
            one = fields["contactIds"]  # a mapped link gives one contact; the API wants a list
            fields["contactIds"] = [int(one)] if str(one).strip() else []
        fields[self.field] = self.external_key(
            rec.key
        )  # every write: a found or adopted invoice is stamped too
        if (
            action.kind == "create"
            and "mycompanyId" not in fields
            and (mine := self.my_company()) is not None
        ):
            fields["mycompanyId"] = mine
        return fields

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        """Write creates and updates; skips pass through. OutcomeUnknown propagates (with what was settled)."""
        outcomes = skip_outcomes(actions)
        units: list[tuple[Action, dict[str, Command]]] = []
        for n, action in enumerate(a for a in actions if a.kind != "skip"):
            try:
                units.append((action, self._commands(n, action)))
            except RecordError as exc:
                rec = action.record
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        action.target_id,
                        version=rec.version,
                        error=f"{rec.label}: {exc}",
                        label=rec.label,
                    )
                )
        sent = self.executor.run([cmds for _, cmds in units])
        for action, cmds in units:
            if next(iter(cmds)) not in sent.unknown:
                outcomes.append(self._outcome(action, cmds, sent))
        if (
            sent.lost is not None
        ):  # those records are looked up by xmlId by the engine; nothing is re-sent here
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    def _commands(self, n: int, action: Action) -> dict[str, Command]:
        """The invoice's command, plus its product rows when the mapping has any (БП 3.0 invoices do)."""
        fields = self._fields(action)
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
            error = _describe(sent.errors[head]) if head in sent.errors else "no result for the invoice"
            return self._failed(action, action.target_id, error)
        target = str((result.get("item") or {}).get("id") or action.target_id)
        if rows is not None and (rows in sent.errors or rows not in sent.results):
            error = _describe(sent.errors[rows]) if rows in sent.errors else "no result in the batch reply"
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
        wanted = {str(a.target_id): self._fields(a) for a in updates}
        select = sorted({"id", *(k for fields in wanted.values() for k in fields)})
        now: dict[str, dict[str, Any]] = {}
        ids = list(wanted)
        for i in range(0, len(ids), 50):
            reply = self.client.call(
                "crm.item.list",
                {
                    "entityTypeId": SMART_INVOICE,
                    "filter": {"@id": ids[i : i + 50]},
                    "select": select,
                    "start": -1,
                },
            ).result
            for row in reply.get("items", []) if isinstance(reply, dict) else []:
                now[str(row["id"])] = row
        return {
            a.record.key
            for a in updates
            if str(a.target_id) in now and not changed_fields(now[str(a.target_id)], wanted[str(a.target_id)])
        }

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Smart invoices carrying our external key, as {source key: item id} (the lowest id if twins exist)."""
        found: dict[str, str] = {}
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), 50):
            # Ours, and an older release's "1C:<Ref_Key>" for invoices of this base (adopted; re-stamped on update).
            wanted = {f"{o}:{k}": k for k in keys[i : i + 50] for o in self.key.originators}
            last = 0
            while True:  # keyset pages: twins made by another tool must not push ours off the first page
                rows = self.client.call(
                    "crm.item.list",
                    {
                        "entityTypeId": SMART_INVOICE,
                        "filter": {"@" + self.field: list(wanted), ">id": last},
                        "select": ["id", self.field],
                        "order": {"id": "ASC"},
                        "start": -1,
                    },
                ).result
                items = rows.get("items", []) if isinstance(rows, dict) else []
                for row in items:
                    key = wanted.get(str(row.get(self.field)))
                    if key is not None and key not in found:
                        found[key] = str(row["id"])
                if len(items) < 50:
                    break
                last = int(items[-1]["id"])
        return found
