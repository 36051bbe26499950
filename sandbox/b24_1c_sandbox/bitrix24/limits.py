"""The portal's two documented limits, implemented from the vendor's description (not from any client's pacer).

Source: the official REST docs, `settings/performance/limits.md` (see also `../shared/reference/bitrix24-rest.md` §3):
- request intensity: every HTTP request adds one to a counter that drains by Y per second; a request that finds the
  counter at its ceiling X is refused with 503 QUERY_LIMIT_EXCEEDED (standard X=50, Y=2; Enterprise X=250, Y=5);
- operating time: per caller (webhook or app) and per method, the server time spent in the last 10 minutes, kept in
  ten one-minute slots; while the sum is over the limit (480 s on cloud) the method answers 429 OPERATION_TIME_LIMIT;
  `operating_reset_at` is the first call of the oldest slot plus ten minutes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

PLAN_LIMITS: dict[str, tuple[float, float]] = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}


@dataclass
class RequestCounter:
    """The per-portal (and source address) request counter of the intensity limit."""

    ceiling: float
    drain_per_second: float
    count: float = 0.0
    at: float | None = None

    def admit(self, now: float) -> bool:
        """Count one request if the counter, drained up to `now`, is below the ceiling; refuse it otherwise."""
        if self.at is not None and now > self.at:
            self.count = max(0.0, self.count - (now - self.at) * self.drain_per_second)
        if self.at is None or now > self.at:
            self.at = now
        if self.count + 1 > self.ceiling:
            return False
        self.count += 1
        return True


@dataclass
class _Slot:
    start: float  # the minute this slot covers (aligned)
    first_call: float  # when the first call in it happened
    seconds: float


@dataclass
class OperatingBudget:
    """Server seconds per method over a sliding 10-minute window of one-minute slots, for one caller."""

    limit: float = 480.0
    window: float = 600.0
    slot: float = 60.0
    _slots: dict[str, deque[_Slot]] = field(default_factory=dict)

    def _live(self, method: str, now: float) -> deque[_Slot]:
        slots = self._slots.setdefault(method, deque())
        # A slot counts for ten minutes from its first call, not from its minute's start (the docs' wording).
        while slots and slots[0].first_call <= now - self.window:
            slots.popleft()
        return slots

    def used(self, method: str, now: float) -> float:
        """Seconds this method has spent in the window (the reply's `time.operating`)."""
        return sum(s.seconds for s in self._live(method, now))

    def blocked(self, method: str, now: float) -> bool:
        """A method whose window sum is over the limit is refused until its oldest slot drops off."""
        return self.used(method, now) > self.limit

    def record(self, method: str, now: float, seconds: float) -> None:
        """Add one call's server time to the slot of the current minute."""
        slots = self._live(method, now)
        start = now - (now % self.slot)
        if slots and slots[-1].start == start:
            slots[-1].seconds += seconds
        else:
            slots.append(_Slot(start, now, seconds))

    def reset_at(self, method: str, now: float) -> float:
        """When the oldest slot drops off (the reply's `time.operating_reset_at`)."""
        slots = self._live(method, now)
        return (slots[0].first_call if slots else now) + self.window
