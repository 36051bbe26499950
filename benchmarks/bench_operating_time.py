"""(e): a write run that needs three times the per-method operating-time budget; 429s and time lost waiting.

Simulated time: the portal and our client share one ManualClock (sleeping advances it), so ten-minute windows
cost nothing. The portal (in-process) charges each `crm.deal.add` --cost simulated seconds of server time (and
`crm.deal.productrows.set` a fifth of it), and the clock moves by that cost while the call runs (the benchmark
wraps the two handlers), so a sequential client spends server time at most as fast as time passes; the budget is
the real one, 480 s per method per 10 minutes. N is chosen so the run needs --times × the budget for
`crm.deal.add`. Ours paces from each reply's `operating` / `operating_reset_at` / `start` (OperatingPacer: waits
until enough of the window has refilled for the next request's calls). For contrast: `--pacing window`, the pacer
as it was before (pauses until the oldest bucket's reset whenever 90 % of the budget is used), and a reactive
client (a pacer whose limit is never reached, so it only learns from the portal's 429s).

Lower bound: the shortest run the budget allows for this workload, computed by replaying the run's calls (per deal
its add, then its product rows; one request at a time, 25 deals per request, no faster than the 2 req/s bucket)
against the emulator's own OperatingBudget, each call sent the moment the portal would run it — a client that
knew the portal's buckets exactly (sending a call earlier never makes a bucket drop later, so this is the
fastest). The formula printed before, max(server time, (budgets − 1) × 600 s), is shown too: it is lower, but no
schedule reaches it when the budget binds.

    .venv/bin/python benchmarks/bench_operating_time.py [--times 3] [--cost 0.4] [--only ours|reactive]
        [--pacing refill|window] [--instant]
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from b24_1c_sandbox.runner import Sandbox, SandboxOptions
from common import (
    EXTERNAL_KEY,
    call_summary,
    create_actions,
    deal_census,
    deal_records,
    figure,
    header,
    our_client,
)

from connector.clock import Clock, ManualClock
from connector.engine.settle import apply_settled
from connector.errors import OutcomeUnknown
from connector.flows.orders.target import DealWriter
from connector.ratelimit import OperatingPacer

LIMIT = 480.0
WINDOW = 600.0
PER_REQUEST = 25  # deals per batch (DealWriter's default): 25 adds + 25 productrows.set


class WindowPausingPacer(OperatingPacer):
    """The pacer as it was before (for contrast): when a method's use plus the next request's reaches 90 % of
    the budget, wait until the oldest bucket's reset, then guess what dropped off."""

    def __init__(self, clock: Clock, limit: float = LIMIT, headroom: float = 0.9) -> None:
        super().__init__(clock, limit, headroom)
        self._old_used: dict[str, float] = {}
        self._old_reset: dict[str, float] = {}
        self._old_cost: dict[str, float] = {}

    def observe(self, method: str, time_block: dict[str, object]) -> None:
        used = time_block.get("operating")
        if not isinstance(used, int | float):
            return
        reset = time_block.get("operating_reset_at")
        duration = time_block.get("processing", time_block.get("duration", 0.0))
        self._old_used[method] = float(used)
        if isinstance(reset, int | float):
            self._old_reset[method] = float(reset)
        if isinstance(duration, int | float):
            self._old_cost[method] = max(self._old_cost.get(method, 0.0) * 0.9, float(duration))

    def blocked(self, method: str) -> None:
        self._old_used[method] = max(self._old_used.get(method, 0.0), self.limit + 1)

    def wait(self, methods: dict[str, int]) -> dict[str, float]:
        for method, count in methods.items():
            used = self._old_used.get(method, 0.0)
            projected = used + self._old_cost.get(method, 0.0) * count
            reset = self._old_reset.get(method)
            if projected < self.limit or reset is None:
                continue
            delay = reset - self.clock.now().timestamp() + 0.5
            if delay > 0:
                self.pauses += 1
                self.paused_seconds += delay
                self.clock.sleep(delay)
            self._old_used[method] = max(0.0, used - self._old_cost.get(method, 0.0) * 60)
            self._old_reset.pop(method, None)
        return {}


def shortest_run(n: int, cost: float, advance: bool, start: float, burst: float, rate: float) -> float:
    """The fastest one sequential client can run the benchmark's calls under the emulator's own operating
    budget: each call the moment the portal would run it, each request when the leaky bucket admits it."""
    from b24_1c_sandbox.bitrix24.limits import OperatingBudget

    budget = OperatingBudget(LIMIT)
    calls = (("crm.deal.add", cost), ("crm.deal.productrows.set", cost / 5))
    t = start
    for request in range(math.ceil(n / PER_REQUEST)):
        t = max(t, start + max(0.0, request + 1 - burst) / rate)  # the request counter admits it
        for _ in range(min(PER_REQUEST, n - request * PER_REQUEST)):
            for name, seconds in calls:
                if budget.blocked(name, t):
                    while budget.blocked(name, t + 1.0):  # to the second, then to the hundredth
                        t += 1.0
                    while budget.blocked(name, t):
                        t += 0.01
                budget.record(name, t, seconds)
                t += seconds if advance else 0.0
    return t - start


@contextmanager
def server_time(clock: ManualClock, costs: dict[str, float]) -> Iterator[None]:
    """While a costed method runs on the portal, the shared clock moves by its cost."""
    from b24_1c_sandbox.bitrix24.registry import METHODS

    saved = {name: METHODS[name].handler for name in costs}

    def slow(name: str, handler: Any) -> Any:
        def wrapped(portal: Any, params: dict[str, Any], ctx: Any) -> Any:
            clock.advance(costs[name])
            return handler(portal, params, ctx)

        return wrapped

    for name, handler in saved.items():
        object.__setattr__(METHODS[name], "handler", slow(name, handler))
    try:
        yield
    finally:
        for name, handler in saved.items():
            object.__setattr__(METHODS[name], "handler", handler)


def run(label: str, n: int, cost: float, seed: int, pacing: str, advance: bool) -> None:
    clock = ManualClock()
    costs = {"crm.deal.add": cost, "crm.deal.productrows.set": cost / 5}
    options = SandboxOptions(orders=0, rate_limit="standard", method_cost=costs)
    records = deal_records(n, seed)
    with Sandbox(options, clock=clock) as sandbox, server_time(clock, costs if advance else {}):
        operating = {
            "refill": lambda: OperatingPacer(clock),
            "window": lambda: WindowPausingPacer(clock),
            "reactive": lambda: OperatingPacer(clock, limit=1e12),
        }[pacing]()
        client = our_client(sandbox.webhook_url, 50, 2.0, clock=clock, operating=operating)
        writer = DealWriter(client, EXTERNAL_KEY)
        start_sim = clock.monotonic()
        shortest = shortest_run(n, cost, advance, start_sim, 50, 2.0)
        start_wall = time.perf_counter()
        failed = gave_up = 0
        errors: list[str] = []
        for i in range(0, n, 500):
            try:
                outcomes = apply_settled(writer, create_actions(records[i : i + 500]), "bench")
            except OutcomeUnknown:
                gave_up += 1
                continue
            failed += sum(1 for o in outcomes if o.status == "failed")
            errors.extend(o.error or "" for o in outcomes if o.status == "failed")
        simulated = clock.monotonic() - start_sim
        wall = time.perf_counter() - start_wall
        calls = call_summary(sandbox.portal)
        census = deal_census(
            sandbox.portal, [r.key for r in records], {r.key: len(r.rows or []) for r in records}
        )
    need = n * cost
    # The formula used before: the run's own server time, or the budget's windows used to the full.
    formula = max(
        n * (cost + cost / 5) if advance else 0.0, max(0.0, math.ceil(need / LIMIT - 1e-9) - 1) * WINDOW
    )
    header(label)
    figure("deals written / failed outcomes", f"{n - census['missing']:,} / {failed}")
    figure("crm.deal.add server time needed", f"{need:,.0f} s = {need / LIMIT:.2f} × the {LIMIT:g} s budget")
    figure("429 OPERATION_TIME_LIMIT (portal's count)", calls["429"])
    figure("requests (200 / 503)", f"{calls['ok']} / {calls['503']}")
    figure("simulated run time", simulated, "s")
    figure("paused by OperatingPacer", f"{operating.paused_seconds:,.1f} s in {operating.pauses} pauses")
    figure("paused by RequestPacer (2 req/s)", client.pacer.waited if client.pacer else 0.0, "s")
    figure("retries (client)", client.stats.retries)
    figure("lower bound: shortest run the budget allows", shortest, "s")
    figure("time lost waiting (run − lower bound)", simulated - shortest, "s")
    if simulated > 0:
        print(f"   {'run / lower bound (goal ≤ 1.05)':<44} {simulated / shortest:.3f}")
        print(f"   {'lower bound / run':<44} {shortest / simulated:.1%}")
        print(
            f"   {'formula max(server time, full windows)':<44} {formula:,.1f} s; run / formula {simulated / formula:.3f}"
        )
    figure("duplicates / keys without rows", f"{census['dup_origin']} / {census['rows_bad']}")
    if errors:
        figure("first failed outcome", errors[0][:110])
    figure("wall time of this simulation", wall, "s")
    if pacing == "refill":
        zero = "met" if calls["429"] == 0 else "MISSED"
        near = "met" if simulated <= 1.05 * shortest else "MISSED"
        print(f"   → zero 429s: {zero}; within 5 % of the lower bound: {near}")
    else:
        print("   → contrast")


def main() -> None:
    from common import parser

    p = parser(__doc__.splitlines()[0], 0)
    p.add_argument("--times", type=float, default=3.0, help="the run needs this many budgets (default 3)")
    p.add_argument("--cost", type=float, default=0.4, help="simulated seconds per crm.deal.add (default 0.4)")
    p.add_argument("--only", choices=["ours", "reactive"], default=None)
    p.add_argument(
        "--pacing",
        choices=["refill", "window"],
        default="refill",
        help="ours (refill, default) or the pacer as it was before (window)",
    )
    p.add_argument(
        "--instant", action="store_true", help="calls take no simulated time (only the budget counts)"
    )
    args = p.parse_args()
    n = args.n or int(args.times * LIMIT / args.cost)
    header(
        "(e) operating-time budget",
        [
            f"{n:,} deals with rows in batches of 25; crm.deal.add costs {args.cost:g} s of server time "
            f"(productrows.set {args.cost / 5:g} s); budget {LIMIT:g} s per method per {WINDOW:g} s; standard plan "
            "2 req/s, burst 50; ManualClock (simulated time"
            + (", calls take no time)" if args.instant else ", a call takes its cost)")
        ],
    )
    if args.only in (None, "ours"):
        label = {
            "refill": "ours: OperatingPacer (waits for the window's refill)",
            "window": "contrast: the old pacer (pauses until the oldest bucket's reset at 90 %)",
        }[args.pacing]
        run(label, n, args.cost, args.seed, args.pacing, advance=not args.instant)
    if args.only in (None, "reactive"):
        run(
            "contrast: reactive (learns only from 429s)",
            n,
            args.cost,
            args.seed,
            "reactive",
            advance=not args.instant,
        )


if __name__ == "__main__":
    main()
