"""Imports every method family so that each registers its handlers in the registry."""

from __future__ import annotations

from b24_1c_sandbox.bitrix24 import (  # noqa: F401
    activities,
    batch,
    companies,
    deals,
    events,
    items,
    orderentity,
    payments,
    sale,
    statuses,
    system,
    users,
)
