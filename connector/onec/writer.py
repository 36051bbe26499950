"""1C as a flow target: documents and catalogs created and updated through OData, posted when asked,
stamped with our idempotency key (e.g. НомерПоДаннымКлиента = B24-123) so a lost reply never makes a twin."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.errors import OutcomeUnknown, RecordError, RemoteRejected
from connector.mapping.schema import Mapping, OneCDefault, OneCRef
from connector.onec.odata import ODataClient
from connector.onec.query import F
from connector.records import Action, Outcome


class OneCTarget:
    """Writes one object per request (OData has no batch), then posts documents; writes back to the deal."""

    def __init__(
        self, client: ODataClient, spec: Mapping, bitrix24: Bitrix24Client | None = None, soap: Any = None
    ) -> None:
        self.client = client
        self.soap = soap  # a SoapClient for target.via: soap (CreateOrder / UpdateOrder of CrmExchange)
        self.spec = spec
        self.bitrix24 = bitrix24
        self.entity = spec.target.entity
        self.key = spec.target.onec_key
        self.f = F(client.tz)
        self._refs: dict[tuple[str, str], str | None] = {}
        self._defaults: dict[str, Any] | None = None

    # -- references ---------------------------------------------------------------------------------------------

    def _find_one(self, entity: str, where: dict[str, Any]) -> str | None:
        flt = F.and_(*(self.f.eq(k, v) for k, v in where.items()))
        rows = self.client.query(entity, filter=flt, select=["Ref_Key"], top=2)
        return str(rows[0]["Ref_Key"]) if rows else None

    def _ref(self, field: str, spec: OneCRef, value: Any) -> str:
        cache_key = (field, str(value))
        if cache_key not in self._refs:
            self._refs[cache_key] = self._find_one(spec.entity, {**spec.where, spec.by: str(value)})
        found = self._refs[cache_key]
        if found is None:
            raise RecordError(f"{field}: no {spec.entity} with {spec.by} = {value!r} in 1C")
        return found

    def defaults(self) -> dict[str, Any]:
        if self._defaults is None:
            out: dict[str, Any] = {}
            for field, value in self.spec.target.defaults.items():
                if isinstance(value, OneCDefault):
                    ref = self._find_one(value.entity, dict(value.where))
                    if ref is None:
                        raise RemoteRejected(
                            f"target.defaults.{field}: no {value.entity} with "
                            f"{value.where} in 1C; fix mappings/{self.spec.flow}.yaml"
                        )
                    out[field] = ref
                else:
                    out[field] = value
            self._defaults = out
        return self._defaults

    def _payload(self, action: Action) -> dict[str, Any]:
        refs = self.spec.target.refs
        creating = action.kind == "create"
        fields = action.record.create_fields() if creating else action.record.fields
        body = {k: self._ref(k, refs[k], v) if k in refs else v for k, v in fields.items() if v != ""}
        rows = action.record.rows if creating else action.record.update_rows()
        if rows is not None and self.spec.rows is not None:
            body[self.spec.rows.target] = [
                {k: self._ref(k, refs[k], v) if k in refs else v for k, v in row.items()} for row in rows
            ]
        for field, derive in self.spec.target.derive.items():
            ref = body.get(derive.from_)
            if ref and field not in body:
                cache_key = (f"{field}<-{derive.from_}", str(ref))
                if cache_key not in self._refs:
                    row = self.client.by_refs(derive.entity, [str(ref)], select=["Ref_Key", derive.property])
                    self._refs[cache_key] = (row.get(str(ref)) or {}).get(derive.property)
                if self._refs[cache_key]:
                    body[field] = self._refs[cache_key]
        if action.kind == "create":
            body = {**self.defaults(), **body, self.key.field: self.key.prefix + action.record.key}
        return body

    # -- writes -------------------------------------------------------------------------------------------------

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        outcomes = []
        for action in actions:
            rec = action.record
            if action.kind == "skip":
                outcomes.append(
                    Outcome(
                        rec.key, "skip", "skipped", action.target_id, rec.hash, rec.version, label=rec.label
                    )
                )
                continue
            try:
                body = self._payload(action)
            except RecordError as exc:
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        action.target_id,
                        version=rec.version,
                        error=f"{rec.label}: {exc.message}",
                        label=rec.label,
                    )
                )
                continue
            target_id = action.target_id
            if action.kind == "update" and not body:
                # Nothing this flow owns has a value: no write, and no re-posting of a document 1C owns.
                outcomes.append(
                    Outcome(
                        rec.key, action.kind, "applied", target_id, rec.hash, rec.version, label=rec.label
                    )
                )
                continue
            try:
                if self.soap is not None:
                    created = self._soap_write(action, body)
                    target_id = str(created["Ref_Key"])
                elif action.kind == "create":
                    created = self.client.create(self.entity, body)
                    target_id = str(created["Ref_Key"])
                else:
                    assert target_id is not None
                    created = self.client.update(self.entity, target_id, body)
                if self.spec.target.post and self.soap is None:  # the service posts in its own transaction
                    self.client.post_document(self.entity, str(target_id))
                if action.kind == "create":
                    self._write_back(rec.key, created)
            except RemoteRejected as exc:
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        target_id,
                        version=rec.version,
                        error=f"{rec.label}: {exc.message}",
                        label=rec.label,
                    )
                )
                continue
            except OutcomeUnknown:
                if action.kind == "create" and target_id is not None:
                    # Created, but the posting's reply was lost: the object exists; the next run re-posts it.
                    outcomes.append(
                        Outcome(
                            rec.key,
                            action.kind,
                            "failed",
                            target_id,
                            error=f"{rec.label}: the "
                            "reply of 1C to /Post was lost; posted again on the next run",
                            label=rec.label,
                        )
                    )
                    continue
                raise
            outcomes.append(
                Outcome(rec.key, action.kind, "applied", target_id, rec.hash, rec.version, label=rec.label)
            )
        return outcomes

    def _soap_write(self, action: Action, body: dict[str, Any]) -> dict[str, Any]:
        """CreateOrder with our idempotency key (the service returns the same order for the same key, so a lost
        reply is simply asked again), or UpdateOrder; the answer is the order's state as JSON."""
        payload = json.dumps(body, ensure_ascii=False)
        if action.kind == "create":
            key = self.key.prefix + action.record.key
            try:
                answer = self.soap.call("CreateOrder", write=True, IdempotencyKey=key, OrderJson=payload)
            except OutcomeUnknown:
                answer = self.soap.call("CreateOrder", write=True, IdempotencyKey=key, OrderJson=payload)
        else:
            answer = self.soap.call("UpdateOrder", write=True, OrderId=action.target_id, OrderJson=payload)
        try:
            state = json.loads(str(answer))
        except ValueError:
            raise RemoteRejected(
                f"CrmExchange answered {str(answer)[:100]!r} instead of the order's JSON"
            ) from None
        # The service speaks Russian keys; the write-back names OData properties.
        return {
            "Ref_Key": state.get("Ref_Key"),
            "Number": state.get("Номер"),
            "Date": state.get("Дата"),
            **state,
        }

    def _write_back(self, key: str, created: dict[str, Any]) -> None:
        """Tell the Bitrix24 deal what 1C made of it (number, reference)."""
        if not self.spec.target.write_back or self.bitrix24 is None:
            return
        fields = {
            uf: prop.const if not isinstance(prop, str) else created.get(prop)
            for uf, prop in self.spec.target.write_back.items()
            if not isinstance(prop, str) or prop in created
        }
        if fields:
            self.bitrix24.call("crm.deal.update", {"id": key, "fields": fields}, write=True)

    def current(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The 1C objects as they are now (for --dry-run diffs)."""
        return self.client.by_refs(self.entity, ids)

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        found: dict[str, str] = {}
        prefix = self.key.prefix
        for i in range(0, len(keys), 20):
            part = keys[i : i + 20]
            flt = self.f.any_of(self.key.field, [prefix + k for k in part])
            for row in self.client.query(self.entity, filter=flt, select=["Ref_Key", self.key.field]):
                marker = str(row.get(self.key.field, "")).strip()
                if marker.startswith(prefix):
                    found.setdefault(marker[len(prefix) :], str(row["Ref_Key"]))
        return found
