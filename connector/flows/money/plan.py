"""The commands one order needs, grouped in units that must share a batch, and the links to record after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.records import Action, Change

Command = tuple[str, dict[str, Any]]
Unit = dict[str, Command]
Results = dict[str, Any]
Errors = dict[str, Any]
Recorder = Callable[[Results, Errors], list[Change]]


class Plan:
    """One order's commands (each unit's `$result[...]` references stay inside it) and what to record after."""

    def __init__(self, action: Action, deal_id: str, prefix: str) -> None:
        self.action = action
        self.deal_id = deal_id
        self.prefix = prefix
        self.units: list[Unit] = []
        self.names: dict[str, str] = {}
        self.after: list[Recorder] = []
        self.problems: list[str] = []  # reasons found before sending (a read that failed): the outcome fails
        self._n = 0

    def key(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}{kind}{self._n}"

    def add(self, unit: Unit, name: str) -> None:
        self.units.append(unit)
        self.names.update({k: name for k in unit})

    def links(self, results: Results, errors: Errors) -> list[Change]:
        """Every link the sent commands settle (created ids, new hashes, removals)."""
        return [link for record in self.after for link in record(results, errors)]
