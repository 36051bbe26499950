"""The plain values that flow between stages: mapped records, actions, outcomes."""

from __future__ import annotations

import hashlib
import json
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

    @property
    def hash(self) -> str:
        return content_hash({"fields": self.fields, "rows": self.rows})


@dataclass(frozen=True)
class Action:
    """What to do with one mapped record on the target."""

    kind: ActionKind
    record: Mapped
    target_id: str | None = None
    reason: str = ""


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
