"""What one run of one flow did: counts, errors, the actions a dry run would take."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.engine.steps import RecordPlan
from connector.logs import get_logger
from connector.records import Action, Outcome

log = get_logger(__name__)
_NOT_YET = re.compile(
    r"(\S+) = (\S+) is not synced yet by flow '([^']+)' \(retried on every cycle until it is\)"
)


@dataclass
class RunReport:
    """What one run did."""

    flow: str
    kind: str
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    waiting: int = 0  # dry run: records that would wait for another flow's creates (listed in `waits`)
    recovered: int = 0
    deleted: int = 0
    pages: int = 0
    stopped: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    planned: list[Action] = field(default_factory=list)
    plans: list[RecordPlan] = field(
        default_factory=list
    )  # dry run: each planned record's steps (rules' output)
    notes: list[str] = field(default_factory=list)  # dry run: reads for the plans that failed
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # written, but not as the source had it (a cut text)
    waits: list[str] = field(default_factory=list)  # dry run: records waiting for another flow's creates

    def count(self, outcomes: Iterable[Outcome]) -> None:
        for o in outcomes:
            if o.status == "failed" and o.deferred and self.dry_run and o.error:
                # A dry run creates nothing, so what another flow of the same run would create first (the order's
                # company) is missing here: the record would wait for it, it has not failed.
                self.waiting += 1
                if len(self.waits) < 20:
                    self.waits.append(
                        _NOT_YET.sub(r"would wait for \3 (\1 \2 not created yet in this dry run)", o.error)
                    )
            elif o.status == "failed":
                self.failed += 1
                if len(self.errors) < 20 and o.error:
                    self.errors.append(o.error)
            elif o.status == "skipped" or o.kind == "skip":
                self.skipped += 1
            elif o.kind == "create":
                self.created += 1
            else:
                self.updated += 1

    def as_dict(self) -> dict[str, Any]:
        skip = ("planned", "plans", "notes", "errors", "warnings", "waits")
        return {k: v for k, v in self.__dict__.items() if k not in skip}

    def warn(self, actions: Iterable[Action]) -> None:
        """The mapping's notes of the records this run writes (or would write): each logged, the first 20 kept."""
        for a in actions:
            for note in a.record.notes if a.kind != "skip" else ():
                log.warning("value cut by the mapping", flow=self.flow, record=a.record.label, field=note)
                if len(self.warnings) < 20:
                    self.warnings.append(f"{a.record.label}: {note}")
