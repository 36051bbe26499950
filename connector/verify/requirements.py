"""What the configured flows need from Bitrix24 and 1C: methods with their scope and rights, and 1C objects.

Every entry names the page of the official Bitrix24 REST docs (bitrix-tools/b24-rest-docs, api-reference/…) that
says which scope the method needs and who may call it ("Кто может выполнять метод"). `bitrix24_needs` is the one
place the online check asks; when the Bitrix24 contract lands it answers from the contract instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connector.flows.facts import MONEY_DOCS
from connector.mapping.schema import Mapping


@dataclass(frozen=True)
class MethodNeed:
    """One Bitrix24 method a flow calls: the scope it needs, whether only an administrator may call it."""

    method: str
    scope: str
    admin: bool
    doc: str


def _m(method: str, scope: str, doc: str, admin: bool = False) -> MethodNeed:
    return MethodNeed(method, scope, admin, f"api-reference/{doc}")


_CRM = "crm"
METHODS: dict[str, MethodNeed] = {
    m.method: m
    for m in (
        _m("crm.deal.list", _CRM, "crm/deals/crm-deal-list.md"),
        _m("crm.deal.add", _CRM, "crm/deals/crm-deal-add.md"),
        _m("crm.deal.update", _CRM, "crm/deals/crm-deal-update.md"),
        _m("crm.deal.delete", _CRM, "crm/deals/crm-deal-delete.md"),
        _m("crm.deal.fields", _CRM, "crm/deals/crm-deal-fields.md"),
        _m("crm.deal.productrows.get", _CRM, "crm/deals/crm-deal-productrows-get.md"),
        _m("crm.deal.productrows.set", _CRM, "crm/deals/crm-deal-productrows-set.md"),
        _m("crm.deal.userfield.list", _CRM, "crm/deals/user-defined-fields/crm-deal-userfield-list.md"),
        _m("crm.status.list", _CRM, "crm/status/crm-status-list.md"),
        _m("crm.category.list", _CRM, "crm/universal/category/crm-category-list.md"),
        _m("crm.company.list", _CRM, "crm/companies/crm-company-list.md"),
        _m("crm.company.add", _CRM, "crm/companies/crm-company-add.md"),
        _m("crm.company.update", _CRM, "crm/companies/crm-company-update.md"),
        _m("crm.company.fields", _CRM, "crm/companies/crm-company-fields.md"),
        _m("crm.contact.list", _CRM, "crm/contacts/crm-contact-list.md"),
        _m("crm.contact.add", _CRM, "crm/contacts/crm-contact-add.md"),
        _m("crm.contact.update", _CRM, "crm/contacts/crm-contact-update.md"),
        _m("crm.requisite.list", _CRM, "crm/requisites/universal/crm-requisite-list.md"),
        _m("crm.requisite.add", _CRM, "crm/requisites/universal/crm-requisite-add.md"),
        _m("crm.requisite.update", _CRM, "crm/requisites/universal/crm-requisite-update.md"),
        _m("crm.duplicate.findbycomm", _CRM, "crm/duplicates/crm-duplicate-find-by-comm.md"),
        _m("crm.item.add", _CRM, "crm/universal/crm-item-add.md"),
        _m("crm.item.update", _CRM, "crm/universal/crm-item-update.md"),
        _m("crm.item.list", _CRM, "crm/universal/crm-item-list.md"),
        _m("crm.item.delete", _CRM, "crm/universal/crm-item-delete.md"),
        _m("crm.item.productrow.set", _CRM, "crm/universal/product-rows/crm-item-productrow-set.md"),
        _m("crm.item.payment.add", _CRM, "crm/universal/payment/crm-item-payment-add.md"),
        _m("crm.item.payment.list", _CRM, "crm/universal/payment/crm-item-payment-list.md"),
        _m("crm.item.payment.delete", _CRM, "crm/universal/payment/crm-item-payment-delete.md"),
        _m("crm.item.payment.unpay", _CRM, "crm/universal/payment/crm-item-payment-unpay.md"),
        _m("sale.payment.list", "sale", "sale/payment/sale-payment-list.md", admin=True),
        _m("sale.payment.update", "sale", "sale/payment/sale-payment-update.md", admin=True),
        _m("crm.activity.list", _CRM, "crm/timeline/activities/activity-base/crm-activity-list.md"),
        _m("crm.activity.update", _CRM, "crm/timeline/activities/activity-base/crm-activity-update.md"),
        _m("crm.activity.todo.add", _CRM, "crm/timeline/activities/todo/crm-activity-todo-add.md"),
        _m("tasks.task.list", "task", "tasks/tasks-task-list.md"),
        _m("tasks.task.add", "task", "tasks/tasks-task-add.md"),
        _m("user.get", "user", "user/user-get.md"),
    )
}

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
# What verify itself and `b24-1c setup` read for every configuration.
COMMON = ("crm.deal.userfield.list", "crm.status.list", "crm.category.list")
PROBE = ("crm.deal.add", "crm.item.payment.add", "crm.item.payment.delete", "crm.deal.delete")


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


def bitrix24_needs(mappings: Iterable[Mapping]) -> dict[str, list[MethodNeed]]:
    """Per flow, the Bitrix24 methods it calls with their scope and rights (contract switch point)."""
    return {spec.flow: [METHODS[m] for m in dict.fromkeys(_methods_of(spec))] for spec in mappings}


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
