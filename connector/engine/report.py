"""What one run of one flow did: counts, errors, the actions a dry run would take."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connector.records import Action, Outcome


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
    recovered: int = 0
    deleted: int = 0
    pages: int = 0
    stopped: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    planned: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, outcomes: Iterable[Outcome]) -> None:
        for o in outcomes:
            if o.status == "failed":
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
        return {k: v for k, v in self.__dict__.items() if k not in ("planned", "errors")}
