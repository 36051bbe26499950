"""A source whose records are computed in one pass over both systems (rollups, fan orders), then served by key.

Subclasses set `page_size` and implement `records()` (key → record with a `DataVersion`, cached for the run); the
engine's Source methods are the same for all of them and live here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from connector.engine.protocols import Page
from connector.mapping.engine import Lookups


class ComputedSource:
    page_size: int

    def records(self) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def facts_of(self, key: str) -> dict[str, Any] | None:
        """The computed record of one key (for the target's tasks)."""
        return self.records().get(key)

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Every computed record, whatever the window, by key; the cursor counts what was served."""
        rows = list(self.records().values())
        skip = int(cursor["skip"]) if cursor else 0
        for i in range(skip, len(rows), self.page_size):
            part = rows[i : i + self.page_size]
            yield Page(part, {"skip": i + len(part)})

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        pairs: list[tuple[str, str | None]] = [(k, str(r["DataVersion"])) for k, r in self.records().items()]
        for i in range(0, len(pairs), self.page_size):
            yield pairs[i : i + self.page_size]

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        records = self.records()
        return [records[k] for k in keys if k in records]

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return {}

    def count(self, start: datetime, until: datetime | None) -> int | None:
        return len(self.records())
