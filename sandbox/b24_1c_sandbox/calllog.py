"""A bounded call log: the last calls in full, and counters of every call ever made.

Keeping every call (batch sub-commands included) with its parameters grew the sandbox to 700 MB at 20,000
orders. The log keeps the newest `capacity` calls for inspection and counts all of them. Positions are absolute: `len(log)` is the number of calls ever logged, so `log[before:]` (with `before` an
earlier `len(log)`) is what came since, as long as those calls are still kept; an older position raises.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any, overload

# Bounded; a full backfill of 2,200 orders (the largest proofs) logs about 20,000 calls.
DEFAULT_CAPACITY = 100_000


class CallLog:
    """The newest `capacity` calls (objects with `method`, `status`, `batch`, `error`, `fault`, `at`) plus counters."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"call log capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._kept: deque[Any] = deque(maxlen=capacity)
        self._total = 0
        self._lock = threading.Lock()
        self.counts: Counter[tuple[str, bool, int]] = Counter()  # (method, batch sub-command, status) → calls
        self.limit_errors = 0  # 429s and OPERATION_TIME_LIMIT errors, batch sub-commands included
        self.faults = 0  # top-level requests the fault injector touched
        self.first_ok: float | None = None  # `at` of the first and last top-level 200
        self.last_ok: float | None = None

    def append(self, call: Any) -> None:
        with self._lock:
            self._kept.append(call)
            self._total += 1
            self.counts[(call.method, bool(call.batch), int(call.status))] += 1
            if call.status == 429 or call.error == "OPERATION_TIME_LIMIT":
                self.limit_errors += 1
            if not call.batch:
                if call.fault:
                    self.faults += 1
                if call.status == 200:
                    if self.first_ok is None:
                        self.first_ok = call.at
                    self.last_ok = call.at

    def clear(self) -> None:
        """Forget every call and every count."""
        with self._lock:
            self._kept.clear()
            self._total = 0
            self.counts.clear()
            self.limit_errors = self.faults = 0
            self.first_ok = self.last_ok = None

    @property
    def dropped(self) -> int:
        """Calls no longer kept (the oldest ones)."""
        return self._total - len(self._kept)

    def snapshot(self) -> list[Any]:
        """The kept calls, oldest first."""
        with self._lock:
            return list(self._kept)

    def requests(self, status: int | None = None) -> int:
        """Top-level requests ever logged (with this status)."""
        return sum(n for (_, batch, s), n in self.counts.items() if not batch and status in (None, s))

    def sub_commands(self) -> int:
        return sum(n for (_, batch, _), n in self.counts.items() if batch)

    def __len__(self) -> int:
        return self._total

    def __iter__(self) -> Iterator[Any]:
        """Every call logged, oldest first; once calls were dropped this raises (a count over the kept ones would
        be silently short): read `log[before:]`, `snapshot()` or the counters instead."""
        with self._lock:
            kept, dropped = list(self._kept), self._total - len(self._kept)
        if dropped:
            raise IndexError(
                f"the call log dropped its oldest {dropped:,} calls (it keeps {self.capacity:,}): iterate "
                "log[before:] or snapshot(), or read the counters"
            )
        return iter(kept)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        with self._lock:
            kept, dropped = list(self._kept), self._total - len(self._kept)
        if isinstance(index, slice):
            if index.step not in (None, 1):
                raise ValueError("the call log slices with step 1 only")
            start = 0 if index.start is None else index.start
            stop = self._total if index.stop is None else index.stop
            start, stop = (i + self._total if i < 0 else i for i in (start, stop))
            if start < dropped:
                raise IndexError(
                    f"calls from position {start} are gone: the log keeps the newest {self.capacity:,} "
                    f"of {self._total:,} (raise CallLog capacity, or read the counters)"
                )
            return kept[start - dropped : max(stop - dropped, 0)]
        position = index + self._total if index < 0 else index
        if not dropped <= position < self._total:
            raise IndexError(f"call {index} is not kept (kept: {dropped}..{self._total - 1})")
        return kept[position - dropped]
