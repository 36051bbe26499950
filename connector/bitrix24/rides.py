"""Reads that ride in a write batch with room: a backfill's next page is read in the request that ends this one.

A backfill plans the next page (reads only) while the page before is written (engine/readahead.py). Each page's
writes end on a partly filled `batch`, and the next page's first read round (its lookup by external key, what the
target holds) would be a request of its own. Here the planner's read batch waits while the page is being written,
and the first write batch with room takes it: the read's commands go after the writes, under keys of their own,
and each side gets back exactly its own results, errors and paging, as if it had sent alone. Within one batch the
portal runs commands in order, so the read sees the page's writes; the pages hold different records (the runner
plans a page again if a page before linked one of its records), so that is what it would have seen anyway.

Bounded and safe by construction:
- only a thread inside `planning()` offers, and only while some page is inside `writing()`; anywhere else (an
  incremental cycle, a dry run, the main thread) a read is sent at once, as before;
- when the runner is about to wait for the planner (`idle`) or its pages end, every offer not taken is handed
  back and sent by its own thread, and reads offered while it waits go at once;
- a write batch with room waits for the planner to offer only while a planner is at work and nothing is waiting,
  at most `WAIT_S` (what a slow planner costs is then one request, not a stalled page);
- an offer nobody took or handed back within `HOLD_S` is withdrawn and sent alone (a safety bound: the runner hands
  every offer back when its pages end or it waits);
- a write batch sent with `halt` takes no rider (a failed write would stop the reads after it);
- a lost reply or an error of the write batch hands the riders back: each sends its read again itself (reads are
  safe to repeat).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from connector.bitrix24.replies import BatchReply

Commands = Mapping[str, tuple[str, Mapping[str, Any]]]
WAIT_S = 10.0  # the longest a write batch with room waits for a planner at work to offer its read
# The longest an offer waits to be taken (a page of writes on the standard plan takes about 30 s).
HOLD_S = 300.0


@dataclass
class Offer:
    """A planner's read batch waiting for a write batch with room."""

    commands: dict[str, tuple[str, Mapping[str, Any]]]
    prefix: str = ""
    reply: BatchReply | None = None
    done: bool = False  # answered (reply set) or handed back (reply None: send it yourself)
    cond: threading.Condition = field(default_factory=threading.Condition, repr=False)


class Rides:
    """The meeting point of one client's planner reads and its write batches (see the module's docstring)."""

    def __init__(self, wait_s: float = WAIT_S, hold_s: float = HOLD_S) -> None:
        self.wait_s = wait_s
        self.hold_s = hold_s
        self._lock = threading.Condition()
        self._offers: list[Offer] = []
        self._planners = 0
        self._writing = 0
        self._idle = False
        self._serial = 0
        self._local = threading.local()
        self.enabled = True  # False: every read is sent on its own (benchmarks show the difference)
        self.taken = 0  # offers that rode (for reports and tests)
        self.handed_back = 0

    # -- the runner -----------------------------------------------------------------------------------------------

    @contextmanager
    def planning(self) -> Iterator[None]:
        """The calling thread plans a page ahead: its read batches may ride in the page being written."""
        with self._lock:
            self._planners += 1
        self._local.planner = True
        try:
            yield
        finally:
            self._local.planner = False
            with self._lock:
                self._planners -= 1
                self._lock.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Pages are being written: planner reads wait for their write batches (until `idle`, or the end)."""
        with self._lock:
            self._writing += 1
        try:
            yield
        finally:
            with self._lock:
                self._writing -= 1
                last = not self._writing
            if last:
                self._hand_back_all()

    @contextmanager
    def idle(self) -> Iterator[None]:
        """The runner waits for the planner: every offer not taken is sent by its own thread, and reads offered
        meanwhile go at once (nothing is written until the runner has the page it waits for)."""
        with self._lock:
            self._idle = True
        self._hand_back_all()
        try:
            yield
        finally:
            self.fed()

    def fed(self) -> None:
        """The planner has handed the runner what it waited for: the runner writes again (its reads may ride)."""
        with self._lock:
            self._idle = False

    # -- a reader -------------------------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether a read batch sent from this thread now may ride in a write batch."""
        return (
            self.enabled and getattr(self._local, "planner", False) and self._writing > 0 and not self._idle
        )

    def ride(self, commands: Commands) -> BatchReply | None:
        """The reply to `commands` from a write batch that carried them, or None: send them yourself."""
        if not self.ready():
            return None
        with self._lock:
            if not self._writing or self._idle:  # checked again where it counts: under the lock
                return None
            self._serial += 1
            offer = Offer(dict(commands), prefix=f"ride{self._serial}_")
            self._offers.append(offer)
            self._lock.notify_all()
        deadline = time.monotonic() + self.hold_s  # a safety bound: the runner hands every offer back
        with offer.cond:
            while not offer.done:
                offer.cond.wait(timeout=1.0)  # woken by delivery or hand-back; the timeout only re-checks
                if not offer.done and time.monotonic() > deadline and self._withdraw(offer):
                    return None  # never taken: sent alone (a taken one is answered when its batch is)
        return offer.reply

    def _withdraw(self, offer: Offer) -> bool:
        with self._lock:
            if offer not in self._offers:
                return False
            self._offers.remove(offer)
            self.handed_back += 1
            return True

    # -- a writer -------------------------------------------------------------------------------------------------

    def take(self, room: int, used: set[str]) -> list[Offer]:
        """Offers that fit `room` more commands (in the order they came), taken off the queue. Waits for a planner
        at work to offer, at most `wait_s`, when nothing waits yet and a page is being written."""
        if room <= 0:
            return []
        deadline = time.monotonic() + self.wait_s  # a safety bound, not a clock of the run
        with self._lock:
            while not self._offers and self._planners and self._writing and not self._idle:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(timeout=min(left, 1.0))
            out: list[Offer] = []
            for offer in list(self._offers):
                keys = {offer.prefix + k for k in offer.commands}
                if len(offer.commands) <= room and not keys & used:
                    out.append(offer)
                    self._offers.remove(offer)
                    room -= len(offer.commands)
            return out

    def merged(self, offers: list[Offer]) -> dict[str, tuple[str, Mapping[str, Any]]]:
        """The riders' commands under their prefixed keys."""
        return {o.prefix + k: c for o in offers for k, c in o.commands.items()}

    def deliver(self, offers: list[Offer], reply: BatchReply) -> BatchReply:
        """Each rider's part of `reply` to it; what is left is the writer's own."""
        fields = ("result", "errors", "total", "next", "time")
        mine = BatchReply(*(dict(getattr(reply, name)) for name in fields))
        for offer in offers:
            part = BatchReply({}, {}, {}, {}, {})
            for name in fields:
                src, dst = getattr(mine, name), getattr(part, name)
                for key in [k for k in src if k.startswith(offer.prefix)]:
                    dst[key[len(offer.prefix) :]] = src.pop(key)
            self._answer(offer, part)
        with self._lock:
            self.taken += len(offers)
        return mine

    def hand_back(self, offers: list[Offer]) -> None:
        """The write batch failed or lost its reply: each rider sends its read itself."""
        for offer in offers:
            self._hand_back(offer)

    def _hand_back_all(self) -> None:
        """Every offer not taken is sent by its own thread."""
        with self._lock:
            left, self._offers = self._offers, []
        for offer in left:
            self._hand_back(offer)

    def _hand_back(self, offer: Offer) -> None:
        with self._lock:
            self.handed_back += 1
        self._answer(offer, None)

    @staticmethod
    def _answer(offer: Offer, reply: BatchReply | None) -> None:
        with offer.cond:
            offer.reply = reply
            offer.done = True
            offer.cond.notify_all()
