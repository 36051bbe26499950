"""Switches that start the sandbox as a portal and a 1C base that are not ready for go-live, for `b24-1c verify`.

Each is a misconfiguration users meet on real systems: a webhook created without a scope the flows call, a webhook
of a user who is not an administrator (the `sale.*` payment methods and the CRM settings writes `b24-1c setup` makes,
user fields and stages, answer only administrators), a deal user field
deleted on the portal, a 1C object left out of the OData publication (`УстановитьСоставСтандартногоИнтерфейсаOData`;
an unpublished entity set answers 404 and is missing from the service document), a published 1C object the OData
user's role may not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox


@dataclass(frozen=True)
class Degraded:
    """What to take away from a ready sandbox."""

    missing_scopes: frozenset[str] = frozenset()  # removed from the webhook and the installed app
    webhook_admin: bool = True  # False: the webhook's user is not an administrator
    missing_user_fields: tuple[str, ...] = ()  # deal user fields deleted from the portal
    unpublished: tuple[str, ...] = ()  # 1C entity sets (or registers) left out of the OData publication
    unreadable: tuple[str, ...] = ()  # published, but the OData user's role may not read them (401, code 20)

    @property
    def any(self) -> bool:
        return bool(
            self.missing_scopes
            or not self.webhook_admin
            or self.missing_user_fields
            or self.unpublished
            or self.unreadable
        )


def degrade(box: Sandbox, how: Degraded) -> None:
    """Apply the switches to a sandbox (at start, or later: a field deleted after `setup` made it)."""
    portal = box.portal
    with portal.lock:
        for hook in portal.webhooks.values():
            hook.scopes = frozenset(hook.scopes - how.missing_scopes)
            if hook.user_id in portal.users:
                portal.users[hook.user_id]["IS_ADMIN"] = how.webhook_admin
        for app in portal.apps.values():
            app.scopes = frozenset(app.scopes - how.missing_scopes)
        defs = portal.user_field_defs("deal")
        for name in how.missing_user_fields:
            defs.pop(name, None)
            deals = portal.store("deal")
            for deal_id in list(deals):
                deals[deal_id].pop(name, None)  # read by id: the store's own record (compact.LiveTable)
            deals.settle()
    ib = box.infobase
    everything = set(ib.types) | set(ib.config.registers)
    if how.unpublished:
        ib.published = (ib.published if ib.published is not None else everything) - set(how.unpublished)
    if how.unreadable:
        for user, password in list(ib.users.items()):
            ib.grant(user, password, read=everything - set(how.unreadable))
