"""Paged reads over `call` and `batch`: offset pages for small directories, `>ID` keyset pages for big lists,
and keyset sub-lists chained inside one batch (up to 2,500 rows per request)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.bitrix24.replies import BatchReply, Reply
from connector.errors import RemoteRejected

BATCH_LIMIT = 50
PAGE = 50


class Calls(Protocol):
    """What the reads need of a client: one call and one batch."""

    def call(self, method: str, params: Mapping[str, Any] | None = None, *, write: bool = False) -> Reply: ...

    def batch(
        self,
        commands: Mapping[str, tuple[str, Mapping[str, Any]]],
        *,
        halt: bool = False,
        write: bool = False,
    ) -> BatchReply: ...


class KeysetReads:
    """Mixed into the client: every method here reads through the client's own `call` and `batch`."""

    def list_all(
        self: Calls, method: str, params: Mapping[str, Any] | None = None, key: str | None = None
    ) -> list[Any]:
        """Every page of an offset-paged list (`start`, 50 rows a page, `next` naming the following one): for the
        small directories (user fields, stage lists) whose methods take no `>ID` filter. Bounded by `next` growing."""
        rows: list[Any] = []
        start: int | None = 0
        while start is not None:
            reply = self.call(method, {**(params or {}), "start": start})
            page = reply.result.get(key, []) if key and isinstance(reply.result, dict) else reply.result
            rows += list(page or [])
            start = reply.next if reply.next and reply.next > start else None
        return rows

    def list_keyset(
        self: Calls,
        method: str,
        filter: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        id_field: str = "ID",
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a list in ID order with `>ID` + `start=-1`: no COUNT, no drift while rows change."""
        last = 0
        base = dict(filter or {})
        while True:
            params: dict[str, Any] = {
                "filter": {**base, f">{id_field}": last},
                "order": {id_field: "ASC"},
                "start": -1,
            }
            if select:
                params["select"] = select
            rows = self.call(method, params).result
            rows = rows.get("items", []) if isinstance(rows, dict) else (rows or [])
            if not rows:
                return
            yield rows
            last = int(rows[-1][id_field])
            if len(rows) < PAGE:
                return

    def list_fast(
        self: Calls,
        method: str,
        filter: Mapping[str, Any] | None = None,
        select: list[str] | None = None,
        id_field: str = "ID",
        items_key: str | None = None,
        chain: int = BATCH_LIMIT,
        expect: int | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Keyset reads at up to 2,500 rows per request: `chain` sub-lists per batch, each starting after the
        last ID of the one before it (`$result[prev][49][ID]`), stopping at the first short page. With `expect`
        (at most that many rows, e.g. an `@ID` list) no more sub-lists are chained than can be filled."""
        if expect is not None:
            chain = max(1, min(chain, expect // PAGE + 1))
        base = dict(filter or {})
        order = {id_field: "ASC"}
        last: Any = 0
        # A backfill's read-ahead thread asks its first sub-list alone, so that it can ride in the write batch
        # being sent (bitrix24/rides.py); a full first page goes on in chains as usual.
        rides = getattr(self, "rides", None)
        first = rides is not None and rides.ready()
        while True:
            links = 1 if first else chain
            first = False
            commands: dict[str, tuple[str, Mapping[str, Any]]] = {}
            for n in range(links):
                ref: Any = (
                    last
                    if n == 0
                    else (
                        f"$result[p{n - 1}][{items_key}][{PAGE - 1}][{id_field}]"
                        if items_key
                        else f"$result[p{n - 1}][{PAGE - 1}][{id_field}]"
                    )
                )
                params: dict[str, Any] = {
                    "filter": {**base, f">{id_field}": ref},
                    "order": order,
                    "start": -1,
                }
                if select:
                    params["select"] = select
                commands[f"p{n}"] = (method, params)
            reply = self.batch(commands, halt=links > 1)
            for n in range(links):
                if f"p{n}" in reply.errors:
                    err = reply.errors[f"p{n}"]
                    raise RemoteRejected(
                        f"{method} failed inside a batch: {err.get('error_description', err)}", method=method
                    )
                rows = reply.result.get(f"p{n}")
                if isinstance(rows, dict):
                    rows = rows.get(items_key or "items", [])
                rows = list(rows or [])
                if rows:
                    yield rows
                    last = rows[-1][id_field]
                if len(rows) < PAGE:
                    return


@dataclass
class Answers:
    """What a round of read commands returned: results and errors by command name, and the names whose list has
    more pages than the one returned (`next` in the batch reply)."""

    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)
    more: set[str] = field(default_factory=set)


def run_reads(client: Calls, commands: Mapping[str, tuple[str, Mapping[str, Any]]]) -> Answers:
    """Every read command once, 50 to a `batch` request, in the order given (reads only: nothing here writes), so
    the reads of a page share requests whatever they are for."""
    answers = Answers()
    names = list(commands)
    for i in range(0, len(names), BATCH_LIMIT):
        part = names[i : i + BATCH_LIMIT]
        reply = client.batch({n: commands[n] for n in part})
        answers.results.update(reply.result)
        answers.errors.update(reply.errors)
        answers.more.update(n for n in part if n in reply.next)
    return answers
