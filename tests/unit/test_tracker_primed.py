"""The documents a tracker notes before a backfill are kept in a temporary file and recorded a chunk per page, the
last page taking what is left: every state exactly once, and no Python object per document held meanwhile (at
100,000 orders some 300,000 documents; issue 13 goal 6)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from connector.engine.protocols import Page
from connector.flows.tracker import Primed, spread
from connector.records import SourceState


def states(n: int, start: int = 0) -> Iterator[SourceState]:
    for i in range(start, n):
        pointers = (f"order-{i % 977}", f"order-{i % 31}") if i % 3 else ()
        yield SourceState("money:docs", f"Document_{i % 4}", f"doc-{i:08d}", f"v{i}", pointers)


def pages(n: int) -> Iterator[Page]:
    for i in range(n):
        yield Page([{"Ref_Key": f"order-{i}"}], {"page": i})


def test_every_primed_state_is_recorded_once_a_chunk_per_page_and_the_last_page_takes_the_rest() -> None:
    primed = Primed("money:docs")
    primed.add(states(16_000))
    out = list(spread(pages(3), primed))
    assert [p.cursor for p in out] == [{"page": 0}, {"page": 1}, {"page": 2}]
    assert [len(p.state) for p in out] == [Primed.CHUNK, Primed.CHUNK, 16_000 - 2 * Primed.CHUNK]
    assert [s for p in out for s in p.state] == list(states(16_000))


def test_more_pages_than_chunks_and_no_primed_state() -> None:
    primed = Primed("money:docs")
    primed.add(states(7))
    out = list(spread(pages(4), primed))
    assert [len(p.state) for p in out] == [7, 0, 0, 0]
    assert [p.records for p in spread(pages(2), None)] == [[{"Ref_Key": "order-0"}], [{"Ref_Key": "order-1"}]]


def test_priming_keeps_no_python_object_per_document() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        primed = Primed("money:docs")
        for i in range(0, 10_000, 1000):  # as the tracker adds them: a page of documents at a time
            primed.add(list(states(i + 1000, i)))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 10,000 SourceStates (with their strings and tuples) take about 5 MB as Python objects.
    assert kept < 1_000_000, f"priming kept {kept:,} bytes of Python objects"
    assert sum(len(c) for c in primed.chunks()) == 10_000
