"""The money target's reads of one chunk of orders, sent together: every read command of a round shares `batch`
requests of 50 with the others (the deals' sale orders, their to-dos, their overdue tasks), so a chunk costs about
one command per 50 deals per kind of object, not one request per kind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client

Command = tuple[str, dict[str, Any]]


@dataclass
class Answers:
    """What a round of read commands returned: results and errors by command name, and the names whose list has
    more pages than the one returned (`next` in the batch reply)."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    more: set[str] = field(default_factory=set)


def run_reads(client: Bitrix24Client, commands: Mapping[str, Command]) -> Answers:
    """Every command once, 50 to a `batch` request, in the order given (reads only: nothing here writes)."""
    answers = Answers()
    names = list(commands)
    for i in range(0, len(names), BATCH_LIMIT):
        part = names[i : i + BATCH_LIMIT]
        reply = client.batch({n: commands[n] for n in part})
        answers.results.update(reply.result)
        answers.errors.update(reply.errors)
        answers.more.update(n for n in part if n in reply.next)
    return answers


def reason(err: Any) -> str:
    """The portal's words for a command's error."""
    if isinstance(err, dict):
        return str(err.get("error_description") or err.get("error"))
    return str(err)


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
