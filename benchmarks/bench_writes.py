"""(a) + (b): N deals with product rows written through our client, then through fast_bitrix24, in one run.

Each client gets a fresh sandbox portal (in a child process) with the standard plan's bucket scaled: burst 50,
drain 2 req/s × --scale (20 req/s by default). Ours: DealWriter (25 deals + 25 `crm.deal.productrows.set` = 50
commands per batch) driven page by page through engine/settle.apply_settled, as a real run applies a page. fast_bitrix24:
its documented bulk path, `call("crm.deal.add", items)` then `call("crm.deal.productrows.set", items)`, each
batched 50 commands per request; its throttle is configured to the same scaled plan
(`request_pool_size=burst`, `requests_per_second=drain`).

    .venv/bin/python benchmarks/bench_writes.py [--n 10000] [--scale 10] [--only ours|fast]
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from common import (
    EXTERNAL_KEY,
    RemoteSandbox,
    SandboxSpec,
    create_actions,
    deal_records,
    fast_items,
    figure,
    header,
    our_client,
    parser,
    ratio,
    remote_sandbox,
)

from connector.engine.settle import apply_settled
from connector.errors import OutcomeUnknown
from connector.flows.orders.target import DealWriter
from connector.records import Mapped

PAGE = 500  # records per page: config.onec.page_size's default


@dataclass
class RunResult:
    """What one client did against one fresh portal."""

    name: str
    seconds: float
    client_requests: int
    census: dict[str, Any]
    calls: dict[str, Any]
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def run_ours(
    sandbox: RemoteSandbox, records: list[Mapped], page: int = PAGE, margin: float = 1.0, paced: bool = True
) -> RunResult:
    """DealWriter through apply_settled (recovery by external key on OutcomeUnknown), one page at a time.

    `margin`: requests of the bucket the client pacer leaves unused (1 = as RequestPacer.for_plan in app.py);
    `paced=False`: no pacer at all (the client only reacts to 503s)."""
    client = our_client(sandbox.webhook_url, sandbox.burst - margin, sandbox.rate, paced=paced)
    writer = DealWriter(client, EXTERNAL_KEY)
    failed = 0
    gave_up = 0
    started = time.perf_counter()
    for i in range(0, len(records), page):
        try:
            outcomes = apply_settled(writer, create_actions(records[i : i + page]), "bench")
        except OutcomeUnknown:
            gave_up += 1  # the next run would recover this page from its intents
            continue
        failed += sum(1 for o in outcomes if o.status == "failed")
    seconds = time.perf_counter() - started
    name = "ours (Bitrix24Client + DealWriter + apply_settled)"
    name += f", pacer margin {margin:g}" if margin != 1 else ""
    name += "" if paced else ", PACER OFF"
    result = RunResult(
        name,
        seconds,
        client.stats.requests,
        sandbox.ask("census", [r.key for r in records], {r.key: len(r.rows or []) for r in records}),
        sandbox.ask("calls"),
        failed,
    )
    result.extra = {
        "by_method": dict(client.stats.by_method),
        "commands": client.stats.commands,
        "retries": client.stats.retries,
        "pages_given_up": gave_up,
        "pacer_waited": client.pacer.waited if client.pacer else 0.0,
    }
    return result


def run_fast(
    sandbox: RemoteSandbox, records: list[Mapped], pool: float, rps: float, concurrency: int | None = None
) -> RunResult:
    """fast_bitrix24's bulk `call` for the deals, then for their product rows (ids matched back in order)."""
    import asyncio
    import logging

    from fast_bitrix24 import Bitrix

    logging.getLogger("fast_bitrix24").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # its abandoned tasks after a give-up
    asyncio.set_event_loop(asyncio.new_event_loop())
    bx = Bitrix(
        sandbox.webhook_url,
        verbose=False,
        request_pool_size=int(pool),
        requests_per_second=rps,
        batch_size=50,
    )
    notes: list[str] = []
    gave_up = 0
    slow = bx.slow(concurrency) if concurrency else contextlib.nullcontext()
    started = time.perf_counter()
    with slow:
        try:
            ids = bx.call("crm.deal.add", fast_items(records))
            ids = list(ids) if isinstance(ids, tuple | list) else [ids]
            if len(ids) != len(records):
                notes.append(f"crm.deal.add returned {len(ids)} ids for {len(records)} deals")
            rows = [
                {"id": deal_id, "rows": r.rows}
                for deal_id, r in zip(ids, records, strict=False)
                if isinstance(deal_id, int | str)
            ]
            bx.call("crm.deal.productrows.set", rows)
        except Exception as exc:  # fast_bitrix24 gives up after 10 failures in a row
            gave_up = 1
            notes.append(f"GAVE UP: {type(exc).__name__}: {exc} (cause: {type(exc.__cause__).__name__})")
    seconds = time.perf_counter() - started
    calls = sandbox.ask("calls")
    name = f"fast_bitrix24 call(list), throttle pool {pool:g}, {rps:g} req/s"
    name += f", slow({concurrency})" if concurrency else ", default concurrency (50)"
    return RunResult(
        name,
        seconds,
        calls["requests"],
        sandbox.ask("census", [r.key for r in records], {r.key: len(r.rows or []) for r in records}),
        calls,
        failed=gave_up,
        notes=notes,
    )


def report(result: RunResult, sandbox: RemoteSandbox, n: int) -> None:
    calls = result.calls
    header(result.name)
    ok = calls["ok"]
    figure("deals written", n)
    figure("seconds", result.seconds, "s")
    figure(
        "requests sent (portal: 200 / 503 / faults)",
        f"{calls['requests']} ({ok} / {calls['503']} / {calls['faults']})",
    )
    figure(
        "items per request (deals / commands)",
        f"{n / max(ok, 1):.1f} / {calls['sub_commands'] / max(ok, 1):.1f}",
    )
    figure("requests/s achieved", ok / result.seconds, "req/s")
    figure("requests/s allowed (drain; burst)", f"{sandbox.rate:g} req/s; {sandbox.burst:g}")
    allowance = sandbox.burst + sandbox.rate * result.seconds
    figure("ceiling: burst + drain × seconds", allowance, "requests")
    # Met only at the ceiling without a refusal: a client that overruns the bucket and retries its 503s can fill
    # the ceiling too, but a real portal shared with other integrations (and its ban on abusers) punishes that.
    refused = calls["503"] + calls["429"]
    ratio(
        "ratio to the ceiling (requests / ceiling)",
        ok / allowance,
        "≥ 95% with 0 × 503/429",
        ok / allowance >= 0.95 and refused == 0,
    )
    c = result.census
    figure("deals in portal / distinct keys / missing", f"{c['deals']} / {c['distinct']} / {c['missing']}")
    figure("duplicates (per ORIGIN_ID / per TITLE)", f"{c['dup_origin']} / {c['dup_title']}")
    figure("keys without their product rows", c["rows_bad"])
    if result.failed:
        figure("failed outcomes", result.failed)
    for key, value in result.extra.items():
        figure(key, value if not isinstance(value, float) else round(value, 3))
    for note in result.notes:
        figure("note", note)


def main() -> None:
    p = parser(__doc__.splitlines()[0], 10_000)
    p.add_argument(
        "--scale", type=float, default=10.0, help="multiply the standard drain of 2 req/s (default 10)"
    )
    p.add_argument("--burst", type=float, default=50.0, help="bucket size (default 50, the standard plan)")
    p.add_argument("--only", choices=["ours", "fast"], default=None)
    p.add_argument(
        "--margin",
        type=float,
        default=1.0,
        help="requests of the bucket our pacer leaves unused (default 1, as RequestPacer.for_plan in app.py)",
    )
    p.add_argument(
        "--fast-pool", type=float, default=None, help="fast_bitrix24 request_pool_size (default: burst)"
    )
    p.add_argument(
        "--fast-concurrency",
        type=int,
        default=None,
        help="wrap fast_bitrix24 in bx.slow(N) (default: its own 50 concurrent requests)",
    )
    p.add_argument(
        "--fast-rps", type=float, default=None, help="fast_bitrix24 requests_per_second (default: the drain)"
    )
    p.add_argument("--no-pacer", action="store_true", help="our client without its pacer (shows 'MISSED')")
    args = p.parse_args()
    records = deal_records(args.n, args.seed)
    spec = SandboxSpec(scale=args.scale, burst=args.burst)
    header(
        "(a)/(b) writes: deals with product rows",
        [
            f"{args.n:,} deals, {sum(len(r.rows or []) for r in records):,} product rows; portal: standard plan, burst "
            f"{args.burst:g}, drain {2 * args.scale:g} req/s (scale {args.scale:g}); emulator in a child process"
        ],
    )
    results: dict[str, RunResult] = {}
    if args.only in (None, "ours"):
        with remote_sandbox(spec) as sandbox:
            results["ours"] = run_ours(sandbox, records, margin=args.margin, paced=not args.no_pacer)
            report(results["ours"], sandbox, args.n)
    if args.only in (None, "fast"):
        # Its defaults first (50 concurrent requests); then bx.slow(1) and bx.slow(2), its documented remedy for
        # 503s, unless a concurrency was given.
        for n, concurrency in enumerate([args.fast_concurrency] if args.fast_concurrency else [None, 1, 2]):
            with remote_sandbox(spec) as sandbox:
                results[f"fast{n}"] = run_fast(
                    sandbox,
                    records,
                    args.fast_pool or sandbox.burst,
                    args.fast_rps or sandbox.rate,
                    concurrency,
                )
                report(results[f"fast{n}"], sandbox, args.n)
    compare(results)


def compare(results: dict[str, RunResult]) -> None:
    """Our time / theirs: against the fastest fast_bitrix24 run that finished, and the fastest that was also right."""
    finished = [r for k, r in results.items() if k.startswith("fast") and not r.failed]
    if "ours" not in results or not finished:
        return
    ours = results["ours"].seconds
    right = [
        r for r in finished if not (r.census["rows_bad"] or r.census["dup_origin"] or r.census["missing"])
    ]
    header("(b) ours vs fast_bitrix24 (target ≤ 1.0)")
    for label, pool in (("fastest finished", finished), ("fastest correct", right)):
        if not pool:
            figure(f"our time / theirs ({label})", "no such fast_bitrix24 run")
            continue
        best = min(pool, key=lambda r: r.seconds)
        figure(
            f"our time / theirs ({label})",
            f"{ours:.2f} s / {best.seconds:.2f} s = {ours / best.seconds:.3f}  "
            f"({'met' if ours <= best.seconds else 'MISSED'}; {best.name.split(', ')[-1]})",
        )


if __name__ == "__main__":
    main()
