"""Two installations on one portal (several 1C bases, README "Several 1C bases into one portal"): two clients with
their own pacers send requests at once to one emulated portal on the `standard` plan (burst 50, 2 req/s, drained
`--scale` times faster so the run is short). With `bitrix24.share: 1.0` each client believes it has the whole
bucket; with `0.5` each takes half. Prints the portal's 503 QUERY_LIMIT_EXCEEDED answers and the throughput
against the plan's rate. Asserts nothing.

.venv/bin/python benchmarks/bench_shared_portal.py [--requests 150] [--scale 10]
"""

from __future__ import annotations

import argparse
import threading
import time

from b24_1c_sandbox.runner import Sandbox, SandboxOptions

from connector.app import make_session
from connector.bitrix24.auth import WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import SystemClock
from connector.ratelimit import PLANS, RequestPacer


def run(share: float, requests: int, scale: float) -> tuple[int, int, float]:
    """(503 answers, requests served, seconds) for two clients sending `requests` each at once."""
    with Sandbox(SandboxOptions(orders=5, seed=3, rate_limit="standard", scale=scale)) as box:
        clock = SystemClock()
        clients = [
            Bitrix24Client(
                make_session(),
                WebhookAuth(box.webhook_url),
                clock,
                RequestPacer.for_plan(clock, "standard", scale=scale, share=share),
            )
            for _ in range(2)
        ]
        # Start from a drained bucket.
        time.sleep(PLANS["standard"][0] / (PLANS["standard"][1] * scale))

        def work(client: Bitrix24Client) -> None:
            for _ in range(requests):
                client.call("crm.deal.fields", {})

        before = box.portal.calls.requests(503), box.portal.calls.requests(200)
        started = time.perf_counter()
        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - started
        return (
            box.portal.calls.requests(503) - before[0],
            box.portal.calls.requests(200) - before[1],
            seconds,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=150, help="requests per client")
    p.add_argument("--scale", type=float, default=10.0, help="drain the plan's bucket this many times faster")
    args = p.parse_args()
    rate = PLANS["standard"][1] * args.scale
    print(f"two clients × {args.requests} requests, plan standard drained at {rate:g} req/s")
    print("| share | 503 answers | served | seconds | throughput / plan rate |")
    print("|---|---|---|---|---|")
    for share in (1.0, 0.5):
        refused, served, seconds = run(share, args.requests, args.scale)
        print(f"| {share:g} | {refused} | {served} | {seconds:.1f} | {served / seconds / rate:.2f} |")


if __name__ == "__main__":
    main()
