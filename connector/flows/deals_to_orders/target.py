"""1C as a flow target: documents and catalogs created and updated through OData, posted when asked,
stamped with our idempotency key (e.g. НомерПоДаннымКлиента = B24-123) so a lost reply never makes a twin."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.compare import changed_fields
from connector.crashpoints import crash_point
from connector.errors import OutcomeUnknown, RecordError, RemoteRejected, TransientWriteError
from connector.flows.deals_to_orders.client import ClientMaker
from connector.flows.deals_to_orders.products import Units, described, find_ref
from connector.mapping.client import NEW_CLIENT, client_spec
from connector.mapping.schema import Mapping, OneCDefault, OneCRef
from connector.onec.odata import ODataClient
from connector.onec.query import F
from connector.records import Action, Outcome, skip_outcomes


class OneCTarget:
    """Writes one object per request (OData has no batch), then posts documents; writes back to the deal."""

    def __init__(
        self,
        client: ODataClient,
        spec: Mapping,
        bitrix24: Bitrix24Client | None = None,
        soap: Any = None,
        originator: str | None = None,
    ) -> None:
        self.client = client
        self.soap = soap  # a SoapClient for target.via: soap (CreateOrder / UpdateOrder of CrmExchange)
        self.spec = spec
        self.bitrix24 = bitrix24
        self.entity = spec.target.entity
        self.key = spec.target.onec_key
        self.f = F(client.tz)
        self._refs: dict[tuple[str, str], str | None] = {}
        self.originator = originator  # our installation id, stamped on the deal by the write-back
        self._defaults: dict[str, Any] | None = None
        self._clients: ClientMaker | None = None
        self._units = Units(client)

    # -- references ---------------------------------------------------------------------------------------------

    def _find_one(self, entity: str, where: dict[str, Any]) -> str | None:
        flt = F.and_(*(self.f.eq(k, v) for k, v in where.items()))
        rows = self.client.query(entity, filter=flt, select=["Ref_Key"], top=2)
        return str(rows[0]["Ref_Key"]) if rows else None

    def _ref(self, field: str, spec: OneCRef, value: Any) -> str:
        cache_key = (field, str(value))
        if cache_key not in self._refs:
            self._refs[cache_key] = find_ref(self.client, spec, str(value))
        found = self._refs[cache_key]
        if found is None:
            raise RecordError(f"{field}: no {described(spec)} = {value!r} in 1C")
        return found

    def _row(self, row: dict[str, Any]) -> dict[str, Any]:
        """A row with its references resolved; a unit (`unit_of`) after the product it belongs to."""
        refs = self.spec.target.refs
        out = {
            k: self._ref(k, refs[k], v) if k in refs and not refs[k].unit_of else v for k, v in row.items()
        }
        for k, spec in refs.items():
            if k in out and spec.unit_of:
                product_entity = refs[spec.unit_of].entity if spec.unit_of in refs else ""
                out[k] = self._units.check(k, spec, product_entity, str(out.get(spec.unit_of) or ""), out[k])
        return out

    def _client(self, wanted: dict[str, Any]) -> str:
        """The counterparty of a deal's client that 1C did not know when the deal was mapped: found or made."""
        if self._clients is None:
            spec = client_spec(self.spec.target)
            if spec is None or self.bitrix24 is None:
                raise RecordError("the deal's client is not in 1C and target.client is not configured")
            self._clients = ClientMaker(self.client, self.bitrix24, spec, self.originator)
        try:
            return self._clients.resolve(dict(wanted[NEW_CLIENT]))
        except TransientWriteError:
            raise  # retried next cycle, found by ИНН or marker then
        except RemoteRejected as exc:
            raise RecordError(
                f"1C refused the deal's client (counterparty or partner): {exc.message}"
            ) from None

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
        fields = {
            k: self._client(v) if isinstance(v, dict) and NEW_CLIENT in v else v for k, v in fields.items()
        }
        body = {k: self._ref(k, refs[k], v) if k in refs else v for k, v in fields.items() if v != ""}
        rows = action.record.rows if creating else action.record.update_rows()
        if rows is not None and self.spec.rows is not None:
            body[self.spec.rows.target] = [self._row(row) for row in rows]
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
        """Each record's chain — create (or find) → post → read number → write back to the deal — with every step
        settled on its own: a step that did not finish leaves the record failed with its link, and the next run
        reads the order and the deal and does only the steps still missing."""
        outcomes = skip_outcomes(actions)
        updates = [a for a in actions if a.kind == "update" and a.target_id]
        orders = self._orders([str(a.target_id) for a in updates]) if updates else {}
        deals = self._deal_stamps([a for a in updates if self._ours(a, orders)])
        for action in actions:
            if action.kind == "skip":
                continue
            try:
                if action.kind == "create":
                    outcome = self._create(action)
                else:
                    outcome = self._update(action, orders.get(str(action.target_id)), deals)
            except (
                TransientWriteError
            ) as exc:  # not a refusal: the same step is tried again on the next cycle
                outcome = self._failed(
                    action,
                    action.target_id,
                    f"1C failed temporarily ({exc.message}); retried next cycle",
                    True,
                )
            except RecordError as exc:
                outcome = self._failed(action, action.target_id, exc.message)
            outcomes.append(outcome)
        return outcomes

    # -- the chain of one record --------------------------------------------------------------------------------

    def _failed(self, action: Action, target_id: str | None, why: str, transient: bool = False) -> Outcome:
        rec = action.record
        return Outcome(
            rec.key,
            action.kind,
            "failed",
            target_id,
            version=rec.version,
            error=f"{rec.label}: {why}",
            label=rec.label,
            deferred=transient,  # waiting: retried every cycle until it goes through
        )

    def _applied(self, action: Action, target_id: str | None, wrote: bool = True) -> Outcome:
        rec = action.record
        kind = action.kind if wrote else "skip"  # linked and recorded, nothing sent: counted as skipped
        return Outcome(rec.key, kind, "applied", target_id, rec.hash, rec.version, label=rec.label)

    def _create(self, action: Action) -> Outcome:
        body = self._payload(action)
        if self.soap is not None:
            created = self._soap_write(action, body)  # the service creates and posts in one transaction
        else:
            created = self.client.create(self.entity, body)  # OutcomeUnknown propagates: looked up by key
        target_id = str(created["Ref_Key"])
        return self._finish(
            action, target_id, created, posted=self.soap is not None or not self.spec.target.post
        )

    def _finish(self, action: Action, target_id: str, order: dict[str, Any], posted: bool) -> Outcome:
        """Post (where the mapping says so), then write the number and key back to the deal."""
        if not posted:
            crash_point("posting")
            try:
                self.client.post_document(self.entity, target_id)
            except OutcomeUnknown:
                return self._failed(
                    action,
                    target_id,
                    "the reply of 1C to /Post was lost; the next run reads "
                    "the order and posts it if it is not posted",
                )
            except TransientWriteError as exc:
                return self._failed(
                    action,
                    target_id,
                    f"1C failed temporarily while posting ({exc.message}); posted next cycle",
                    True,
                )
            except RemoteRejected as exc:
                return self._failed(action, target_id, f"1C refused to post the order: {exc.message}")
            if "Number" not in order:
                order = {**order, **self._orders([target_id]).get(target_id, {})}
        crash_point("write-back")
        try:
            self._write_back(action.record.key, order)
        except (OutcomeUnknown, RemoteRejected) as exc:
            what = "lost its reply" if isinstance(exc, OutcomeUnknown) else f"failed: {exc.message}"
            return self._failed(
                action,
                target_id,
                f"writing the 1C number back to the deal {what}; the next run writes it again",
            )
        return self._applied(action, target_id)

    def _update(
        self, action: Action, order: dict[str, Any] | None, deals: dict[str, dict[str, Any]]
    ) -> Outcome:
        target_id = str(action.target_id)
        if order is None:
            return self._failed(
                action,
                target_id,
                f"the 1C object {target_id} linked to it is gone (deleted in 1C); "
                "unlink it with `b24-1c reconcile --repair` or restore it in 1C",
            )
        body = changed_fields(order, self._payload(action))
        if body:
            if self.soap is not None:
                self._soap_write(action, body)
            else:
                self.client.update(self.entity, target_id, body)
        if not self._ours(action, {target_id: order}):
            return self._applied(action, target_id, bool(body))  # made in 1C: it owns posting and numbering
        deal = deals.get(action.record.key, {})
        if self._stamped(deal, target_id):  # the chain finished before (the write-back is its last step)
            return self._applied(action, target_id, bool(body))
        # Our order whose chain was interrupted (a crash, a lost reply, a refusal): finish it now.
        posted = bool(order.get("Posted")) or self.soap is not None or not self.spec.target.post
        return self._finish(action, target_id, order, posted=posted)

    def _ours(self, action: Action, orders: dict[str, dict[str, Any]]) -> bool:
        """Whether the order was made from this very deal (its key attribute names the deal)."""
        order = orders.get(str(action.target_id)) or {}
        return str(order.get(self.key.field) or "").strip() == self.key.prefix + action.record.key

    def _stamped(self, deal: dict[str, Any], target_id: str) -> bool:
        if not self.spec.target.write_back:
            return True
        return str(deal.get("ORIGIN_ID") or "") == target_id and bool(deal.get("ORIGINATOR_ID"))

    def _orders(self, refs: list[str]) -> dict[str, dict[str, Any]]:
        select = ["Ref_Key", "Posted", "Number", "DeletionMark", self.key.field]
        select += [f for f in self.spec.fields if f not in select]
        select += [p for p in self.spec.target.write_back.values() if isinstance(p, str) and p not in select]
        return self.client.by_refs(self.entity, refs, select=select)

    def _deal_stamps(self, actions: list[Action]) -> dict[str, dict[str, Any]]:
        """The deals of our own orders as they are now: has the write-back (our last step) happened?"""
        if not actions or self.bitrix24 is None or not self.spec.target.write_back:
            return {}
        ids = [a.record.key for a in actions]
        found: dict[str, dict[str, Any]] = {}
        for page in self.bitrix24.list_fast(
            "crm.deal.list", {"@ID": ids}, ["ID", "ORIGIN_ID", "ORIGINATOR_ID"]
        ):
            found.update({str(row["ID"]): row for row in page})
        return found

    def exists(self, refs: list[str]) -> list[str]:
        """Which of these keys name an object of this 1C base (to adopt objects stamped by an older release)."""
        return list(self.client.by_refs(self.entity, refs, select=["Ref_Key"]))

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
        """Tell the Bitrix24 deal what 1C made of it (number, reference) and stamp it with our identity, so that
        the 1C → Bitrix24 flow finds it by key and the Bitrix24 → 1C flow never makes a second order of it."""
        if not self.spec.target.write_back or self.bitrix24 is None:
            return
        fields = {
            uf: prop.const if not isinstance(prop, str) else created.get(prop)
            for uf, prop in self.spec.target.write_back.items()
            if not isinstance(prop, str) or prop in created
        }
        if self.originator:
            fields.update({"ORIGINATOR_ID": self.originator, "ORIGIN_ID": str(created["Ref_Key"])})
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
