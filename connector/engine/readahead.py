"""Reading the next page while the current one is written: a backfill's source reads overlap its target writes.

Pages are still processed and committed one at a time, in order, by the caller's thread; only the source's reads
(which write nothing, anywhere) run one page ahead in a helper thread. Leaving the loop early stops the helper
after the page it is reading."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")


def read_ahead(
    pages: Iterable[T],
    depth: int = 1,
    after: Callable[[], None] | None = None,
    waiting: Callable[[], AbstractContextManager[Any]] | None = None,
    fed: Callable[[], None] | None = None,
) -> Iterator[T]:
    """The items of `pages` in order, each produced while the caller works on the one before (at most `depth`
    ahead); an exception in the source is raised here, where the caller reaches it. `after` runs in the helper
    thread once every page is produced (while the caller works on the last ones); it reports its own errors.
    `waiting()` is the context the caller's thread waits for the helper in; `fed()` is called in the helper after
    each page it hands over."""
    ready: queue.Queue[tuple[T | None, BaseException | None] | None] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: tuple[T | None, BaseException | None] | None) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
                if fed is not None:
                    fed()
        except BaseException as exc:  # handed to the consumer, raised in its thread
            put((None, exc))
            return
        if after is not None and not stop.is_set():
            try:
                after()
            except BaseException as exc:  # `after` reports its own errors; what escapes is the caller's
                put((None, exc))
                return
        put(None)  # the end

    helper = threading.Thread(target=produce, name="read-ahead", daemon=True)
    helper.start()
    try:
        while True:
            try:
                item = ready.get_nowait()
            except queue.Empty:
                with waiting() if waiting is not None else nullcontext():  # e.g. the helper's reads go alone
                    item = ready.get()
            if item is None:
                return
            page, error = item
            if error is not None:
                raise error
            yield page  # type: ignore[misc]  # a page, not None: only errors come without one
    finally:
        stop.set()
        with waiting() if waiting is not None else nullcontext():  # nothing the helper offers is held now
            helper.join()
