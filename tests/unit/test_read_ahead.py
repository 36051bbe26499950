"""A backfill reads its next source page while the current one is written; pages still arrive in order, one at a
time, errors surface where the caller reads, and leaving early stops the reading."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from connector.engine.readahead import read_ahead


def test_the_next_page_is_read_while_the_caller_works_on_this_one() -> None:
    reading_second = threading.Event()

    def pages() -> Iterator[int]:
        yield 1
        reading_second.set()
        yield 2
        yield 3

    seen = []
    for page in read_ahead(pages()):
        if page == 1:  # without reading ahead nobody would start page 2 now: the wait would time out
            assert reading_second.wait(timeout=10)
        seen.append(page)
    assert seen == [1, 2, 3]


def test_a_source_error_is_raised_to_the_caller_after_the_pages_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        raise RuntimeError("1C answered 500")

    seen = []
    with pytest.raises(RuntimeError, match="1C answered 500"):
        for page in read_ahead(pages()):
            seen.append(page)
    assert seen == [1]


def test_leaving_early_reads_at_most_one_page_more() -> None:
    produced = []

    def pages() -> Iterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    for page in read_ahead(pages()):
        if page == 2:
            break
    assert produced[:3] == [0, 1, 2] and len(produced) <= 5  # the queue's one page plus the one being put
    assert not any(t.name == "read-ahead" for t in threading.enumerate())
