"""The plain values that flow between stages: mapped records, actions, outcomes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

ActionKind = Literal["create", "update", "skip"]
OutcomeStatus = Literal["applied", "skipped", "failed"]


def content_hash(fields: Any) -> str:
    """A stable hash of mapped content: equal content, equal hash, whatever the key order."""
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Mapped:
    """One source record mapped to target fields (and child rows), or the reason it could not be."""

    key: str
    version: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] | None = None
    label: str = ""
    error: str | None = None
    deferred: bool = False  # the error is a reference another flow has not synced yet: retried every cycle
    on_create: dict[str, Any] = field(default_factory=dict)  # written only when created; not part of the hash
    rows_on_create: bool = False
    notes: tuple[str, ...] = ()  # what the mapping did to a value that the run should warn about (a cut text)

    @property
    def hash(self) -> str:
        return content_hash({"fields": self.fields, "rows": None if self.rows_on_create else self.rows})

    def create_fields(self) -> dict[str, Any]:
        """Everything a create writes."""
        return {**self.on_create, **self.fields}

    def update_rows(self) -> list[dict[str, Any]] | None:
        """Rows an update writes (None: leave the target's rows alone)."""
        return None if self.rows_on_create else self.rows


@dataclass(frozen=True)
class Action:
    """What to do with one mapped record on the target."""

    kind: ActionKind
    record: Mapped
    target_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class LinkChange:
    """A flow's link that must be recorded exactly when the page's outcomes are (a deleted source record's link
    dropped, a repair's cleared hash); `target_id` None drops it."""

    flow: str
    key: str
    target_id: str | None
    content_hash: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ChildLink:
    """An object a flow made on the target under one record (an order's payment, its to-do, its overdue task),
    recorded in the ledger's child links exactly when the page's outcomes are; `target_id` None drops it.

    `state` is what the next run compares: a payment's content hash (None: write it again), a to-do's `open`,
    `done` or `unstamped` (its external key did not land); `deadline` is the to-do's deadline as written."""

    flow: str
    parent: str
    kind: str  # payment, todo, task
    key: str
    target_id: str | None
    state: str | None = None
    deadline: str | None = None


@dataclass(frozen=True)
class SourceState:
    """What a source remembers about something it watches, recorded with the records it led to: a 1C document's
    DataVersion and the orders it points at, or the day a watched order was last looked at. `drop` forgets it."""

    flow: str
    entity: str
    key: str
    version: str | None = None
    pointers: tuple[str, ...] = ()
    drop: bool = False


Change = LinkChange | ChildLink | SourceState  # what a page's commit records besides outcomes and cursors


@dataclass(frozen=True)
class Outcome:
    """What happened to one action."""

    key: str
    kind: ActionKind
    status: OutcomeStatus
    target_id: str | None = None
    content_hash: str | None = None
    version: str | None = None
    error: str | None = None
    label: str = ""
    deferred: bool = False
    links: tuple[Change, ...] = ()  # child links it wrote or removed, recorded in the same commit


def skip_outcomes(actions: Iterable[Action]) -> list[Outcome]:
    """Outcomes of the actions planned as skips: nothing is written, the version is remembered."""
    return [
        Outcome(
            a.record.key,
            "skip",
            "skipped",
            a.target_id,
            a.record.hash,
            a.record.version,
            label=a.record.label,
        )
        for a in actions
        if a.kind == "skip"
    ]
