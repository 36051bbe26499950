"""How many cheap calls per second the Bitrix24 emulator answers with limits off (target: ≥ 1,000 req/s).

The clients run in separate processes (plain http.client, keep-alive), so the figure is the emulator's,
not the Python client's. Run: .venv/bin/python benchmarks/bench_bitrix24_emulator.py [--seconds 3] [--clients 2]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import time
from urllib.parse import urlsplit

from b24_1c_sandbox.runner import Sandbox, SandboxOptions

TARGET = 1000.0


def _client(url: str, method: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = json.dumps({"id": 1}).encode()
    headers = {"Content-Type": "application/json"}
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("POST", parts.path + method, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{method} answered {resp.status}")
        n += 1
    out.put(n)


def measure(url: str, method: str, clients: int, seconds: float) -> float:
    """Requests per second answered over `seconds` by `clients` client processes."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(url, method, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    """Print the request rate per method and the ratio to the target."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=2)
    args = parser.parse_args()
    with Sandbox(SandboxOptions(orders=1, rate_limit="off")) as box:
        box.portal.keep_calls = False  # a benchmark must not grow the call log without bound
        conn = http.client.HTTPConnection("127.0.0.1", box._b24.port if box._b24 else 0)
        conn.request(
            "POST",
            urlsplit(box.webhook_url).path + "crm.deal.add",
            body=json.dumps({"fields": {"TITLE": "bench"}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        conn.getresponse().read()
        print(
            f"Bitrix24 emulator, limits off, {args.clients} client processes (keep-alive), {args.seconds:g} s each"
        )
        for method in ("crm.deal.get", "crm.deal.fields", "user.current"):
            rate = measure(box.webhook_url, method, args.clients, args.seconds)
            print(f"  {method:<16} {rate:8.0f} req/s   {rate / TARGET:5.2f}× the {TARGET:.0f} req/s target")


if __name__ == "__main__":
    main()
