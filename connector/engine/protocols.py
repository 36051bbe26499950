"""What the engine needs from a source and from a target; implementations live beside their clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.records import Action, Change, Outcome


@dataclass
class Page:
    """One page of source records, the cursor that is true once they are committed, and what the source must
    remember in that same commit (e.g. the 1C documents a tracker noted before the backfill)."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any]
    state: tuple[Change, ...] = ()


class Changes(list[tuple[str, str | None]]):
    """A batch of (key, version) pairs from `Source.versions`, with what the source must remember once the records
    they name are committed (a plain list carries nothing). Sources never write the ledger themselves."""

    def __init__(self, pairs: Iterable[tuple[str, str | None]] = (), state: Iterable[Change] = ()) -> None:
        super().__init__(pairs)
        self.state = tuple(state)


class Source(Protocol):
    """Where a flow reads records: paged for backfills, by version for incremental cycles."""

    spec: Mapping
    page_size: int

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages in a stable order from the cursor (or `start`) up to `until`."""
        ...

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        """(key, version) of matching records changed or dated since `since` (None: all of them)."""
        ...

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        """Full records by key; records that no longer match the source filter are left out."""
        ...

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        """Rows of the lookup tables this page refers to."""
        ...

    def count(self, start: datetime, until: datetime | None) -> int | None:
        """How many records a backfill will read, when cheap to know."""
        ...


class Target(Protocol):
    """Where a flow writes: batched applies, and a way to find objects again by our external key."""

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        """Apply creates and updates; raise OutcomeUnknown when a reply was lost."""
        ...

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Objects carrying our external key, as {source key: target id}."""
        ...
