"""What the configured flows need from Bitrix24 and 1C: methods with their scope and rights, and 1C objects.

The methods, their scopes and rights come from the Bitrix24 contract (connector/contracts/bitrix24.yaml, each
entry with its page of the official docs); the mapping narrows a flow's list to what its options make it call
(native payments or a smart process, reminders, overdue tasks, product rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connector.contracts import load_bitrix24, methods_for
from connector.flows.facts import MONEY_DOCS
from connector.flows.money.bp_facts import BP_DOCS, is_bp
from connector.mapping.client import client_spec
from connector.mapping.schema import Mapping

SETUP, VERIFY = "(setup)", "(verify)"  # parts of the product that call Bitrix24 besides the flows


@dataclass(frozen=True)
class MethodNeed:
    """One Bitrix24 method a flow calls: the scope it needs, whether only an administrator may call it."""

    method: str
    scope: str
    admin: bool
    doc: str


_NATIVE_PAYMENTS = {
    "crm.item.payment.add",
    "crm.orderentity.list",
    "crm.item.payment.unpay",
    "crm.item.payment.delete",
    "sale.payment.list",
    "sale.payment.update",
}
_SMART_PAYMENTS = {"crm.item.list", "crm.item.add", "crm.item.update", "crm.item.delete"}
_REMINDER = {"crm.activity.list", "crm.activity.todo.add", "crm.activity.update"}
_OVERDUE = {"tasks.task.list", "tasks.task.add"}
_ROW_WRITES = {"crm.deal.productrows.set", "crm.item.productrow.set"}


def flow_kind(spec: Mapping) -> str:
    """Which of the connector's flows a mapping is, by its shape (a flow may be configured under any name)."""
    tgt = spec.target
    if spec.money is not None:
        return "money"
    if tgt.system == "onec":
        return "deals_to_orders"
    return {"smart_invoice": "invoices", "company": "counterparties", "contact": "counterparties"}.get(
        tgt.entity, "managers" if tgt.entity == "user" else "orders"
    )


def _turned_off(spec: Mapping) -> set[str]:
    """Methods of a flow's contract list that this mapping's options never call."""
    off: set[str] = set()
    if spec.money is not None:
        mode = spec.money.payments.mode
        off |= _NATIVE_PAYMENTS if mode != "native" else set()
        off |= _SMART_PAYMENTS if mode != "smart_process" else set()
        off |= _REMINDER if spec.money.reminder is None else set()
        off |= _OVERDUE if spec.money.overdue is None else set()
    if spec.rows is None:
        off |= _ROW_WRITES
    return off


def _needs(part: str, off: set[str]) -> list[MethodNeed]:
    contract = load_bitrix24()
    found = []
    for spec in methods_for([part]):
        if spec.name in off:
            continue
        entry = contract.method(spec.name)
        found.append(MethodNeed(spec.name, spec.scope, spec.admin, entry.source if entry else ""))
    return found


def bitrix24_needs(mappings: Iterable[Mapping]) -> dict[str, list[MethodNeed]]:
    """Per flow (and for `b24-1c setup` and verify itself), the Bitrix24 methods it calls, with scope and rights:
    the contract's list for the flow's kind, less what the mapping's options turn off."""
    specs = list(mappings)
    needs = {spec.flow: _needs(flow_kind(spec), _turned_off(spec)) for spec in specs}
    # Company user fields are made and read only for a flow that writes them (rollups onto companies).
    companies = any(s.target.entity == "company" and s.user_fields for s in specs)
    off = set() if companies else {"crm.company.userfield.add", "crm.company.userfield.list"}
    needs[SETUP] = _needs("setup", off)
    needs[VERIFY] = _needs("verify", off)
    return needs


def onec_entities(spec: Mapping) -> dict[str, str]:
    """1C objects a mapping reads or writes, each with the mapping key that names it (for the checklist)."""
    found: dict[str, str] = {}
    if spec.source.system == "onec":
        found[spec.source.entity] = "source.entity"
    if spec.target.system == "onec":
        found.setdefault(spec.target.entity, "target.entity")
        for name, ref in spec.target.refs.items():
            found.setdefault(ref.entity, f"target.refs.{name}.entity")
        for name, derive in spec.target.derive.items():
            found.setdefault(derive.entity, f"target.derive.{name}.entity")
        client = client_spec(spec.target)
        if client is not None:
            found.setdefault(client.entity, "target.client.entity")
            if client.partner:
                found.setdefault(client.partner, "target.client.partner")
        for name, default in spec.target.defaults.items():
            if not isinstance(default, str | int | float | bool):
                found.setdefault(default.entity, f"target.defaults.{name}.entity")
    for name, table in spec.lookups.items():
        found.setdefault(table.entity, f"lookups.{name}.entity")
    if spec.money is not None or (spec.target.system == "bitrix24" and spec.target.entity == "smart_invoice"):
        docs = BP_DOCS if is_bp(spec.source.entity) else MONEY_DOCS  # БП 3.0: the invoice is the order
        for entity in docs:
            found.setdefault(entity, "money")  # payments, refunds, shipments, invoices
    return found
