"""What the deals → orders rules need, read before anything is written: the linked 1C orders as they are now, the
deals' stamps (has the chain's last step, the write-back, happened?) and each record's 1C body with its references
resolved. Reads only: a deal's client that 1C does not know yet stays a placeholder here, made by the chain's first
step (connector/flows/deals_to_orders/client.py), so a dry run writes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.errors import RecordError, RemoteRejected
from connector.flows.deals_to_orders.products import Units, described, find_ref
from connector.mapping.client import NEW_CLIENT
from connector.mapping.schema import Mapping, OneCDefault, OneCRef
from connector.onec.odata import ODataClient
from connector.onec.query import F
from connector.records import Action


@dataclass
class Prepared:
    """The state of both sides for one page's non-skip actions."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # linked orders by Ref_Key
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)  # our orders' deals: ID, ORIGIN_ID, ...
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # record key -> the 1C body to write
    problems: dict[str, str] = field(default_factory=dict)  # record key -> why no body could be made


def new_client(body: dict[str, Any]) -> tuple[str, dict[str, str]] | None:
    """The order's field waiting for a client 1C does not know yet, and which Bitrix24 record that client is."""
    for name, value in body.items():
        if isinstance(value, dict) and NEW_CLIENT in value:
            return name, dict(value[NEW_CLIENT])
    return None


class References:
    """Resolves a deal's values into 1C references; every answer is cached for the target's life."""

    def __init__(self, client: ODataClient, spec: Mapping) -> None:
        self.client = client
        self.spec = spec
        self.f = F(client.tz)
        self._refs: dict[tuple[str, str], str | None] = {}
        self._defaults: dict[str, Any] | None = None
        self._units = Units(client)

    def _find_one(self, entity: str, where: dict[str, Any]) -> str | None:
        flt = F.and_(*(self.f.eq(k, v) for k, v in where.items()))
        rows = self.client.query(entity, filter=flt, select=["Ref_Key"], top=2)
        return str(rows[0]["Ref_Key"]) if rows else None

    def ref(self, field: str, spec: OneCRef, value: Any) -> str:
        cache_key = (field, str(value))
        if cache_key not in self._refs:
            self._refs[cache_key] = find_ref(self.client, spec, str(value))
        found = self._refs[cache_key]
        if found is None:
            raise RecordError(f"{field}: no {described(spec)} = {value!r} in 1C")
        return found

    def row(self, row: dict[str, Any], n: int = 1) -> dict[str, Any]:
        """A row with its references resolved; a unit (`unit_of`) after the product it belongs to: the product's
        own unit, or one of its packagings with the row's quantities and prices recounted (products.py)."""
        refs = self.spec.target.refs
        where = f"{self.spec.rows.target if self.spec.rows else 'rows'}[{n}]"
        out = {k: self.ref(k, refs[k], v) if k in refs and not refs[k].unit_of else v for k, v in row.items()}
        for k, spec in refs.items():
            if k in out and spec.unit_of:
                product_entity = refs[spec.unit_of].entity if spec.unit_of in refs else ""
                out = self._units.row(k, spec, product_entity, out, where)
        return out

    def defaults(self) -> dict[str, Any]:
        if self._defaults is None:
            out: dict[str, Any] = {}
            for name, value in self.spec.target.defaults.items():
                if isinstance(value, OneCDefault):
                    ref = self._find_one(value.entity, dict(value.where))
                    if ref is None:
                        raise RemoteRejected(
                            f"target.defaults.{name}: no {value.entity} with "
                            f"{value.where} in 1C; fix mappings/{self.spec.flow}.yaml"
                        )
                    out[name] = ref
                else:
                    out[name] = value
            self._defaults = out
        return self._defaults

    def derive(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fields 1C needs that follow from another reference (УТ: the counterparty's partner), read from it."""
        for name, rule in self.spec.target.derive.items():
            ref = body.get(rule.from_)
            if not ref or name in body or isinstance(ref, dict):
                continue
            cache_key = (f"{name}<-{rule.from_}", str(ref))
            if cache_key not in self._refs:
                row = self.client.by_refs(rule.entity, [str(ref)], select=["Ref_Key", rule.property])
                self._refs[cache_key] = (row.get(str(ref)) or {}).get(rule.property)
            if self._refs[cache_key]:
                body[name] = self._refs[cache_key]
        return body

    def body(self, action: Action) -> dict[str, Any]:
        """The 1C body of one action: references resolved, a create with the defaults and our key."""
        refs = self.spec.target.refs
        creating = action.kind == "create"
        fields = action.record.create_fields() if creating else action.record.fields
        body = {
            k: self.ref(k, refs[k], v) if k in refs and not _placeholder(v) else v
            for k, v in fields.items()
            if v != ""
        }
        rows = action.record.rows if creating else action.record.update_rows()
        if rows is not None and self.spec.rows is not None:
            body[self.spec.rows.target] = [self.row(row, n) for n, row in enumerate(rows, 1)]
        body = self.derive(body)
        if creating:
            key = self.spec.target.onec_key
            body = {**self.defaults(), **body, key.field: key.prefix + action.record.key}
        return body


def _placeholder(value: Any) -> bool:
    return isinstance(value, dict) and NEW_CLIENT in value


def order_fields(spec: Mapping) -> list[str]:
    """What the rules read of a linked order: its state, our key, the mapped fields and what the write-back sends."""
    select = ["Ref_Key", "Posted", "Number", "DeletionMark", spec.target.onec_key.field]
    select += [f for f in spec.fields if f not in select]
    select += [p for p in spec.target.write_back.values() if isinstance(p, str) and p not in select]
    return select


def read_orders(client: ODataClient, spec: Mapping, refs: list[str]) -> dict[str, dict[str, Any]]:
    return client.by_refs(spec.target.entity, refs, select=order_fields(spec))


def read_deal_stamps(
    bitrix24: Bitrix24Client | None, spec: Mapping, ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The deals of our own orders as they are now: has the write-back (our last step) happened?"""
    if not ids or bitrix24 is None or not spec.target.write_back:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for page in bitrix24.list_fast("crm.deal.list", {"@ID": ids}, ["ID", "ORIGIN_ID", "ORIGINATOR_ID"]):
        found.update({str(row["ID"]): row for row in page})
    return found


def ours(spec: Mapping, key: str, order: dict[str, Any] | None) -> bool:
    """Whether the order was made from this very deal (its key attribute names the deal)."""
    marker = spec.target.onec_key
    return str((order or {}).get(marker.field) or "").strip() == marker.prefix + key


def prepare(
    references: References,
    bitrix24: Bitrix24Client | None,
    actions: Sequence[Action],
) -> Prepared:
    """Reads only: the linked orders, the stamps of our orders' deals and every action's body."""
    spec = references.spec
    out = Prepared()
    updates = [a for a in actions if a.kind == "update" and a.target_id]
    if updates:
        out.orders = read_orders(references.client, spec, [str(a.target_id) for a in updates])
    mine = [a.record.key for a in updates if ours(spec, a.record.key, out.orders.get(str(a.target_id)))]
    out.deals = read_deal_stamps(bitrix24, spec, mine)
    for action in actions:
        if action.kind == "skip":
            continue
        if action.kind == "update" and str(action.target_id) not in out.orders:
            continue  # gone from 1C: the rules say so, nothing to resolve
        try:
            out.bodies[action.record.key] = references.body(action)
        except RecordError as exc:
            out.problems[action.record.key] = exc.message
    return out
