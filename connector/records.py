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
    """A link of a side flow (an order's payments, its to-do, a tracked 1C document) that must be recorded exactly
    when the page's outcomes are; `target_id` None drops it."""

    flow: str
    key: str
    target_id: str | None
    content_hash: str | None = None
    parent: str | None = None
    version: str | None = None


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
    links: tuple[LinkChange, ...] = ()  # detail links it wrote or removed, recorded in the same commit


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
