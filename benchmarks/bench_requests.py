"""Requests a full backfill (every flow of config.example.yaml, `b24-1c backfill` minus its progress bar) sends to
Bitrix24 against the minimum the data requires: ceil(C / 50), C = the write commands sent (adds, updates, row
sets, payment steps...) + one lookup command per 50 objects created (each create is looked up by key first).
Goal: at most 1.05 × the minimum. Limits off, so the figure is about requests, not time. Asserts nothing.

.venv/bin/python benchmarks/bench_requests.py [--n 1000]
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

from bench_backfill_1c import env_for
from common import ROOT, SandboxSpec, figure, header, parser, ratio, remote_sandbox

from connector.app import Connector
from connector.config import load_config

GOAL = 1.05
WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay", ".complete", ".bind", ".unbind")


def main() -> None:
    p = parser(__doc__ or "", 1000)
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    args = p.parse_args()
    spec = SandboxSpec(orders=args.n, seed=args.seed, rate_limit="off", keep_calls=True)
    with remote_sandbox(spec) as box, tempfile.TemporaryDirectory() as tmp:
        config = load_config(
            args.root / "config.example.yaml", env=env_for(box, Path(tmp) / "ledger.sqlite3")
        )
        with Connector(config) as conn:
            conn.setup()
            before = box.ask("counts")
            for name in conn.flows(None):
                runner = conn.runner(name)
                runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
            after = box.ask("counts")
    delta: Counter[tuple[str, bool, int]] = Counter({(m, b, s): n for m, b, s, n in after})
    delta.subtract({(m, b, s): n for m, b, s, n in before})
    requests = sum(n for (_, batch, _), n in delta.items() if not batch)
    by_method: Counter[str] = Counter()
    for (method, _in_batch, _), n in delta.items():
        if method != "batch":
            by_method[method] += n
    writes = sum(n for m, n in by_method.items() if m.endswith(WRITES))
    creates = sum(n for m, n in by_method.items() if m.endswith(".add"))
    minimum = math.ceil((writes + math.ceil(creates / 50)) / 50)
    header(f"full backfill, {args.n:,} orders, every configured flow")
    figure("requests sent (top level)", requests)
    figure("write commands / of them creates", f"{writes:,} / {creates:,}")
    figure("minimum requests ceil((writes + creates/50) / 50)", minimum)
    figure("requests / minimum", requests / minimum, "×")
    ratio(
        "minimum / requests", minimum / requests, f"requests ≤ {GOAL} × minimum", requests <= GOAL * minimum
    )
    header("commands by method (batch sub-commands and plain calls)")
    for method, n in by_method.most_common():
        figure(method, n)


if __name__ == "__main__":
    main()
