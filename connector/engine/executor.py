"""The one writer of Bitrix24 steps: records' commands packed into `batch` requests, sent, and settled per command.

A target turns each record into a *unit*: the commands that must travel together because they refer to each other
through `$result[...]` (a deal and its product rows; a payment's add and its keyed update). The executor packs units
into batches of at most 50 commands, first fit, without ever splitting one, sends the batches (up to `in_flight` at
once, a setting: the client's pacers are thread-safe), and hands back every command's result or error. A batch whose
reply was lost does not stop the others: its commands are reported as unknown, so the caller settles exactly those
records by looking them up by external key and re-sends only what is unsettled — never a blind re-send of a write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.errors import OutcomeUnknown

Command = tuple[str, dict[str, Any]]
Unit = dict[str, Command]
_REFERENCE = re.compile(r"\$result\[([^\]]+)\]")


@dataclass
class Sent:
    """What came back: results and errors per command key, and the keys whose batch lost its reply."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    lost: OutcomeUnknown | None = None  # the first lost reply, to report


def pack(units: Sequence[Unit], limit: int = BATCH_LIMIT) -> list[Unit]:
    """Units into batches of at most `limit` commands, first fit: each unit goes whole, its commands in their order,
    into the first batch with room for it, so a batch left short by a large unit is filled by smaller ones after it.

    What a unit may not overtake keeps its place: a unit goes into no earlier batch than (and after, in its batch)
    every earlier unit that writes one of the same objects (the same `id`), and into the very batch of a unit whose
    command keys it names in a `$result[...]` reference (such a reference resolves only inside one batch; a unit
    that cannot go there is refused: units are meant to hold their own references). Units that share neither may
    change batches: they are independent (several batches may be in flight at once). A unit overtakes only larger
    ones (it fits where they did not), so a record's one-command head, e.g. money's deal update, keeps its place."""
    batches: list[Unit] = []
    home: dict[str, int] = {}  # command key -> its batch
    wrote: dict[str, int] = {}  # object id -> the last batch that writes it
    first_open = 0  # every batch before it is full
    for unit in units:
        if len(unit) > limit:
            raise ValueError(f"a unit of {len(unit)} commands cannot fit a batch of {limit}")
        objects = {str(params["id"]) for _, params in unit.values() if _known_id(params)}
        refs = {home[k] for k in _references(unit) if k in home}
        earliest = max([first_open, *refs, *(wrote[o] for o in objects if o in wrote)])
        at = next(
            (i for i in range(earliest, len(batches)) if len(batches[i]) + len(unit) <= limit), len(batches)
        )
        if refs and refs != {at}:
            raise ValueError(f"a unit refers to commands of a batch it cannot join: {sorted(unit)}")
        if at == len(batches):
            batches.append({})
        overlap = batches[at].keys() & unit.keys()
        if overlap:
            raise ValueError(f"command keys used twice in one batch: {sorted(overlap)}")
        batches[at].update(unit)
        home.update(dict.fromkeys(unit, at))
        wrote.update(dict.fromkeys(objects, at))
        while first_open < len(batches) and len(batches[first_open]) >= limit:
            first_open += 1
    return batches


def _known_id(params: Any) -> bool:
    """Whether a command names the object it writes (`id`, not a `$result` reference to one made in its batch)."""
    target = params.get("id") if isinstance(params, dict) else None
    return target is not None and not str(target).startswith("$result")


def _references(unit: Unit) -> set[str]:
    """The command keys outside the unit that its parameters name in `$result[key]...` references."""
    found = set(
        _REFERENCE.findall(json.dumps([p for _, p in unit.values()], ensure_ascii=False, default=str))
    )
    return found - unit.keys()


class BatchExecutor:
    """Sends units of Bitrix24 commands as `batch` requests and settles each command on its own."""

    def __init__(self, client: Bitrix24Client, in_flight: int = 1, limit: int = BATCH_LIMIT) -> None:
        self.client = client
        self.in_flight = max(1, in_flight)
        self.limit = max(1, min(limit, BATCH_LIMIT))

    def run(self, units: Sequence[Unit], *, halt: bool = False) -> Sent:
        """Every unit sent once; lost replies leave their commands in `unknown` (nothing is re-sent here).

        With `halt`, the portal stops a batch at its first failed command (the `batch` method's `halt`): a command
        after it in that batch did not run and has neither a result nor an error, so a unit's later commands run
        only if every command before them in the batch succeeded."""
        sent = Sent()
        batches = [b for b in pack(units, self.limit) if b]
        one = partial(self._one, halt=halt)
        if self.in_flight == 1 or len(batches) < 2:
            replies = [one(b) for b in batches]
        else:
            with ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="batch") as pool:
                replies = list(pool.map(one, batches))
        for batch, (reply, lost) in zip(batches, replies, strict=True):
            if lost is not None:
                sent.unknown.update(batch)
                sent.lost = sent.lost or lost
                continue
            assert reply is not None
            sent.results.update(reply.result)
            sent.errors.update(reply.errors)
        return sent

    def _one(self, batch: Unit, halt: bool = False) -> tuple[Any, OutcomeUnknown | None]:
        try:
            if halt:
                return self.client.batch(batch, halt=True, write=True), None
            return self.client.batch(batch, write=True), None  # as every caller's client takes it
        except OutcomeUnknown as exc:
            return None, exc
