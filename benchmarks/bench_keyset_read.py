"""(d): a full keyset read of 100,000 deals with Bitrix24Client.list_fast (50 chained sub-lists per batch).

The deals are seeded straight into the portal's store (child process, no HTTP). The reference is the request
ceiling: 2,500 rows per request × the allowed request rate. The bucket (standard: burst 50) starts full, as after earlier
work in the same run, so that the drain alone is the ceiling (from an empty bucket the whole read — 40 requests —
would fit in the burst and the figure would measure the emulator, not the pacing); `--empty-bucket` starts empty.

The stock emulator answers every sub-list by scanning and sorting the whole store (~1 s per sub-list at 100,000
deals, i.e. ~50 s per request): far slower than a real portal, whose `>ID` + `ORDER BY ID` + no COUNT
(`start=-1`) is an index range scan. By default this benchmark therefore answers `>ID`/`order ID ASC`/`start=-1`
lists from an ID index (benchmarks/common.py install_indexed_keyset): the stock handler runs over the next
candidates in ID order, so rows are the stock handler's own; the child checks that on sample cursors and the
benchmark prints the check. `--stock-emulator` turns that off (use a small --n).

    .venv/bin/python benchmarks/bench_keyset_read.py [--n 100000] [--rate 2] [--empty-bucket] [--stock-emulator]
"""

from __future__ import annotations

import time

from common import SandboxSpec, figure, fill_pacer, header, our_client, parser, ratio, remote_sandbox

from connector.bitrix24.client import BATCH_LIMIT, PAGE

SELECT = [
    "ID",
    "TITLE",
    "STAGE_ID",
    "OPPORTUNITY",
    "CURRENCY_ID",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
    "DATE_MODIFY",
]


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument(
        "--rate", type=float, default=2.0, help="allowed requests per second (default 2, standard plan)"
    )
    p.add_argument("--burst", type=float, default=50.0, help="bucket size (default 50, the standard plan)")
    p.add_argument(
        "--empty-bucket", action="store_true", help="start with an empty bucket instead of a full one"
    )
    p.add_argument(
        "--select",
        choices=["sync", "all"],
        default="sync",
        help="sync: the 8 fields a sync reads (default); all: every standard field",
    )
    p.add_argument("--stock-emulator", action="store_true", help="scan the whole store per sub-list (slow)")
    args = p.parse_args()
    select = SELECT if args.select == "sync" else None
    spec = SandboxSpec(
        scale=args.rate / 2.0,
        burst=args.burst,
        seed_deals=args.n,
        indexed_keyset=not args.stock_emulator,
        keep_calls=True,
    )
    header(
        "(d) keyset read of deals",
        [
            f"{args.n:,} deals seeded; list_fast: {BATCH_LIMIT} sub-lists × {PAGE} rows per request; bucket burst "
            f"{args.burst:g} ({'empty' if args.empty_bucket else 'full'} at start), drain {args.rate:g} req/s; select {'8 fields' if select else 'all standard fields'}",
            "emulator: "
            + (
                "stock (full scan per sub-list)"
                if args.stock_emulator
                else "ID index for >ID/order ID ASC/start=-1 lists (benchmarks/common.py)"
            ),
        ],
    )
    with remote_sandbox(spec) as sandbox:
        figure("seeding (direct, no HTTP)", sandbox.seeded, "s")
        if not args.stock_emulator:
            check = sandbox.ask("check_index", 4)
            figure("index check: pages equal to the stock scan", f"{check['equal']} / {check['compared']}")
        client = our_client(sandbox.webhook_url, sandbox.burst, sandbox.rate)
        if not args.empty_bucket:
            sandbox.ask("fill_bucket")
            fill_pacer(client)
        rows = 0
        pages = 0
        last_id = 0
        in_order = True
        started = time.perf_counter()
        for page in client.list_fast("crm.deal.list", select=select):
            pages += 1
            rows += len(page)
            ids = [int(r["ID"]) for r in page]
            in_order = in_order and ids == sorted(ids) and ids[0] > last_id
            last_id = ids[-1]
        seconds = time.perf_counter() - started
        calls = sandbox.ask("calls")
    requests = calls["ok"]
    figure("rows read / expected", f"{rows:,} / {args.n:,}" + ("" if in_order else "  (OUT OF ORDER)"))
    figure("seconds", seconds, "s")
    figure("requests (portal: 200 / 503)", f"{calls['requests']} ({calls['ok']} / {calls['503']})")
    figure("sub-lists (pages of 50)", f"{pages:,} in {calls['sub_commands']:,} sub-commands")
    figure("rows per request (answered)", rows / max(requests, 1))
    figure("rows/s achieved", rows / seconds)
    ceiling_rate = BATCH_LIMIT * PAGE * sandbox.rate
    figure("ceiling: 2,500 rows × drain", ceiling_rate, "rows/s")
    ratio(
        "ratio to the row ceiling",
        rows / seconds / ceiling_rate,
        "≥ 95%",
        rows / seconds >= 0.95 * ceiling_rate,
    )
    # The request ceiling over this run: burst + drain × seconds requests may be admitted.
    allowance = (0 if not args.empty_bucket else sandbox.burst) + sandbox.rate * seconds
    ratio("ratio to the request ceiling", requests / allowance, "≥ 95%", requests / allowance >= 0.95)
    figure("pacer waited", client.pacer.waited if client.pacer else 0.0, "s")


if __name__ == "__main__":
    main()
