"""(g): the daemon with every configured flow on a 1-second interval over one ledger, for a bounded time.

The flows run in APScheduler's threads as `b24-1c run` runs them (the real `Daemon.run_flow`), against the sandbox
in this process, while a writer thread adds a new 1C order and edits another every 0.5 s, so cycles write. Printed:
cycles per flow, cycles that ended in an error by type (a ConnectorError logged as "cycle failed"/"cycle stopped",
or an exception that escaped to the scheduler, e.g. sqlite3's "cannot start a transaction within a transaction"),
missed runs, the ledger's runs by status and its integrity. The schedule's 10 s floor is bypassed on purpose.

    .venv/bin/python benchmarks/bench_daemon_flows.py [--seconds 60] [--n 150] [--every 1] [--onec-latency 0.1]
        [--serialize]
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import figure, header, parser  # noqa: E402

from connector import daemon as daemon_module  # noqa: E402
from connector.app import Connector  # noqa: E402
from connector.config import load_config  # noqa: E402
from connector.logs import configure  # noqa: E402
from connector.schedule import FlowSchedule  # noqa: E402


class _Counting:
    """Stands in for the daemon's logger: counts the cycles that failed, passes everything else through."""

    def __init__(self, real: Any, errors: Counter[str]) -> None:
        self.real, self.errors = real, errors

    def warning(self, event: str, **kw: Any) -> None:
        self.errors[f"{event.split(';')[0]}: {str(kw.get('error', kw.get('job', '')))[:90]}"] += 1

    def error(self, event: str, **kw: Any) -> None:
        self.errors[f"{event}: {str(kw.get('error', ''))[:90]}"] += 1

    def info(self, event: str, **kw: Any) -> None:
        pass


def main() -> None:
    p = parser(__doc__.splitlines()[0], 150)  # --n: orders in the sandbox
    p.add_argument("--seconds", type=float, default=60.0, help="how long the daemon runs")
    p.add_argument("--every", type=int, default=1, help="interval of every flow, seconds")
    p.add_argument("--onec-latency", type=float, default=0.0, help="seconds 1C takes per request (a slow 1C)")
    p.add_argument(
        "--serialize",
        action="store_true",
        help="the alternative design: one flow at a time per ledger (a lock)",
    )
    args = p.parse_args()
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    configure("ERROR")

    errors: Counter[str] = Counter()
    cycles: Counter[str] = Counter()
    durations: list[float] = []
    with (
        TemporaryDirectory() as tmp,
        Sandbox(SandboxOptions(orders=args.n, seed=args.seed, rate_limit="off")) as box,
    ):
        env = {**box.env(), "B24_1C_LEDGER": str(Path(tmp) / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "ERROR"}
        config = load_config(ROOT / "config.example.yaml", env=env)
        header(
            "(g) all flows every second over one ledger",
            [
                f"flows {', '.join(config.flows)} every {args.every} s for {args.seconds:g} s; "
                f"{args.n} orders; a new and an edited 1C order every 0.5 s"
                + ("; flows serialized by one lock" if args.serialize else "; a ledger connection per thread")
                + (f"; 1C answers in {args.onec_latency:g} s" if args.onec_latency else "")
            ],
        )
        with Connector(config) as conn:
            conn.setup()
            for flow in config.flows:
                conn.runner(flow).backfill(datetime(2017, 1, 1, tzinfo=conn.onec_tz), None)
            box.onec_app.knobs.latency = (
                args.onec_latency
            )  # after the backfill: only the daemon's cycles are slow
            schedule = {
                f: FlowSchedule.model_construct(every=f"{args.every}s", jitter=0) for f in config.flows
            }

            def done(flow: str, report: Any) -> None:
                cycles.update([flow])
                durations.append(time.monotonic() - began.get(threading.get_ident(), time.monotonic()))

            daemon = daemon_module.Daemon(conn, schedule, on_cycle=done)
            began: dict[int, float] = {}
            serial = threading.Lock()
            run_flow = daemon.run_flow

            def timed(flow: str) -> None:
                began[threading.get_ident()] = time.monotonic()  # includes waiting for the lock
                if args.serialize:
                    with serial:
                        run_flow(flow)
                else:
                    run_flow(flow)

            daemon.run_flow = timed  # type: ignore[method-assign]
            real_log = daemon_module.log
            daemon_module.log = _Counting(real_log, errors)  # type: ignore[assignment]
            stop = threading.Event()

            def write() -> None:
                n = 0
                while not stop.wait(0.5):
                    now = conn.clock.now().astimezone(conn.onec_tz).replace(tzinfo=None, microsecond=0)
                    order = box.dataset.order(now - timedelta(minutes=1))
                    n += 1
                    if n > 1:
                        box.dataset.edit_order(order["Ref_Key"])

            writer = threading.Thread(target=write, daemon=True)
            writer.start()

            def finish() -> None:
                stop.set()
                conn.stop.set()
                daemon.scheduler.shutdown(wait=True)

            threading.Timer(args.seconds, finish).start()
            started = time.monotonic()
            try:
                daemon.start(install_signals=False)
            finally:
                daemon_module.log = real_log
            elapsed = time.monotonic() - started
            runs = Counter(
                r["status"] for r in conn.ledger.conn.execute("SELECT status FROM runs WHERE kind = 'sync'")
            )
            integrity = conn.ledger.conn.execute("PRAGMA integrity_check").fetchone()[0]
    figure("seconds", f"{elapsed:.1f}")
    for flow in config.flows:
        figure(f"cycles done: {flow}", cycles[flow])
    figure("cycles done: all flows", sum(cycles.values()))
    if durations:
        durations.sort()
        figure("cycle seconds: median", durations[len(durations) // 2])
        figure("cycle seconds: 95th percentile", durations[int(len(durations) * 0.95)])
        figure("cycle seconds: max", durations[-1])
    figure("cycles that ended in an error", sum(errors.values()))
    for what, n in errors.most_common():
        figure(f"  {what}", n)
    figure("ledger runs by status", dict(runs))
    figure("ledger integrity_check", integrity)


if __name__ == "__main__":
    main()
