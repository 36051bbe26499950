"""The deal stages' order as last read in this process, for deciding without a read that a change of an order moves
no stage (money/memo.py).

Kept per Bitrix24 client for STAGES_TTL seconds of its clock. Only that decision uses it: every stage move is still
decided on a deal read in the same run as a fresh crm.status.list (context.py reads it once a run), so an order
changed on the portal since can only make a quiet order read its deal, or leave a forward move to the order's next
read within the bound; it never moves a stage."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

STAGES_TTL = 3600.0  # seconds

_SEEN: WeakKeyDictionary[Any, tuple[float, dict[str, int]]] = WeakKeyDictionary()


def remember(client: Any, order: dict[str, int]) -> None:
    """The stage order just read through this client."""
    clock = getattr(client, "clock", None)
    if clock is not None:
        _SEEN[client] = (clock.monotonic(), dict(order))


def recalled(client: Any) -> dict[str, int] | None:
    """The stage order read through this client less than STAGES_TTL seconds ago, or None."""
    clock, seen = getattr(client, "clock", None), _SEEN.get(client)
    if clock is None or seen is None or clock.monotonic() - seen[0] > STAGES_TTL:
        return None
    return seen[1] or None
