"""The Bitrix24 client's counters stay exact when several threads send through one client (sync.in_flight > 1)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from connector.bitrix24.client import Stats

THREADS = 8
EACH = 5_000


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter allows, so an unlocked read-add-write loses counts."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_counts_from_many_threads_add_up(eager_switching: None) -> None:
    stats = Stats()
    start = threading.Barrier(THREADS)

    def send() -> None:
        start.wait()
        for _ in range(EACH):
            stats.add("requests", method="batch")
            stats.add("commands", 50)

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.requests == THREADS * EACH
    assert stats.commands == THREADS * EACH * 50
    assert stats.by_method == {"batch": THREADS * EACH}
