"""(e): a write run that needs three times the per-method operating-time budget; 429s and time lost waiting.

Simulated time: the portal and our client share one ManualClock (sleeping advances it), so ten-minute windows
cost nothing. The portal (in-process) charges each `crm.deal.add` --cost simulated seconds of server time (and
`crm.deal.productrows.set` a fifth of it), and the clock moves by that cost while the call runs (the benchmark
wraps the two handlers), so a sequential client spends server time at most as fast as time passes; the budget is
the real one, 480 s per method per 10 minutes. N is
chosen so the run needs --times × the budget for `crm.deal.add`. Ours paces from each reply's `operating` /
`operating_reset_at` (OperatingPacer); for contrast the same run with a reactive client (a pacer whose limit is
never reached, so it only learns from the portal's 429s). Reference: a lower bound on the run, the larger of
its own server time (one sequential client) and (budgets − 1) × 600 s (each window used to the full budget).

    .venv/bin/python benchmarks/bench_operating_time.py [--times 3] [--cost 0.4] [--only ours|reactive]
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

from connector.clock import ManualClock
from connector.engine.settle import apply_settled
from connector.errors import OutcomeUnknown
from connector.flows.orders.target import DealWriter
from connector.ratelimit import OperatingPacer

LIMIT = 480.0
WINDOW = 600.0


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


def run(label: str, n: int, cost: float, seed: int, reactive: bool, advance: bool) -> None:
    clock = ManualClock()
    costs = {"crm.deal.add": cost, "crm.deal.productrows.set": cost / 5}
    options = SandboxOptions(orders=0, rate_limit="standard", method_cost=costs)
    records = deal_records(n, seed)
    with Sandbox(options, clock=clock) as sandbox, server_time(clock, costs if advance else {}):
        operating = OperatingPacer(clock, limit=1e12) if reactive else OperatingPacer(clock)
        client = our_client(sandbox.webhook_url, 50, 2.0, clock=clock, operating=operating)
        writer = DealWriter(client, EXTERNAL_KEY)
        start_sim = clock.monotonic()
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
    # Lower bound: the run's own server time (a sequential client) and the budget's windows.
    best = max(
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
    figure("lower bound: max(server time, full windows)", best, "s")
    figure("time lost waiting (run − lower bound)", simulated - best, "s")
    if simulated > 0:
        print(f"   {'lower bound / simulated run':<44} {best / simulated:.1%}")
    figure("duplicates / keys without rows", f"{census['dup_origin']} / {census['rows_bad']}")
    if errors:
        figure("first failed outcome", errors[0][:110])
    figure("wall time of this simulation", wall, "s")
    print(
        f"   → {'target zero 429s: ' + ('met' if calls['429'] == 0 else 'MISSED') if not reactive else 'contrast'}"
    )


def main() -> None:
    from common import parser

    p = parser(__doc__.splitlines()[0], 0)
    p.add_argument("--times", type=float, default=3.0, help="the run needs this many budgets (default 3)")
    p.add_argument("--cost", type=float, default=0.4, help="simulated seconds per crm.deal.add (default 0.4)")
    p.add_argument("--only", choices=["ours", "reactive"], default=None)
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
        run(
            "ours: OperatingPacer (paces from time.operating)",
            n,
            args.cost,
            args.seed,
            reactive=False,
            advance=not args.instant,
        )
    if args.only in (None, "reactive"):
        run(
            "contrast: reactive (learns only from 429s)",
            n,
            args.cost,
            args.seed,
            reactive=True,
            advance=not args.instant,
        )


if __name__ == "__main__":
    main()
