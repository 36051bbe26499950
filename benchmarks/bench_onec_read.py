"""(f) 1C: reading 100,000 customer orders with their lines (Товары) through OneCSource / ODataClient paging.

The 1C publication runs in a child process with the sandbox dataset (orders since 2017, Cyrillic, 1–6 lines each);
the reader is the orders flow's source (mappings/orders.yaml: posted, not deleted), paging `Date ge D` ordered by
(Date, Ref_Key) with $top/$skip. Memory is the reader process's own: tracemalloc's peak of Python allocations at
20% of the read and at the end (flat = the same), and peak RSS (ru_maxrss) at the same points.

    .venv/bin/python benchmarks/bench_onec_read.py [--n 100000] [--page 500] [--no-tracemalloc]
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER
from common import ROOT, SandboxSpec, figure, header, parser, remote_sandbox

from connector.app import make_session
from connector.clock import SystemClock
from connector.flows.onec_source import OneCSource
from connector.mapping.schema import load_mapping
from connector.onec.odata import ODataClient

MB = 1024 * 1024


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    p = parser(__doc__.splitlines()[0], 100_000)
    p.add_argument("--page", type=int, default=500, help="orders per page (default 500, config's page_size)")
    p.add_argument(
        "--no-tracemalloc", action="store_true", help="measure speed without tracemalloc's overhead"
    )
    args = p.parse_args()
    header(
        "(f) 1C orders with lines",
        [
            f"{args.n:,} orders generated in the 1C sandbox (child process); "
            f"OneCSource pages of {args.page}; flow filter Posted and not deleted"
        ],
    )
    started = time.perf_counter()
    with remote_sandbox(SandboxSpec(rate_limit="off", orders=args.n, seed=args.seed)) as sandbox:
        figure("dataset generated in the child", time.perf_counter() - started, "s")
        spec = load_mapping(ROOT / "mappings" / "orders.yaml")
        client = ODataClient(
            make_session(2),
            sandbox.odata_url,
            ONEC_USER,
            ONEC_PASSWORD,
            ZoneInfo("Europe/Moscow"),
            SystemClock(),
            max_connections=2,
        )
        source = OneCSource(client, spec, args.page)
        expected = source.count(datetime(2000, 1, 1, tzinfo=UTC), None)
        client.requests = 0
        trace = not args.no_tracemalloc
        if trace:
            tracemalloc.start()
        checkpoint = max(1, (expected or args.n) // 5)
        at_checkpoint: tuple[int, float, float] | None = None
        orders = lines = pages = 0
        last_date = ""
        same_date: set[str] = set()  # keys of the last date only: O(1) memory
        misordered = 0
        t0 = time.perf_counter()
        for page in source.pages(datetime(2000, 1, 1, tzinfo=UTC), None, None):
            pages += 1
            orders += len(page.records)
            lines += sum(len(r.get("Товары") or []) for r in page.records)
            for r in page.records:  # dates never go back and no key repeats: no overlap between pages
                if r["Date"] != last_date:
                    misordered += r["Date"] < last_date
                    last_date, same_date = r["Date"], set()
                misordered += r["Ref_Key"] in same_date
                same_date.add(r["Ref_Key"])
            if at_checkpoint is None and orders >= checkpoint:
                peak = tracemalloc.get_traced_memory()[1] / MB if trace else 0.0
                at_checkpoint = (orders, peak, rss_peak_mb())
        seconds = time.perf_counter() - t0
        peak_end = tracemalloc.get_traced_memory()[1] / MB if trace else 0.0
        if trace:
            tracemalloc.stop()
    figure("orders read / matching the filter ($count)", f"{orders:,} / {expected:,}")
    figure("rows repeated or out of date order", misordered)
    figure("order lines read", lines)
    figure("requests (pages)", f"{client.requests:,} ({pages:,})")
    figure("rows per request", orders / max(client.requests, 1))
    figure("seconds", seconds, "s")
    figure("orders/s", orders / seconds)
    figure("rows/s (orders + lines)", (orders + lines) / seconds)
    if at_checkpoint:
        n20, peak20, rss20 = at_checkpoint
        if trace:
            figure(f"tracemalloc peak at {n20:,} orders", peak20, "MB")
            figure(f"tracemalloc peak at {orders:,} orders", peak_end, "MB")
            figure(
                "peak growth from 20% to 100% of the read",
                f"{peak_end - peak20:+.1f} MB ({'flat' if peak_end <= peak20 * 1.1 + 1 else 'GROWING'})",
            )
        figure(f"peak RSS at {n20:,} / {orders:,} orders", f"{rss20:.0f} / {rss_peak_mb():.0f} MB")
    if trace:
        print("   note: tracemalloc slows the reader; --no-tracemalloc for the speed figures")


if __name__ == "__main__":
    main()
