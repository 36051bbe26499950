"""The values the ledger hands out: links, child links, source state, intents, dead letters, history entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HistoryEntry:
    """One write, for the append-only history: which record, what was written to which object, by which mapping."""

    source_key: str
    source_version: str | None
    action: str
    target_id: str | None
    fields: dict[str, Any]
    mapping: str | None = None


@dataclass(frozen=True)
class Link:
    """A source record's counterpart on the target and what we last wrote there."""

    source_key: str
    target_id: str
    content_hash: str | None
    source_version: str | None


@dataclass(frozen=True)
class Intent:
    """A write we announced before making it; pending ones are recovered after a crash."""

    id: int
    flow: str
    source_key: str
    action: str
    idempotency_key: str


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed, with the reason, until it is retried or fixed."""

    id: int
    flow: str
    source_key: str
    label: str | None
    reason: str
    attempts: int
    status: str
    last_at: str


@dataclass(frozen=True)
class Child:
    """An object made on the target under a record (a payment, a to-do, a task) and what the next run compares."""

    parent: str
    kind: str
    key: str
    target_id: str
    state: str | None
    deadline: str | None = None


@dataclass(frozen=True)
class State:
    """What a source remembers about one watched thing: its version and what it pointed at."""

    key: str
    version: str | None
    pointers: tuple[str, ...] = ()
