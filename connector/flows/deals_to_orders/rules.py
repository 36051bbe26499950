"""The deals → orders chain as pure rules: given an action and what prepare read, the steps still missing.

A 1C order made from a deal is done when its whole chain is (docs/identity.md): the deal's client (only when 1C does
not know it yet) → create (or CreateOrder over SOAP, which posts too) → post (where the mapping says so) → read its
number → write the number and key back to the deal. An update sends the fields the deal owns that differ; for our
own order whose deal does not carry its key yet (a run died or lost a reply before the write-back) the steps the
order's state shows missing follow. Steps found done are named in the plan's `done`.
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.compare import changed_fields
from connector.engine.steps import RecordPlan, Step
from connector.flows.deals_to_orders.prepare import Prepared, new_client, ours
from connector.mapping.schema import Mapping
from connector.records import Action

CLIENT = "client"  # find or make the deal's client in 1C (counterparty, partner)
CREATE = "create"
SOAP_CREATE = "CreateOrder"  # the extension's service creates and posts in one transaction
UPDATE = "update"
SOAP_UPDATE = "UpdateOrder"
POST = "post"
NUMBER = "read number"
WRITE_BACK = "write-back"  # crm.deal.update: number, key and our stamp on the deal


@dataclass(frozen=True)
class Options:
    """What shapes the chain besides the record: the mapping's target and how 1C is reached."""

    entity: str
    post: bool
    soap: bool
    write_back: bool  # the mapping writes back and a Bitrix24 client is there to do it
    stamp: tuple[str, ...]  # the deal fields the write-back sends

    @classmethod
    def of(cls, spec: Mapping, soap: bool, bitrix24: bool, originator: str | None) -> Options:
        names = tuple(spec.target.write_back) + (("ORIGINATOR_ID", "ORIGIN_ID") if originator else ())
        return cls(
            spec.target.entity, spec.target.post, soap, bool(spec.target.write_back) and bitrix24, names
        )


def stamped(deal: dict[str, object], target_id: str) -> bool:
    """The deal carries the order's key and a stamp: the chain's last step happened."""
    return str(deal.get("ORIGIN_ID") or "") == target_id and bool(deal.get("ORIGINATOR_ID"))


def plan_record(spec: Mapping, options: Options, action: Action, prepared: Prepared) -> RecordPlan:
    """One record's plan (no I/O)."""
    key = action.record.key
    out = RecordPlan(action)
    if key in prepared.problems:
        out.problems.append(prepared.problems[key])
        return out
    if action.kind == "create":
        return _create(options, out, prepared.bodies[key])
    target_id = str(action.target_id)
    order = prepared.orders.get(target_id)
    if order is None:
        out.problems.append(
            f"the 1C object {target_id} linked to it is gone (deleted in 1C); "
            "unlink it with `b24-1c reconcile --repair` or restore it in 1C"
        )
        return out
    body = prepared.bodies[key]
    client = new_client(body)
    if client is not None:
        out.steps.append(
            Step("onec", CLIENT, client[1].get("company") or client[1].get("contact"), (client[0],))
        )
    diff = list(changed_fields(order, body))
    if client is not None:  # what 1C derives from the client made first (УТ: its partner) goes with it
        diff += [n for n, rule in spec.target.derive.items() if rule.from_ == client[0] and n not in diff]
    if diff:
        out.steps.append(Step("onec", SOAP_UPDATE if options.soap else UPDATE, target_id, tuple(diff)))
    else:
        out.done.append(UPDATE)
    if not ours(spec, key, order):
        out.done.append("the rest: an order made in 1C is numbered and posted by 1C")
        return out
    if not options.write_back or stamped(prepared.deals.get(key, {}), target_id):
        out.done += [POST, NUMBER, WRITE_BACK]  # the write-back is the last step: the chain finished before
        return out
    if order.get("Posted") or options.soap or not options.post:
        out.done.append(POST)
    else:
        out.steps.append(Step("onec", POST, target_id))
    out.done.append(NUMBER)  # read with the order
    out.steps.append(Step("bitrix24", WRITE_BACK, key, options.stamp))
    return out


def _create(options: Options, out: RecordPlan, body: dict[str, object]) -> RecordPlan:
    client = new_client(dict(body))
    if client is not None:
        out.steps.append(
            Step("onec", CLIENT, client[1].get("company") or client[1].get("contact"), (client[0],))
        )
    if options.soap:
        out.steps.append(Step("onec", SOAP_CREATE, None, tuple(body)))
    else:
        out.steps.append(Step("onec", CREATE, None, tuple(body)))
        if options.post:
            out.steps.append(Step("onec", POST))
    if options.write_back:
        if not options.soap:
            out.steps.append(Step("onec", NUMBER))
        out.steps.append(Step("bitrix24", WRITE_BACK, out.key, options.stamp))
    return out
