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
from connector.mapping.schema import Mapping

SETUP, VERIFY = "(setup)", "(verify)"  # parts of the product that call Bitrix24 besides the flows


@dataclass(frozen=True)
class MethodNeed:
    """One Bitrix24 method a flow calls: the scope it needs, whether only an administrator may call it."""

    method: str
    scope: str
    admin: bool
    doc: str


_DEAL_TARGET = ("crm.deal.list", "crm.deal.add", "crm.deal.update", "crm.deal.fields")
_DEAL_ROWS = ("crm.deal.productrows.get", "crm.deal.productrows.set")
_COMPANY = ("crm.company.list", "crm.company.add", "crm.company.update", "crm.company.fields")
_REQUISITES = ("crm.requisite.list", "crm.requisite.add", "crm.requisite.update", "crm.duplicate.findbycomm")
_INVOICES = ("crm.category.list", "crm.status.list", "crm.item.list", "crm.item.add", "crm.item.update")
_NATIVE_PAYMENTS = (
    "crm.item.payment.add",
    "crm.item.payment.list",
    "crm.item.payment.unpay",
    "crm.item.payment.delete",
    "sale.payment.list",
    "sale.payment.update",
)
_SMART_PAYMENTS = ("crm.item.list", "crm.item.add", "crm.item.update", "crm.item.delete")
_REMINDER = ("crm.activity.list", "crm.activity.todo.add", "crm.activity.update")
_OVERDUE = ("tasks.task.list", "tasks.task.add")


def _methods_of(spec: Mapping) -> tuple[str, ...]:
    src, tgt = spec.source, spec.target
    if spec.money is not None:
        payments = {"native": _NATIVE_PAYMENTS, "smart_process": _SMART_PAYMENTS, "none": ()}
        return (
            "crm.deal.list",
            "crm.deal.update",
            "crm.status.list",
            *payments[spec.money.payments.mode],
            *(_REMINDER if spec.money.reminder else ()),
            *(_OVERDUE if spec.money.overdue else ()),
        )
    found: tuple[str, ...] = ()
    if src.system == "bitrix24" and src.entity == "deal":
        found += ("crm.deal.list", "crm.deal.productrows.get", "crm.deal.fields")
    if tgt.system == "bitrix24":
        if tgt.entity == "deal":
            found += _DEAL_TARGET + (_DEAL_ROWS if spec.rows else ())
        elif tgt.entity == "company":
            found += _COMPANY + _REQUISITES
        elif tgt.entity == "contact":
            found += ("crm.contact.list", "crm.contact.add", "crm.contact.update", *_REQUISITES)
        elif tgt.entity == "user":
            found += ("user.get",)
        elif tgt.entity == "smart_invoice":
            found += _INVOICES + (("crm.item.productrow.set",) if spec.rows else ())
    elif tgt.system == "onec" and tgt.write_back:
        found += ("crm.deal.update",)
    return found


_SHAPED = {
    *_DEAL_TARGET,
    *_DEAL_ROWS,
    *_COMPANY,
    *_REQUISITES,
    *_INVOICES,
    *_NATIVE_PAYMENTS,
    *_SMART_PAYMENTS,
    *_REMINDER,
    *_OVERDUE,
    "crm.contact.list",
    "crm.contact.add",
    "crm.contact.update",
    "crm.item.productrow.set",
    "crm.deal.productrows.get",
}


def _needs(part: str, wanted: set[str] | None) -> list[MethodNeed]:
    contract = load_bitrix24()
    found = []
    for spec in methods_for([part]):
        if wanted is not None and spec.name in _SHAPED and spec.name not in wanted:
            continue  # an option of this mapping turns that call off
        entry = contract.method(spec.name)
        found.append(MethodNeed(spec.name, spec.scope, spec.admin, entry.source if entry else ""))
    return found


def bitrix24_needs(mappings: Iterable[Mapping]) -> dict[str, list[MethodNeed]]:
    """Per flow (and for `b24-1c setup` and verify itself), the Bitrix24 methods it calls, with scope and rights."""
    needs = {spec.flow: _needs(spec.flow, set(_methods_of(spec))) for spec in mappings}
    needs[SETUP] = _needs("setup", None)
    needs[VERIFY] = _needs("verify", None)
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
        for name, default in spec.target.defaults.items():
            if not isinstance(default, str | int | float | bool):
                found.setdefault(default.entity, f"target.defaults.{name}.entity")
    for name, table in spec.lookups.items():
        found.setdefault(table.entity, f"lookups.{name}.entity")
    if spec.money is not None or (spec.target.system == "bitrix24" and spec.target.entity == "smart_invoice"):
        for entity in MONEY_DOCS:
            found.setdefault(entity, "money")  # payments, refunds, shipments, invoices
    return found
