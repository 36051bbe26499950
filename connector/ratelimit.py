"""Leaky bucket (Bitrix24's request-intensity limit) and per-method operating-time budget; pure, clock-driven."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

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


@dataclass
class _Spent:
    """What the pacer knows of one method's window: the calls still counted as [start, seconds, first start] in
    start order (the calls of one second share an entry, counted until its latest call's time) and their sum."""

    calls: deque[list[float]] = field(default_factory=deque)
    held: float = 0.0
    cost: float = 0.0  # the most one call has cost lately (a decaying maximum)
    reported: float = 0.0  # `operating` in the latest reply
    latest: float = float("-inf")  # the start of the call that reply was about
    reset_at: float | None = None  # `operating_reset_at` in the latest reply
    reserved: float = 0.0  # the calls of requests in flight
    blocked_until: float = 0.0  # after a 429: not before this (portal time)

    def drop(self, oldest: float, now: float, window: float) -> None:
        """Forget the calls that started before `oldest` or a whole window before `now`."""
        while self.calls and (self.calls[0][0] < oldest or self.calls[0][0] + window <= now):
            self.held -= self.calls.popleft()[1]
        if not self.calls:
            self.held = 0.0

    def trim(self, seconds: float) -> None:
        """Take `seconds` off the oldest calls: the portal no longer counts them."""
        while self.calls and seconds > 0:
            taken = min(self.calls[0][1], seconds)
            self.calls[0][1] -= taken
            self.held -= taken
            seconds -= taken
            if self.calls[0][1] <= 0:
                self.calls.popleft()

    def add(self, start: float, seconds: float) -> None:
        """Count one call (the latest seen)."""
        self.held += seconds
        if self.calls and start - self.calls[-1][2] < 1.0:
            self.calls[-1][0] = max(self.calls[-1][0], start)
            self.calls[-1][1] += seconds
        else:
            self.calls.append([start, seconds, start])

    def until(self, room: float, now: float, window: float) -> float:
        """The earliest time, at or after `now`, when the calls still counted leave `room`."""
        held = self.held
        at = now
        for start, seconds, _ in self.calls:
            if held <= room:
                break
            held -= seconds
            at = max(at, start + window)
        return max(at, self.blocked_until)


class OperatingPacer:
    """Client side of the operating-time limit: before a request, each method it calls waits until the portal
    would run every call of it that the request holds (a batch's calls are checked one by one).

    The portal counts a method's server time in ten one-minute buckets; a bucket drops off 10 minutes after its
    first call (`operating_reset_at` names the oldest one's), and a call is refused (429) only while the sum
    (`time.operating`) is over the limit. The pacer keeps the calls it saw as [start, seconds], the seconds being
    how much each call raised `operating`. A call stops counting at its start + 10 minutes at the latest (its
    bucket's first call came no later), and the calls before the oldest bucket the portal still counts are gone:
    so the pacer knows, never too early, when enough of the window has refilled for the next request's calls and
    waits just that long, not for a whole bucket reset. The calls of requests in flight (several threads) hold
    their room until their replies are counted. Times are the portal's (`time.start`/`finish`), turned into ours
    with the smallest clock offset the replies allow. What a first reply's sum holds beyond its own call (an
    earlier run's calls) is assumed to stop counting only 10 minutes later.
    """

    window = 600.0
    margin = (
        1.0  # seconds past a computed drop-off: `operating_reset_at` is whole seconds, clocks are not exact
    )

    def __init__(self, clock: Clock, limit: float = 480.0, headroom: float = 1.0) -> None:
        self.clock = clock
        self.limit = limit * headroom
        self._spent: dict[str, _Spent] = {}
        self._offset: float | None = None  # portal clock − ours, never more than the truth
        self._lock = threading.Lock()
        self.paused_seconds = 0.0
        self.pauses = 0

    def observe(self, method: str, time_block: dict[str, object]) -> None:
        """Learn from a reply's `time` block (or a batch sub-command's entry in `result_time`)."""
        used = time_block.get("operating")
        if not isinstance(used, int | float):
            return
        ours = self.clock.now().timestamp()
        finish = _number(time_block.get("finish"), ours)
        start = _number(time_block.get("start"), finish)
        reset = time_block.get("operating_reset_at")
        with self._lock:
            # The reply reached us after the call started on the portal: this bound on the offset is never too
            # large (`finish` would do too, but a portal may count time into it that its clock has not seen).
            self._offset = start - ours if self._offset is None else max(self._offset, start - ours)
            spent = self._spent.setdefault(method, _Spent())
            first = spent.latest == float("-inf")
            if start < spent.latest:  # a request that was in flight with a later one: that reply counted it
                return
            spent.latest = start
            spent.reported = float(used)
            if isinstance(reset, int | float):
                spent.reset_at = float(reset)
            oldest = float(reset) - self.window if isinstance(reset, int | float) else finish - self.window
            spent.drop(oldest, finish, self.window)
            cost = float(used) - spent.held
            if cost < 0:  # the portal dropped more than we thought: the oldest calls were gone already
                spent.trim(-cost)
                cost = 0.0
            elif first:  # the sum may hold an earlier run's calls: the call's own figure is its cost
                own = time_block.get("processing", time_block.get("duration"))
                spent.cost = min(cost, float(own)) if isinstance(own, int | float) else cost
            else:
                spent.cost = max(cost, spent.cost * 0.9)
            spent.add(start, cost)

    def used(self) -> dict[str, float]:
        """Seconds of server time each method used in the portal's last 10 minutes, as its replies said."""
        with self._lock:
            return {method: spent.reported for method, spent in self._spent.items()}

    def blocked(self, method: str) -> None:
        """The portal answered 429 for this method: not before its last reported reset, else another minute."""
        with self._lock:
            spent = self._spent.setdefault(method, _Spent())
            now = self._portal_now()
            retry = spent.reset_at + 1.0 if spent.reset_at is not None and spent.reset_at >= now else now + 60
            spent.blocked_until = max(spent.blocked_until, retry)

    def wait(self, methods: dict[str, int]) -> dict[str, float]:
        """Before a request that runs `count` calls of each method: wait until the portal would run them all, with
        the calls of requests in flight counted; returns the room now held for them, for `release`."""
        held: dict[str, float] = {}
        for method, count in methods.items():
            while True:
                with self._lock:
                    spent = self._spent.setdefault(method, _Spent())
                    now = self._portal_now()
                    # The request's last call must find the sum at most the limit: the portal refuses only a
                    # call that finds it over.
                    room = self.limit - (count - 1) * spent.cost - spent.reserved
                    at = spent.until(room, now, self.window)
                    if at <= now:
                        held[method] = count * spent.cost
                        spent.reserved += held[method]
                        break
                self.pauses += 1
                self.paused_seconds += at + self.margin - now
                self.clock.sleep(at + self.margin - now)
        return held

    def release(self, held: dict[str, float]) -> None:
        """The request `wait` let through has been answered (and its reply observed) or failed."""
        with self._lock:
            for method, seconds in held.items():
                spent = self._spent[method]
                spent.reserved = max(0.0, spent.reserved - seconds)

    def _portal_now(self) -> float:
        return self.clock.now().timestamp() + (self._offset or 0.0)


def _number(value: object, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default
