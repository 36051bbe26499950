"""The operating-time pacer waits for the portal's window to refill just enough, never into a 429.

The portal (settings/performance/limits.md) refuses a method's call while its server time in the last 10 minutes
is over 480 s; each one-minute bucket drops off 10 minutes after its first call. No I/O: replies' `time` blocks
are fed to the pacer by hand, on a ManualClock whose sleeps advance it.
"""

from __future__ import annotations

from connector.clock import ManualClock
from connector.ratelimit import OperatingPacer


def _calls(
    pacer: OperatingPacer, clock: ManualClock, n: int, cost: float, every: float, behind: float = 0.0
) -> float:
    """`n` calls of method "m" costing `cost` s each, one every `every` s, the portal's clock `behind` ours;
    returns the first call's start (portal time)."""
    first = clock.now().timestamp() - behind
    for k in range(n):
        if k:
            clock.advance(every)
        start = clock.now().timestamp() - behind
        block = {
            "start": start,
            "finish": start,
            "operating": cost * (k + 1),
            "operating_reset_at": first + 600,
        }
        pacer.observe("m", block)
    return first


def test_a_full_window_waits_only_for_the_oldest_calls_to_drop_off() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    first = _calls(pacer, clock, 70, 7.0, 8.0)  # 490 s used by first + 552 s: over the limit
    pacer.release(pacer.wait({"m": 1}))  # goes when the sum is 480 at most: two calls' drop-off (476)
    assert clock.now().timestamp() == first + 8 + 600 + pacer.margin
    pacer.release(pacer.wait({"m": 3}))  # its third call must find 480 at most: four calls' drop-off (462)
    assert clock.now().timestamp() == first + 24 + 600 + pacer.margin
    assert pacer.pauses == 2


def test_a_request_waits_until_its_last_call_would_find_the_sum_at_most_the_limit() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    _calls(pacer, clock, 45, 9.0, 12.0)  # 405 s
    pacer.release(pacer.wait({"m": 9}))  # its 9th call finds 477 s: the portal runs them all
    assert pacer.pauses == 0
    pacer.release(pacer.wait({"m": 10}))  # its 10th would find 486 s: refused
    assert pacer.pauses == 1


def test_requests_in_flight_hold_their_room_until_released() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    _calls(pacer, clock, 45, 9.0, 12.0)  # 405 s
    held = pacer.wait({"m": 5})  # its 5th call finds 441 s: goes
    assert pacer.pauses == 0
    pacer.release(pacer.wait({"m": 5}))  # another thread: with the first request's 45 s, its 5th finds 486 s
    assert pacer.pauses == 1
    pacer.release(held)
    before = clock.now()
    pacer.release(pacer.wait({"m": 5}))
    assert pacer.pauses == 1 and clock.now() == before


def test_portal_times_are_turned_into_ours_with_the_clock_offset() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    first = _calls(pacer, clock, 70, 7.0, 8.0, behind=30.0)  # 490 s; the portal's clock 30 s behind ours
    pacer.wait({"m": 1})
    assert clock.now().timestamp() == first + 8 + 600 + 30 + pacer.margin  # the portal's drop-off, our time


def test_a_reply_that_says_older_buckets_dropped_off_frees_their_room() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    first = _calls(pacer, clock, 70, 7.0, 8.0)  # 490 s by first + 552 s
    clock.advance(6)
    start = clock.now().timestamp()
    # The portal's oldest bucket began at first + 120 s and its sum is 390 s: the calls before are gone.
    pacer.observe(
        "m", {"start": start, "finish": start, "operating": 390.0, "operating_reset_at": first + 720}
    )
    before = clock.now()
    pacer.wait({"m": 1})
    assert pacer.pauses == 0 and clock.now() == before


def test_a_reply_older_than_one_already_counted_changes_nothing() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    first = _calls(pacer, clock, 67, 7.0, 8.0)  # 469 s
    # A request that was in flight alongside: its call came before the newest one, whose sum already holds it.
    pacer.observe("m", {"start": first + 300, "finish": first + 300, "operating": 260.0})
    pacer.wait({"m": 3})  # 469 + 14 before its third call: must wait, whatever that older reply said
    assert pacer.pauses == 1


def test_after_a_429_the_method_waits_for_the_reported_reset() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    now = clock.now().timestamp()
    pacer.observe("m", {"start": now, "finish": now, "operating": 1.0, "operating_reset_at": now + 100})
    pacer.blocked("m")  # refused anyway (another app of the same webhook, say)
    pacer.wait({"other": 1})
    assert clock.now().timestamp() == now  # other methods go on
    pacer.wait({"m": 1})
    assert clock.now().timestamp() >= now + 100
