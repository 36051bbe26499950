"""Applying a page's actions so that a lost reply never leads to a blind re-create."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from connector.engine.protocols import Target
from connector.errors import OutcomeUnknown
from connector.logs import get_logger
from connector.records import Action, Outcome

log = get_logger(__name__)

MAX_RECOVERY_ROUNDS = 5


def apply_settled(
    target: Target,
    actions: list[Action],
    flow: str,
    apply: Callable[[Sequence[Action]], list[Outcome]] | None = None,
) -> list[Outcome]:
    """Apply (through `apply`, or the target's own); if a reply is lost, find the unsettled creates by external key
    and apply those again as updates.

    Writes whose replies did arrive are kept, so each round sends only what is still unknown; the run gives up
    after MAX_RECOVERY_ROUNDS rounds in a row that settled nothing."""
    settled: list[Outcome] = []
    apply = apply or target.apply
    idle = 0
    while idle < MAX_RECOVERY_ROUNDS:
        try:
            return settled + apply(actions)
        except OutcomeUnknown as exc:
            done = {o.key for o in exc.settled}
            settled.extend(exc.settled)
            actions = [a for a in actions if a.record.key not in done]
            idle = 0 if done else idle + 1
            creates = [a.record.key for a in actions if a.kind == "create"]
            log.warning(
                "a write's reply was lost; looking the records up by external key",
                flow=flow,
                error=str(exc),
                creates=len(creates),
            )
            found = target.find(creates) if creates else {}
            actions = [
                Action("update", a.record, found[a.record.key])
                if a.kind == "create" and a.record.key in found
                else a
                for a in actions
            ]
    raise OutcomeUnknown(
        f"writes kept losing their replies in {MAX_RECOVERY_ROUNDS} recoveries in a row; "
        "the page will be recovered on the next run",
        flow=flow,
    )
