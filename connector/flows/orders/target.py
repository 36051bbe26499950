"""Writes deals with product rows in batches, and finds deals again by their external key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, cast

from connector.bitrix24.client import BATCH_LIMIT, PAGE, Bitrix24Client
from connector.compare import changed_fields, same_rows
from connector.engine.executor import BatchExecutor, Sent, Unit
from connector.engine.planned import CommandPlan, PlannedTarget
from connector.engine.steps import RecordPlan
from connector.errors import OutcomeUnknown, RecordError, RemoteRejected
from connector.mapping.schema import ExternalKey
from connector.records import Action, Outcome


def _describe(err: dict[str, Any]) -> str:
    code = err.get("error")
    desc = err.get("error_description") or ""
    return f"{code}: {desc}".strip(": ") if code not in (None, "") else str(desc or "rejected")


class DealWriter(PlannedTarget):
    """Applies create/update actions to crm.deal with crm.deal.productrows.set, 50 commands per request."""

    def __init__(
        self, client: Bitrix24Client, external_key: ExternalKey, batch_size: int = 25, in_flight: int = 1
    ) -> None:
        self.client = client
        self.key = external_key
        self.batch_size = max(1, min(batch_size, BATCH_LIMIT // 2))
        # A deal and its rows are one unit (the rows refer to the new deal through $result): two commands a record.
        self.executor = BatchExecutor(client, in_flight, limit=2 * self.batch_size)

    def prepare(self, actions: Sequence[Action], today: date) -> None:
        """Nothing to read: a deal's write depends only on its record (lookups ran before, in the engine)."""

    def rules(self, actions: Sequence[Action], prepared: None, today: date) -> list[CommandPlan]:
        """Pure: per record, its deal's add or update and its product rows, one unit (`$result` inside it)."""
        plans = []
        for n, action in enumerate(actions):
            plan = CommandPlan(action, target_id=action.target_id)
            plan.add(self._unit(n, action))
            plans.append(plan)
        return plans

    def execute(self, plans: Sequence[RecordPlan], prepared: None) -> list[Outcome]:
        """Every plan through the one executor. Records whose batch lost its reply are left unsettled and
        OutcomeUnknown is raised (with the others settled) for the engine to look them up by key; nothing is
        sent twice here."""
        units = [cast(CommandPlan, p).units for p in plans]
        sent = self.executor.run([u for unit in units for u in unit])
        outcomes = []
        for n, plan in enumerate(plans):
            if f"a{n}" not in sent.unknown:
                outcomes.append(self._outcome(n, plan.action, sent))
        if sent.lost is not None:
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    def _fields(self, action: Action) -> dict[str, Any]:
        fields = action.record.create_fields() if action.kind == "create" else dict(action.record.fields)
        # Every write carries our identity (docs/identity.md): a deal found by lookup, adopted from an older stamp,
        # or started in Bitrix24 and now linked to its 1C order gets the same keys a created one has.
        fields[self.key.originator_field] = self.key.originator_id
        fields[self.key.field] = action.record.key
        return fields

    def _unit(self, n: int, action: Action) -> Unit:
        params = {"REGISTER_SONET_EVENT": "N"}
        unit: Unit = {}
        if action.kind == "create":
            unit[f"a{n}"] = ("crm.deal.add", {"fields": self._fields(action), "params": params})
            deal_ref: Any = f"$result[a{n}]"
        else:
            unit[f"a{n}"] = (
                "crm.deal.update",
                {"id": action.target_id, "fields": self._fields(action), "params": params},
            )
            deal_ref = action.target_id
        rows = action.record.rows if action.kind == "create" else action.record.update_rows()
        if rows is not None:
            unit[f"r{n}"] = ("crm.deal.productrows.set", {"id": deal_ref, "rows": rows})
        return unit

    def _outcome(self, n: int, action: Action, sent: Sent) -> Outcome:
        rec = action.record
        head_err = sent.errors.get(f"a{n}")
        rows_err = sent.errors.get(f"r{n}")
        if head_err is not None or f"a{n}" not in sent.results:
            error = _describe(head_err) if head_err else "no result for the deal in the batch reply"
            return Outcome(
                rec.key,
                action.kind,
                "failed",
                action.target_id,
                version=rec.version,
                error=error,
                label=rec.label,
            )
        target = str(sent.results[f"a{n}"]) if action.kind == "create" else action.target_id
        has_rows = (
            action.record.rows if action.kind == "create" else action.record.update_rows()
        ) is not None
        if rows_err is not None or (has_rows and f"r{n}" not in sent.results):
            error = "product rows: " + (_describe(rows_err) if rows_err else "no result in the batch reply")
            return Outcome(
                rec.key, action.kind, "failed", target, version=rec.version, error=error, label=rec.label
            )
        return Outcome(rec.key, action.kind, "applied", target, rec.hash, rec.version, label=rec.label)

    def current(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The deals as they are now (for --dry-run diffs)."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 2500):
            for page in self.client.list_fast("crm.deal.list", {"@ID": ids[i : i + 2500]}, ["*", "UF_*"]):
                found.update({str(row["ID"]): row for row in page})
        return found

    def same(self, actions: Sequence[Action]) -> set[str]:
        """Keys of update actions whose deal already holds exactly what the update would write (fields, our stamp
        and product rows): found objects are linked without a write (a lost ledger costs reads, never writes)."""
        updates = [a for a in actions if a.kind == "update" and a.target_id]
        if not updates:
            return set()
        now = self.current([str(a.target_id) for a in updates])
        with_rows = [str(a.target_id) for a in updates if a.record.update_rows() is not None]
        rows: dict[str, list[dict[str, Any]]] = {}
        for i in range(0, len(with_rows), BATCH_LIMIT):
            part = with_rows[i : i + BATCH_LIMIT]
            reply = self.client.batch(
                {f"r{n}": ("crm.deal.productrows.get", {"id": d}) for n, d in enumerate(part)}
            )
            rows.update({d: list(reply.result.get(f"r{n}") or []) for n, d in enumerate(part)})
        out = set()
        for a in updates:
            deal = now.get(str(a.target_id))
            if deal is None or changed_fields(deal, self._fields(a)):
                continue
            wanted = a.record.update_rows()
            if wanted is not None and not same_rows(rows.get(str(a.target_id), []), wanted):
                continue
            out.add(a.record.key)
        return out

    def owners(self, deal_ids: list[str]) -> list[str]:
        """Which of these deals exist and carry our stamp or none yet (a deal started in Bitrix24 whose 1C order's
        write-back has not happened); 50 ids per list command, up to 50 commands per request."""
        ours = set(self.key.originators)
        ids = list(dict.fromkeys(deal_ids))
        parts = [ids[i : i + PAGE] for i in range(0, len(ids), PAGE)]
        rows = self._lists(parts, [{"@ID": part} for part in parts], "ID", [self.key.originator_field])
        return [
            str(row["ID"])
            for part_rows in rows
            for row in part_rows
            if not row.get(self.key.originator_field) or row.get(self.key.originator_field) in ours
        ]

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Deals carrying our external key, as {source key: deal id}: 50 keys per list command and up to 50
        commands per request, so the lookup before a page's creates costs one request per 2,500 keys."""
        found: dict[str, str] = {}
        keys = list(dict.fromkeys(keys))
        parts = [keys[i : i + PAGE] for i in range(0, len(keys), PAGE)]
        filters = [
            {f"@{self.key.originator_field}": self.key.originators, f"@{self.key.field}": part}
            for part in parts
        ]
        for part, rows in zip(parts, self._lists(parts, filters, self.key.field, []), strict=True):
            for row in rows:
                origin = row.get(self.key.field)
                # Keep the lowest id if a duplicate already exists from some other tool.
                if origin in part and (origin not in found or int(row["ID"]) < int(found[origin])):
                    found[origin] = str(row["ID"])
        return found

    def _lists(
        self, parts: list[list[str]], filters: list[dict[str, Any]], field: str, select: list[str]
    ) -> list[list[dict[str, Any]]]:
        """The deals matching each filter (one per part of at most 50 values of `field`), the list commands sent
        up to 50 per `batch`. A full first page that leaves values of its part unseen holds twins made by another
        tool: that filter is read on to its end by keyset (a full page that covers its part lacks only twins
        with higher ids, which a lookup never prefers)."""
        select = ["ID", *dict.fromkeys(f for f in [field, *select] if f != "ID")]
        out: list[list[dict[str, Any]]] = []
        for i in range(0, len(filters), BATCH_LIMIT):
            group = filters[i : i + BATCH_LIMIT]
            params = [
                {"filter": {**flt, ">ID": 0}, "order": {"ID": "ASC"}, "start": -1, "select": select}
                for flt in group
            ]
            if len(group) == 1:  # one command: a plain call costs the same request
                rows = self.client.call("crm.deal.list", params[0]).result
                results: list[Any] = [rows]
            else:
                reply = self.client.batch({f"l{n}": ("crm.deal.list", p) for n, p in enumerate(params)})
                for n in range(len(group)):
                    if f"l{n}" in reply.errors:
                        err = reply.errors[f"l{n}"]
                        raise RemoteRejected(
                            f"crm.deal.list failed inside a batch: {err.get('error_description', err)}",
                            method="crm.deal.list",
                        )
                results = [reply.result.get(f"l{n}") for n in range(len(group))]
            for part, flt, rows in zip(parts[i : i + BATCH_LIMIT], group, results, strict=True):
                page = list((rows.get("items", []) if isinstance(rows, dict) else rows) or [])
                if len(page) >= PAGE and set(part) - {str(r.get(field)) for r in page}:
                    page = [r for p in self.client.list_keyset("crm.deal.list", flt, select) for r in p]
                out.append(page)
        return out


__all__ = ["DealWriter", "OutcomeUnknown", "RecordError"]
