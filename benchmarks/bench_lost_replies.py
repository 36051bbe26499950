"""(c): the writes of (a) and (b) again, with 5% of write requests committed but their reply lost.

The portal (child process) runs FaultInjector({"lost_reply": 0.05}, seed): a batch that writes executes, then the
connection is reset before the reply. Ours: DealWriter raises OutcomeUnknown; FlowRunner._apply (connector/engine/runner.py)
looks the page's creates up by ORIGIN_ID and applies again as updates. fast_bitrix24 retries the batch as a
transport error. Duplicates are counted in the emulator's store per ORIGIN_ID and per TITLE (target: zero).

    .venv/bin/python benchmarks/bench_lost_replies.py [--n 5000] [--rate 0.05] [--scale 10]
"""

from __future__ import annotations

from bench_writes import RunResult, compare, report, run_fast, run_ours
from common import SandboxSpec, deal_records, figure, header, parser, remote_sandbox


def main() -> None:
    p = parser(__doc__.splitlines()[0], 5_000)
    p.add_argument("--rate", type=float, default=0.05, help="share of write requests whose reply is lost")
    p.add_argument(
        "--scale", type=float, default=10.0, help="multiply the standard drain of 2 req/s (default 10)"
    )
    p.add_argument("--page", type=int, default=500, help="records per page in our flow (default 500)")
    p.add_argument("--margin", type=float, default=0.0, help="requests of the bucket our pacer leaves unused")
    p.add_argument(
        "--fast-concurrency",
        type=int,
        action="append",
        default=None,
        help="bx.slow(N) for fast_bitrix24; repeatable (default: its defaults, then slow(1), slow(2))",
    )
    args = p.parse_args()
    records = deal_records(args.n, args.seed)
    spec = SandboxSpec(scale=args.scale, burst=50, faults={"lost_reply": args.rate}, fault_seed=args.seed)
    header(
        "(c) writes with lost replies",
        [
            f"{args.n:,} deals with rows; lost_reply {args.rate:.0%} of write requests (seed {args.seed}); burst 50, "
            f"drain {2 * args.scale:g} req/s"
        ],
    )
    results: dict[str, RunResult] = {}
    with remote_sandbox(spec) as sandbox:
        results["ours"] = run_ours(sandbox, records, page=args.page, margin=args.margin)
        faults = sandbox.ask("faults")
        report(results["ours"], sandbox, args.n)
        figure("lost replies injected", faults.get("lost_reply", 0))
    for n, concurrency in enumerate(args.fast_concurrency or [0, 1, 2]):
        with remote_sandbox(spec) as sandbox:
            result = run_fast(sandbox, records, sandbox.burst, sandbox.rate, concurrency or None)
            results[f"fast{n}"] = result
            faults = sandbox.ask("faults")
            report(result, sandbox, args.n)
            figure("lost replies injected", faults.get("lost_reply", 0))
    header("(c) duplicates created (target: zero)")
    for result in results.values():
        c = result.census
        label = "ours" if result.name.startswith("ours") else "fast_bitrix24, " + result.name.split(", ")[-1]
        figure(
            label[:44],
            f"{c['dup_origin']} per ORIGIN_ID, {c['dup_title']} per TITLE; "
            f"{c['missing']} missing; {c['rows_bad']} keys without their rows"
            + ("; gave up" if result.failed and result.name.startswith("fast") else ""),
        )
    compare(results)


if __name__ == "__main__":
    main()
