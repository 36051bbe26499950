"""Leaky bucket (Bitrix24's request-intensity limit) and per-method operating-time budget; pure, clock-driven."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from connector.clock import Clock

PLANS: dict[str, tuple[float, float]] = {"standard": (50, 2.0), "enterprise": (250, 5.0)}


@dataclass
class LeakyBucket:
    """A counter that grows by one per request and drains at `rate` per second; full at `capacity`."""

    capacity: float
    rate: float
    level: float = 0.0
    last: float | None = None

    def _drain(self, now: float) -> None:
        if self.last is not None and now > self.last:
            self.level = max(0.0, self.level - (now - self.last) * self.rate)
        if self.last is None or now > self.last:
            self.last = now

    def admit(self, now: float) -> bool:
        """Server side: count the request if there is room, else refuse it (the portal's 503)."""
        self._drain(now)
        if self.level + 1 > self.capacity:
            return False
        self.level += 1
        return True

    def delay(self, now: float) -> float:
        """Seconds until one more request fits."""
        self._drain(now)
        excess = self.level + 1 - self.capacity
        return 0.0 if excess <= 0 else excess / self.rate


class RequestPacer:
    """Client side: blocks (through the Clock) until the bucket has room, so the portal never answers 503."""

    def __init__(self, clock: Clock, capacity: float, rate: float) -> None:
        self.clock = clock
        self.bucket = LeakyBucket(capacity, rate)
        self._lock = threading.Lock()
        self.waited = 0.0

    @classmethod
    def for_plan(cls, clock: Clock, plan: str, scale: float = 1.0, share: float = 1.0) -> RequestPacer | None:
        """A pacer for a plan name; None for "off". `share` is this client's part of a portal that several
        installations use at once (bitrix24.share): its burst and its rate are that part of the plan's."""
        if plan == "off":
            return None
        capacity, rate = PLANS[plan]
        # One request of headroom: filling the bucket to the brim lets delivery jitter push the portal over by one.
        return cls(clock, max(1.0, (capacity - 1) * share), rate * scale * share)

    def acquire(self) -> None:
        with self._lock:
            while True:
                wait = self.bucket.delay(self.clock.monotonic())
                if wait <= 0:
                    self.bucket.level += 1
                    return
                self.waited += wait
                self.clock.sleep(wait)

    def penalize(self) -> None:
        """The portal refused us anyway (another client shares the limit): assume the bucket is full."""
        with self._lock:
            self.bucket.level = self.bucket.capacity


class OperatingWindow:
    """Ten one-minute buckets of server time per method, as the portal keeps them (480 s per 10 min)."""

    def __init__(self, limit: float = 480.0, window: float = 600.0, slots: int = 10) -> None:
        self.limit = limit
        self.window = window
        self.slot = window / slots
        # Per method: [bucket start, seconds spent, time of the bucket's first call].
        self._spent: dict[str, deque[list[float]]] = {}

    def _trim(self, method: str, now: float) -> deque[list[float]]:
        spent = self._spent.setdefault(method, deque())
        while spent and spent[0][0] <= now - self.window:
            spent.popleft()
        return spent

    def used(self, method: str, now: float) -> float:
        return sum(entry[1] for entry in self._trim(method, now))

    def blocked(self, method: str, now: float) -> bool:
        """Checked before a call: a method over its limit is blocked until its oldest bucket drops off."""
        return self.used(method, now) > self.limit

    def record(self, method: str, now: float, cost: float) -> None:
        spent = self._trim(method, now)
        start = now - (now % self.slot)
        if spent and spent[-1][0] == start:
            spent[-1][1] += cost
        else:
            spent.append([start, cost, now])

    def reset_at(self, method: str, now: float) -> float:
        """When the oldest bucket of this method drops off: its first call + the window (the portal's
        `operating_reset_at`); a bucket is never kept longer than that."""
        spent = self._trim(method, now)
        return (spent[0][2] if spent else now) + self.window


class OperatingPacer:
    """Client side of the operating-time limit: pauses one method before the portal would block it.

    The portal reports, per method, the server time used in the last 10 minutes (`time.operating`) and when the
    oldest minute drops off (`operating_reset_at`). When a method's use plus the most a next request could add
    reaches the limit, that method (and only it) waits until the reset.
    """

    def __init__(self, clock: Clock, limit: float = 480.0, headroom: float = 0.9) -> None:
        self.clock = clock
        self.limit = limit * headroom
        self._used: dict[str, float] = {}
        self._reset_at: dict[str, float] = {}
        self._cost: dict[str, float] = {}
        self._lock = threading.Lock()
        self.paused_seconds = 0.0
        self.pauses = 0

    def observe(self, method: str, time_block: dict[str, object]) -> None:
        """Learn from a reply's `time` block (or a batch sub-command's entry in `result_time`)."""
        used = time_block.get("operating")
        if not isinstance(used, int | float):
            return
        reset = time_block.get("operating_reset_at")
        duration = time_block.get("processing", time_block.get("duration", 0.0))
        with self._lock:
            self._used[method] = float(used)
            if isinstance(reset, int | float):
                self._reset_at[method] = float(reset)
            if isinstance(duration, int | float):
                self._cost[method] = max(self._cost.get(method, 0.0) * 0.9, float(duration))

    def used(self) -> dict[str, float]:
        """Seconds of server time each method used in the portal's last 10 minutes, as its replies said."""
        with self._lock:
            return dict(self._used)

    def blocked(self, method: str) -> None:
        """The portal answered 429 for this method: assume it is full until its reset."""
        with self._lock:
            self._used[method] = max(self._used.get(method, 0.0), self.limit + 1)

    def wait(self, methods: dict[str, int]) -> None:
        """Before a request that runs `count` calls of each method: wait while any of them would overflow."""
        for method, count in methods.items():
            with self._lock:
                used = self._used.get(method, 0.0)
                projected = used + self._cost.get(method, 0.0) * count
                reset = self._reset_at.get(method)
            if projected < self.limit or reset is None:
                continue
            delay = reset - self.clock.now().timestamp() + 0.5
            if delay > 0:
                self.pauses += 1
                self.paused_seconds += delay
                self.clock.sleep(delay)
            with self._lock:  # the oldest minute has dropped off; the next reply tells the new figure
                self._used[method] = max(0.0, used - self._cost.get(method, 0.0) * 60)
                self._reset_at.pop(method, None)
