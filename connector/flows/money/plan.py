"""The commands one order needs, grouped in units that must share a batch, and the links to record after."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.engine.planned import CommandPlan
from connector.records import Action, Change

Command = tuple[str, dict[str, Any]]
Unit = dict[str, Command]
Results = dict[str, Any]
Errors = dict[str, Any]
Recorder = Callable[[Results, Errors], list[Change]]


class Plan(CommandPlan):
    """One order's plan: its commands (each unit's `$result[...]` references stay inside it; `steps` lists them),
    what each command is for, and what to record after."""

    def __init__(self, action: Action, deal_id: str, prefix: str) -> None:
        super().__init__(action, target_id=deal_id)
        self.deal_id = deal_id
        self.prefix = prefix
        self.names: dict[str, str] = {}
        self.after: list[Recorder] = []
        self.quiet = False  # written from the ledger's memo without reading the deal (money/memo.py)
        self.left: tuple[str, int, str] = ("", 0, "")  # the deal's stage, pipeline, semantics once sent
        self._n = 0

    def cmd(self, kind: str) -> str:
        """A command key unique in the batch (the order's prefix and a counter)."""
        self._n += 1
        return f"{self.prefix}{kind}{self._n}"

    def add(self, unit: Unit, name: str = "") -> None:
        super().add(unit)
        self.names.update({k: name for k in unit})

    def links(self, results: Results, errors: Errors) -> list[Change]:
        """Every link the sent commands settle (created ids, new hashes, removals)."""
        return [link for record in self.after for link in record(results, errors)]
