"""`b24-1c verify --write-probe`: one throwaway deal with one payment, created and deleted again.

It proves what reads cannot: that the webhook may add and delete deals and payments. The deal is added without an
activity-stream entry (REGISTER_SONET_EVENT=N); automation rules of the default pipeline's first stage run for it as
for any new deal, which is why the probe is opt-in. The deal carries our stamp
(ORIGINATOR_ID = the installation id, ORIGIN_ID = verify-probe:<time>), so a deal whose add reply was lost is still
found and deleted; cleanup runs whatever step failed. Methods (api-reference/…): crm.deal.add
(crm/deals/crm-deal-add.md), crm.item.payment.add / crm.item.payment.delete (crm/universal/payment/…),
crm.deal.delete (crm/deals/crm-deal-delete.md), crm.deal.list to find a deal whose add reply was lost.
"""

from __future__ import annotations

from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.clock import Clock
from connector.errors import ConnectorError, OutcomeUnknown
from connector.verify.report import Checklist

DEAL = 2
TITLE = "b24-1c verify: throwaway deal (deleted at once; delete it if you see it)"


def write_probe(client: Bitrix24Client, clock: Clock, installation: str, out: Checklist, where: str) -> None:
    """Create a deal and a payment, then delete both; every failure (cleanup's too) becomes a checklist line."""
    origin = f"verify-probe:{clock.now().strftime('%Y%m%dT%H%M%S')}"
    deal: int | None = None
    payment: int | None = None
    lost = False  # the add's reply was lost: the deal may exist, found by its stamp
    step = "crm.deal.add"
    try:
        fields = {"TITLE": TITLE, "ORIGINATOR_ID": installation, "ORIGIN_ID": origin, "OPENED": "N"}
        try:
            quiet = {"REGISTER_SONET_EVENT": "N"}  # no entry in the activity stream for a throwaway deal
            deal = _id(client.call("crm.deal.add", {"fields": fields, "params": quiet}, write=True).result)
        except OutcomeUnknown:
            lost = True
            raise
        step = "crm.item.payment.add"
        added = client.call("crm.item.payment.add", {"entityTypeId": DEAL, "entityId": deal}, write=True)
        payment = _id(added.result)
        step = "crm.item.payment.delete"
        client.call("crm.item.payment.delete", {"id": payment}, write=True)
        payment = None
        step = "crm.deal.delete"
        client.call("crm.deal.delete", {"id": deal}, write=True)
        deal = None
        step = ""
    except ConnectorError as exc:
        out.fix(f"write probe: {step} failed: {exc}", where)
    finally:
        leftovers = _cleanup(client, installation, origin, deal, payment, lost)
    if leftovers:
        out.fix(f"write probe: could not delete {leftovers}; delete it by hand (ORIGIN_ID {origin})", where)
    elif not step:
        out.ok("write probe: a deal with a payment was created and deleted")


def _id(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("id") or value.get("ID")
    return int(str(value))


def _cleanup(
    client: Bitrix24Client, installation: str, origin: str, deal: int | None, payment: int | None, lost: bool
) -> str:
    """Delete what is left; a deal whose add reply was lost is found by its stamp. Returns what stayed."""
    left: list[str] = []
    if payment is not None:
        try:
            client.call("crm.item.payment.delete", {"id": payment}, write=True)
        except ConnectorError:
            left.append(f"payment {payment}")
    deals = [deal] if deal is not None else []
    if lost:
        try:
            rows = client.call(
                "crm.deal.list",
                {"filter": {"ORIGINATOR_ID": installation, "ORIGIN_ID": origin}, "select": ["ID"]},
            ).result
            deals = [int(r["ID"]) for r in rows or [] if isinstance(r, dict)]
        except ConnectorError:
            left.append(f"a deal stamped {origin} (it could not be looked up)")
    for found in deals:
        try:
            client.call("crm.deal.delete", {"id": found}, write=True)
        except ConnectorError:
            left.append(f"deal {found}")
    return ", ".join(left)
