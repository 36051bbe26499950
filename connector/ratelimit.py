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
    def for_plan(cls, clock: Clock, plan: str, scale: float = 1.0) -> RequestPacer | None:
        """A pacer for a plan name; None for "off"."""
        if plan == "off":
            return None
        capacity, rate = PLANS[plan]
        return cls(clock, capacity, rate * scale)

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
        self._spent: dict[str, deque[tuple[float, float]]] = {}

    def _trim(self, method: str, now: float) -> deque[tuple[float, float]]:
        spent = self._spent.setdefault(method, deque())
        while spent and spent[0][0] <= now - self.window:
            spent.popleft()
        return spent

    def used(self, method: str, now: float) -> float:
        return sum(cost for _, cost in self._trim(method, now))

    def blocked(self, method: str, now: float) -> bool:
        """Checked before a call: a method over its limit is blocked until its oldest bucket drops off."""
        return self.used(method, now) > self.limit

    def record(self, method: str, now: float, cost: float) -> None:
        spent = self._trim(method, now)
        start = now - (now % self.slot)
        if spent and spent[-1][0] == start:
            spent[-1] = (start, spent[-1][1] + cost)
        else:
            spent.append((start, cost))

    def reset_at(self, method: str, now: float) -> float:
        """When the oldest bucket of this method drops off."""
        spent = self._trim(method, now)
        return (spent[0][0] if spent else now) + self.window
