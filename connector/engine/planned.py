"""The one path of a target's writes, shared by every target: prepare → rules → execute (engine/steps.py).

`apply_planned` is what a real run does with a page's actions: skips pass through, the rest are prepared (reads),
planned (pure, with the run's `today`) and executed, a chunk at a time when the target sets `chunk`. `preview` is
what a dry run does instead: prepare and rules only, so it lists each record's steps and sends nothing; a read
that fails there is a note, not a crash. `PlannedTarget` gives a target its `apply(actions)` from the three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connector.engine.executor import Unit
from connector.engine.steps import Planned, RecordPlan, Step
from connector.errors import ConnectorError, OutcomeUnknown
from connector.records import Action, Outcome, skip_outcomes

# The date a target's rules get when it is used outside a run (a benchmark calling `apply` on a bare writer): only
# targets whose rules never look at the date are used that way; a run always passes its business date.
NO_DAY = date.min


def unit_steps(unit: Unit) -> list[Step]:
    """The Bitrix24 steps of a unit of batch commands, in order, with the object each writes when known."""
    out = []
    for method, params in unit.values():
        target = params.get("id") if isinstance(params, dict) else None
        known = target is not None and not str(target).startswith("$result")
        out.append(Step("bitrix24", method, str(target) if known else None))
    return out


@dataclass
class CommandPlan(RecordPlan):
    """A record's plan made of Bitrix24 batch units (each unit's `$result[...]` references stay inside it)."""

    units: list[Unit] = field(default_factory=list)
    target_id: str | None = None  # the object the record is (or is linked to) before anything runs

    def add(self, unit: Unit) -> None:
        self.units.append(unit)
        self.steps.extend(unit_steps(unit))


def apply_planned(
    target: Planned, actions: Sequence[Action], today: date, ahead: tuple[list[Action], Any] | None = None
) -> list[Outcome]:
    """A page's outcomes: skips as they are, the rest through prepare → rules → execute (a chunk at a time).
    `ahead` is what `prepare` read for the first chunk while the page before was written (engine/page.py): used
    when that chunk is exactly those actions (a recovery after a lost reply prepares again).

    A lost reply in one chunk does not stop the next; OutcomeUnknown is raised at the end with every outcome
    that was settled, so the engine looks up only the unsettled records."""
    outcomes = skip_outcomes(a for a in actions if a.kind == "skip")
    live = [a for a in actions if a.kind != "skip"]
    size = int(getattr(target, "chunk", 0) or 0) or max(1, len(live))
    lost: OutcomeUnknown | None = None
    for i in range(0, len(live), size):
        part = live[i : i + size]
        early = ahead is not None and i == 0 and len(ahead[0]) == len(part)
        if early and ahead is not None and all(a is b for a, b in zip(ahead[0], part, strict=True)):
            prepared = ahead[1]
        else:
            prepared = target.prepare(part, today)
        plans = target.rules(part, prepared, today)
        try:
            outcomes.extend(target.execute(plans, prepared))
        except OutcomeUnknown as exc:
            outcomes.extend(exc.settled)
            lost = exc
    if lost is not None:
        lost.settled = outcomes
        raise lost
    return outcomes


def preview(target: Planned, actions: Sequence[Action], today: date) -> tuple[list[RecordPlan], list[str]]:
    """A dry run's plans of the non-skip actions (prepare + rules; nothing is sent) and the notes of reads that
    failed (the diff is then shown without the steps of those records)."""
    live = [a for a in actions if a.kind != "skip"]
    if not live:
        return [], []
    try:
        prepared = target.prepare(live, today)
    except ConnectorError as exc:
        return [], [f"(cannot read what the steps of {len(live)} record(s) depend on: {exc})"]
    return list(target.rules(live, prepared, today)), []


class PlannedTarget:
    """Base of every target: `apply(actions)` is prepare → rules → execute with the run's business date.

    The runner calls `apply_planned` itself with its one `today`; `apply` serves callers outside a run."""

    today: Callable[[], date] | None = None  # the run's business date (connector.clock.BusinessDay)
    chunk = 0  # records prepared together (0: the whole page)

    def prepare(self, actions: Sequence[Action], today: date) -> Any:
        raise NotImplementedError

    def rules(self, actions: Sequence[Action], prepared: Any, today: date) -> Sequence[RecordPlan]:
        raise NotImplementedError

    def execute(self, plans: Sequence[RecordPlan], prepared: Any) -> list[Outcome]:
        raise NotImplementedError

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        """Every action's outcome (see `apply_planned`)."""
        return apply_planned(self, actions, self.today() if self.today is not None else NO_DAY)


def failed(
    action: Action, error: str, target: str | None = None, deferred: bool = False, remember: bool = True
) -> Outcome:
    """A record's failed outcome with its reason (the caller words it, the record's label included). `remember`
    keeps the record's version with it, so the same version is not read again until it changes (the dead letter
    is retried); without it, every cycle reads the record again."""
    rec = action.record
    return Outcome(
        rec.key,
        action.kind,
        "failed",
        target if target is not None else action.target_id,
        version=rec.version if remember else None,
        error=error,
        label=rec.label,
        deferred=deferred,
    )


def applied(action: Action, target: str | None) -> Outcome:
    """A record's applied outcome: its hash and version are remembered."""
    rec = action.record
    return Outcome(rec.key, action.kind, "applied", target, rec.hash, rec.version, label=rec.label)
