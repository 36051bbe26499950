"""The sandbox process's C allocator (issue 13 goal 6: the sandbox at most 1 GB at 100,000 orders).

The emulators answer each HTTP request in a thread of its own, and glibc gives threads arenas of their own (up to
8 per core): memory one request frees sits in its arena, unused by the next. On an 8,000-order backfill of the
orders flow (the sandbox in-process, the connector's CLI against it) the sandbox grew 50 MB with glibc's default
arenas and 40 MB with one, and `malloc_trim` at the end gave back 11 MB more. So the sandbox keeps glibc to
`ARENAS` arena and gives free memory back every `TRIM_EVERY` requests. Without glibc's `mallopt`, nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from typing import Any

M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 1
TRIM_EVERY = 500


class Allocator:
    """glibc's `mallopt` and `malloc_trim` when the C library has them; counts requests to trim now and then."""

    def __init__(self, trim_every: int = TRIM_EVERY) -> None:
        self.trim_every = max(1, trim_every)
        self.trims = 0
        self._requests = 0
        self._lock = threading.Lock()
        self._libc: Any = None
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            if libc is not None and hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim"):
                self._libc = libc
        except OSError:  # no C library to load: nothing to tune
            self._libc = None

    @property
    def active(self) -> bool:
        return self._libc is not None

    def limit_arenas(self, arenas: int = ARENAS) -> None:
        """At most this many malloc arenas for the threads started from now on."""
        if self._libc is not None:
            self._libc.mallopt(M_ARENA_MAX, arenas)

    def served(self) -> None:
        """One request answered: every `trim_every`, free memory goes back to the system."""
        with self._lock:
            self._requests += 1
            due = self._requests % self.trim_every == 0
        if due and self._libc is not None:
            self._libc.malloc_trim(0)
            self.trims += 1


ALLOCATOR = Allocator()
