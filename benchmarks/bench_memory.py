"""(k) Memory of a whole `b24-1c backfill` (every flow of config.example.yaml) and of the sandbox serving it.

The sandbox runs as its own process (this script re-executed with `--serve`: both emulators, a dataset of `--n`
orders, Bitrix24 limits off: memory is the point, the plan would only stretch the run). The connector is the real
CLI in another process: `b24-1c setup`, then `b24-1c backfill` on a fresh ledger. Every `--every` seconds both
processes' VmRSS (/proc/<pid>/status) is sampled with the ledger's links per flow; at the end the figures at 10 %,
50 % and 100 % of the run (by the records linked in the ledger), each process's peak (VmHWM), flat (the 100 % figure within 10 % of the
10 % one) and the ratios to the goals (connector 200 MB, sandbox 1 GB at 100,000 orders). Prints; asserts nothing.

    nice .venv/bin/python benchmarks/bench_memory.py [--n 10000] [--unbounded-calls] [--root DIR]

`--unbounded-calls` gives the Bitrix24 emulator a call log that keeps every call with its parameters (what it did
before the log was bounded) to show the sandbox goal can fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ROOT, figure, header, parser, ratio

MB = 1024 * 1024
CONNECTOR_GOAL_MB = 200.0
SANDBOX_GOAL_MB = 1024.0


def serve(n: int, seed: int, unbounded_calls: bool, call_log: int) -> None:
    """The child: both emulators with `n` orders, limits off; prints the env as one JSON line, serves until stdin
    closes."""
    from b24_1c_sandbox.calllog import CallLog
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    started = time.perf_counter()
    box = Sandbox(SandboxOptions(orders=n, seed=seed, rate_limit="off"))
    if unbounded_calls or call_log:
        box.portal.calls = CallLog(capacity=10**12 if unbounded_calls else call_log)
    box.start()
    generated = time.perf_counter() - started
    print(json.dumps({"env": box.env(), "generated": generated}), flush=True)
    sys.stdin.read()  # the parent closes our stdin to stop us
    box.stop()


def status_kb(pid: int, name: str) -> int:
    """VmRSS / VmHWM of a live process in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Sample:
    at: float
    connector_mb: float
    sandbox_mb: float
    links: dict[str, int] = field(default_factory=dict)


def ledger_links(path: Path) -> dict[str, int]:
    """Links per flow, read-only (the backfill writes the ledger meanwhile)."""
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            return dict(conn.execute("SELECT flow, count(*) FROM links GROUP BY flow").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def at_fraction(samples: list[Sample], fraction: float, total: int) -> Sample:
    """The first sample by which `fraction` of the run's records were in the ledger (`total`: at the end)."""
    return next((s for s in samples if sum(s.links.values()) >= fraction * total), samples[-1])


def by_flow(samples: list[Sample]) -> dict[str, tuple[float, float]]:
    """Highest connector and sandbox RSS while each flow was writing (its links grew since the sample before)."""
    out: dict[str, tuple[float, float]] = {}
    before: dict[str, int] = {}
    running = ""
    for s in samples:
        grown = [f for f, n in s.links.items() if n > before.get(f, 0) and ":" not in f]
        running = grown[-1] if grown else running
        before = s.links
        if running:
            conn, box = out.get(running, (0.0, 0.0))
            out[running] = (max(conn, s.connector_mb), max(box, s.sandbox_mb))
    return out


def within_flows(
    samples: list[Sample], links: dict[str, int], least: int = 1000
) -> dict[str, tuple[float, float]]:
    """Per flow that links at least `least` records: the connector's RSS when it had linked 10 % of them and when it
    had linked them all. The run's 10 % and 100 % points fall in different flows (whose pages differ in size); a
    connector that holds what it has done grows within a flow."""
    out: dict[str, tuple[float, float]] = {}
    for flow, final in links.items():
        if final < least or ":" in flow:
            continue
        tenth = next((s for s in samples if s.links.get(flow, 0) >= 0.1 * final), None)
        whole = next((s for s in samples if s.links.get(flow, 0) >= final), None)
        if tenth is not None and whole is not None and whole.at > tenth.at:
            out[flow] = (tenth.connector_mb, whole.connector_mb)
    return out


def cli() -> list[str]:
    return [str(Path(sys.executable).parent / "b24-1c")]


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "", 10_000)
    p.add_argument(
        "--unbounded-calls", action="store_true", help="the sandbox keeps every call (fails the goal)"
    )
    p.add_argument(
        "--call-log", type=int, default=0, help="calls the sandbox's call log keeps (default: its own)"
    )
    p.add_argument("--every", type=float, default=1.0, help="seconds between RSS samples")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=0.0,
        help="stop the backfill (SIGTERM: it ends after the page being written) after this long; 0 = never",
    )
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    p.add_argument("--serve", action="store_true", help=argparse_hidden())
    args = p.parse_args()
    if args.serve:
        serve(args.n, args.seed, args.unbounded_calls, args.call_log)
        return
    header(
        f"(k) memory: `b24-1c backfill` (all flows) over {args.n:,} orders",
        [
            "sandbox and connector each in its own process; Bitrix24 limits off (plan off on both sides)",
            "call log: "
            + (
                "UNBOUNDED (every call kept)"
                if args.unbounded_calls
                else f"{args.call_log:,} calls kept"
                if args.call_log
                else "bounded (default: the newest 100,000 calls)"
            ),
        ],
    )
    started = time.perf_counter()
    box = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--n", str(args.n), "--seed", str(args.seed)]
        + (["--unbounded-calls"] if args.unbounded_calls else [])
        + (["--call-log", str(args.call_log)] if args.call_log else []),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert box.stdout is not None and box.stdin is not None
        ready = json.loads(box.stdout.readline() or "{}")
        if "env" not in ready:
            raise SystemExit("the sandbox did not start (see its stderr above)")
        figure("dataset generated in the sandbox", ready["generated"], "s")
        figure("sandbox RSS before the backfill", status_kb(box.pid, "VmRSS") / 1024, "MB")
        with tempfile.TemporaryDirectory() as tmp:
            ledger = Path(tmp) / "ledger.sqlite3"
            env = {
                **os.environ,
                **ready["env"],
                "B24_PLAN": "off",
                "B24_1C_LEDGER": str(ledger),
                "B24_1C_LOG_LEVEL": "WARNING",
                "B24_1C_CONFIG": str(args.root / "config.example.yaml"),
            }
            subprocess.run([*cli(), "setup"], env=env, check=True, stdout=subprocess.DEVNULL)
            samples, code, seconds, peaks = run_backfill(args, env, box.pid, ledger)
            links = ledger_links(ledger)
    finally:
        if box.stdin is not None:
            box.stdin.close()
        box.wait(timeout=60)
    report(args, samples, code, seconds, peaks, links, time.perf_counter() - started)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


def run_backfill(
    args: Any, env: dict[str, str], box_pid: int, ledger: Path
) -> tuple[list[Sample], int, float, tuple[float, float]]:
    """Runs the backfill, sampling both processes; returns the samples, exit code, seconds and peaks (MB)."""
    # Its output goes to files (a pipe nobody reads while sampling could fill and stall the backfill).
    with (
        tempfile.TemporaryFile("w+", encoding="utf-8") as out,
        tempfile.TemporaryFile("w+", encoding="utf-8") as errors,
    ):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*cli(), "backfill", "--since", "2017-01-01"], env=env, stdout=out, stderr=errors, text=True
        )
        samples, peaks = sample(args, proc, box_pid, ledger, t0)
        seconds = time.perf_counter() - t0
        out.seek(0)
        errors.seek(0)
        said, err = out.read(), errors.read()
    if proc.returncode not in (0, 1) or not ledger_links(ledger):
        print(err[-4000:], file=sys.stderr)
    # Exit 1: some records failed (the dataset has bad ones on purpose); the backfill's summary says which.
    if proc.returncode:
        print("   the backfill said:", *said.splitlines(), sep="\n   ", flush=True)
    return samples, proc.returncode, seconds, peaks


def sample(
    args: Any, proc: subprocess.Popen[str], box_pid: int, ledger: Path, t0: float
) -> tuple[list[Sample], tuple[float, float]]:
    """Both processes' RSS every `--every` s until the backfill ends (SIGTERM after `--max-seconds`)."""
    samples: list[Sample] = []
    connector_hwm = sandbox_hwm = 0
    stopped = False
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=args.every)
        now = time.perf_counter() - t0
        rss = status_kb(proc.pid, "VmRSS")
        connector_hwm = max(connector_hwm, status_kb(proc.pid, "VmHWM"))
        sandbox_hwm = max(sandbox_hwm, status_kb(box_pid, "VmHWM"))
        if rss:  # the process is still there (a zombie has no VmRSS)
            samples.append(Sample(now, rss / 1024, status_kb(box_pid, "VmRSS") / 1024, ledger_links(ledger)))
        if proc.poll() is not None:
            return samples, (connector_hwm / 1024, sandbox_hwm / 1024)
        if args.max_seconds and now > args.max_seconds and not stopped:
            proc.send_signal(signal.SIGTERM)
            stopped = True
            print(f"   --max-seconds {args.max_seconds:.0f} reached: backfill stopped (SIGTERM)", flush=True)


def report(
    args: Any,
    samples: list[Sample],
    code: int,
    seconds: float,
    peaks: tuple[float, float],
    links: dict[str, int],
    total: float,
) -> None:
    figure("backfill exit code", code)
    figure("backfill wall time", seconds, "s")
    figure("whole benchmark", total, "s")
    figure("ledger links per flow", ", ".join(f"{k} {v:,}" for k, v in sorted(links.items())) or "none")
    figure("RSS samples", len(samples))
    if not samples:
        print("   no samples: the backfill ended before the first one")
        return
    header("RSS (MB) when 10 %, 50 %, 100 % of the records the run links are in the ledger")
    print(f"   {'at':>6} {'seconds':>9} {'connector':>10} {'sandbox':>9}   ledger links")
    points = {f: at_fraction(samples, f, sum(links.values())) for f in (0.1, 0.5, 1.0)}
    for f, s in points.items():
        done = sum(s.links.values())
        print(f"   {f:>6.0%} {s.at:>9.1f} {s.connector_mb:>10.1f} {s.sandbox_mb:>9.1f}   {done:,}")
    header("peak RSS (MB) by flow running (the flow whose ledger links grew since the sample before)")
    for flow, (conn_mb, box_mb) in by_flow(samples).items():
        print(f"   {flow:<24} connector {conn_mb:>7.1f}   sandbox {box_mb:>7.1f}")
    connector_peak, sandbox_peak = peaks
    first, last = points[0.1], points[1.0]
    header("peaks and goals")
    figure("connector peak RSS (VmHWM)", connector_peak, "MB")
    figure("connector RSS 100 % / 10 %", last.connector_mb / first.connector_mb, "×")
    overall = last.connector_mb <= first.connector_mb * 1.1
    figure("connector 100 % within 10 % of 10 % (across flows)", "yes" if overall else "no")
    flows = within_flows(samples, links)
    for flow, (tenth, whole) in flows.items():
        figure(
            f"connector within {flow}: 100 % / 10 % of its records",
            f"{whole / tenth:.2f} × ({tenth:.1f} → {whole:.1f} MB)",
        )
    # Flat: no flow grows by more than 10 % from its tenth to its last record (without per-flow samples, the run's).
    flat = all(whole <= tenth * 1.1 for tenth, whole in flows.values()) if flows else overall
    figure("connector flat (within every flow)", "flat" if flat else "GROWING")
    ratio(
        "connector peak / 200 MB",
        connector_peak / CONNECTOR_GOAL_MB,
        "≤ 100 %, flat",
        flat and connector_peak <= 200,
    )
    figure("sandbox peak RSS (VmHWM)", sandbox_peak, "MB")
    figure("sandbox RSS 100 % / 10 %", last.sandbox_mb / first.sandbox_mb, "×")
    if args.n >= 100_000:
        ratio(
            "sandbox peak / 1 GB", sandbox_peak / SANDBOX_GOAL_MB, "≤ 100 %", sandbox_peak <= SANDBOX_GOAL_MB
        )
    else:  # the goal is set at 100,000 orders; a smaller run's peak says nothing about it (part of it is fixed)
        figure("sandbox peak / 1 GB", "not judged below 100,000 orders (run --n 100000)")


if __name__ == "__main__":
    main()
