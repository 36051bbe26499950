"""The steps one record needs, as a target's pure rules return them and the executor runs them.

Every target goes the same way for a page's non-skip actions (DESIGN §3):

    prepared = target.prepare(actions, today)       # reads only: current objects, children, 1C state
    plans = target.rules(actions, prepared, today)  # pure: one RecordPlan per action, its steps in order
    outcomes = target.execute(plans, prepared)      # the one executor: batches of 50, chains across systems

`--dry-run` stops after `rules` and shows each plan's steps; nothing is sent and nothing is recorded. A step that
the rules found already done (settled by a lookup on the objects) is not in `steps` but named in `done`, so the
dry run and the logs can say why it is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol, runtime_checkable

from connector.records import Action, Outcome

System = Literal["bitrix24", "onec"]


@dataclass(frozen=True)
class Step:
    """One write, in the system it goes to: a Bitrix24 method, or a 1C operation (create, post, update...)."""

    system: System
    name: str  # "crm.deal.add", "create Document_ЗаказКлиента", "post", "crm.deal.update (write-back)"
    target_id: str | None = None  # the object it writes, when known before it runs
    fields: tuple[str, ...] = ()  # the names it writes (values are in the dry run's diff)

    def describe(self) -> str:
        where = f" {self.target_id}" if self.target_id else ""
        names = f" [{', '.join(self.fields)}]" if self.fields else ""
        return f"{self.system}: {self.name}{where}{names}"


@dataclass
class RecordPlan:
    """One record's chain: the steps still to run, in order, and what the rules found before sending anything."""

    action: Action
    steps: list[Step] = field(default_factory=list)
    done: list[str] = field(default_factory=list)  # steps already settled on the objects, left out of `steps`
    problems: list[str] = field(default_factory=list)  # reasons found before sending: the outcome fails

    @property
    def key(self) -> str:
        return self.action.record.key


@runtime_checkable
class Planned(Protocol):
    """A target whose writes go prepare → rules → execute (every target; see the module docstring)."""

    def prepare(self, actions: Sequence[Action], today: date) -> Any:
        """Reads only: what the rules of these non-skip actions need."""
        ...

    def rules(self, actions: Sequence[Action], prepared: Any, today: date) -> Sequence[RecordPlan]:
        """Pure: one plan per action (no I/O, no clock; `today` is the run's 1C business date)."""
        ...

    def execute(self, plans: Sequence[RecordPlan], prepared: Any) -> list[Outcome]:
        """Runs the plans through the executor; raises OutcomeUnknown (with what it settled) on a lost reply."""
        ...
