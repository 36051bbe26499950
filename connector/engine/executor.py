"""The one writer of Bitrix24 steps: records' commands packed into `batch` requests, sent, and settled per command.

A target turns each record into a *unit*: the commands that must travel together because they refer to each other
through `$result[...]` (a deal and its product rows; a payment's add and its keyed update). The executor packs units
into batches of at most 50 commands without ever splitting one, sends the batches (up to `in_flight` at once, a
setting: the client's pacers are thread-safe), and hands back every command's result or error. A batch whose reply
was lost does not stop the others: its commands are reported as unknown, so the caller settles exactly those records
by looking them up by external key and re-sends only what is unsettled — never a blind re-send of a write.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.errors import OutcomeUnknown

Command = tuple[str, dict[str, Any]]
Unit = dict[str, Command]


@dataclass
class Sent:
    """What came back: results and errors per command key, and the keys whose batch lost its reply."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    lost: OutcomeUnknown | None = None  # the first lost reply, to report


def pack(units: Sequence[Unit], limit: int = BATCH_LIMIT) -> list[Unit]:
    """Units in order, into batches of at most `limit` commands; a unit is never split across batches."""
    batches: list[Unit] = []
    current: Unit = {}
    for unit in units:
        if len(unit) > limit:
            raise ValueError(f"a unit of {len(unit)} commands cannot fit a batch of {limit}")
        if current and len(current) + len(unit) > limit:
            batches.append(current)
            current = {}
        overlap = current.keys() & unit.keys()
        if overlap:
            raise ValueError(f"command keys used twice in one batch: {sorted(overlap)}")
        current.update(unit)
    if current:
        batches.append(current)
    return batches


class BatchExecutor:
    """Sends units of Bitrix24 commands as `batch` requests and settles each command on its own."""

    def __init__(self, client: Bitrix24Client, in_flight: int = 1, limit: int = BATCH_LIMIT) -> None:
        self.client = client
        self.in_flight = max(1, in_flight)
        self.limit = max(1, min(limit, BATCH_LIMIT))

    def run(self, units: Sequence[Unit]) -> Sent:
        """Every unit sent once; lost replies leave their commands in `unknown` (nothing is re-sent here)."""
        sent = Sent()
        batches = [b for b in pack(units, self.limit) if b]
        if self.in_flight == 1 or len(batches) < 2:
            replies = [self._one(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="batch") as pool:
                replies = list(pool.map(self._one, batches))
        for batch, (reply, lost) in zip(batches, replies, strict=True):
            if lost is not None:
                sent.unknown.update(batch)
                sent.lost = sent.lost or lost
                continue
            assert reply is not None
            sent.results.update(reply.result)
            sent.errors.update(reply.errors)
        return sent

    def _one(self, batch: Unit) -> tuple[Any, OutcomeUnknown | None]:
        try:
            return self.client.batch(batch, write=True), None
        except OutcomeUnknown as exc:
            return None, exc
