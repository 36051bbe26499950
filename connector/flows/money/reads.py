"""The money target's reads of one chunk of orders, sent together: every read command of a round shares `batch`
requests of 50 with the others (the deals' sale orders, their to-dos, their overdue tasks), so a chunk costs about
one command per 50 deals per kind of object, not one request per kind."""

from __future__ import annotations

from typing import Any

from connector.bitrix24.reads import Answers, run_reads

Command = tuple[str, dict[str, Any]]

__all__ = [
    "Answers",
    "Command",
    "chunks",
    "reason",
    "run_reads",
]  # the batched reads live in bitrix24/reads.py


def reason(err: Any) -> str:
    """The portal's words for a command's error."""
    if isinstance(err, dict):
        return str(err.get("error_description") or err.get("error"))
    return str(err)


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
