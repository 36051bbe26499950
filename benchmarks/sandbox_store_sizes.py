"""Deep size per order of each sandbox store after a dataset of `--n` orders and a full `b24-1c backfill`.

Issue 13 goal 6 (the sandbox at most 1 GB at 100,000 orders): which store holds what. The sandbox runs in this
process (both emulators, limits off, as `bench_memory.py --serve` runs them); the connector's real CLI runs
`setup` then `backfill` against it. Each object is counted once, in the first store that reaches it (shared
strings count where first met). `--no-backfill`: the 1C base alone.

    nice .venv/bin/python benchmarks/sandbox_store_sizes.py [--n 2000] [--no-backfill]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def deep(obj: Any, seen: set[int]) -> int:
    """Bytes of `obj` and of everything it holds not seen before (containers, packed stores, our objects)."""
    try:
        from b24_1c_sandbox.compact import Table
    except ImportError:  # a sandbox from before compact.py
        Table = ()  # type: ignore[assignment,misc]
    total, stack = 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, Table):
            stack.extend(o._rows.values())  # the stored (packed or compressed) values, not copies
            codec = getattr(o, "_codec", None)
            if codec is not None:
                stack.append(
                    codec.zdict
                )  # the table's zlib dictionary (its compressor's state is not counted)
            if hasattr(o, "__dict__"):
                stack.append(vars(o))  # an indexed table's indexes
        elif isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, list | tuple | set | frozenset) or type(o).__name__ == "deque":
            stack.extend(o)
        elif type(o).__module__.startswith("b24_1c_sandbox"):
            if hasattr(o, "__dict__"):
                stack.append(vars(o))
            for name in getattr(type(o), "__slots__", ()):
                if hasattr(o, name):
                    stack.append(getattr(o, name))
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-backfill", action="store_true")
    args = p.parse_args()
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    t0 = time.process_time()
    box = Sandbox(SandboxOptions(orders=args.n, seed=args.seed, rate_limit="off"))
    box.start()
    out: dict[str, Any] = {"orders": args.n, "dataset_cpu_s": round(time.process_time() - t0, 1)}
    try:
        if not args.no_backfill:
            with tempfile.TemporaryDirectory() as tmp:
                env = {
                    **os.environ,
                    **box.env(),
                    "B24_PLAN": "off",
                    "B24_1C_LEDGER": f"{tmp}/ledger.sqlite3",
                    "B24_1C_LOG_LEVEL": "WARNING",
                    "B24_1C_CONFIG": str(ROOT / "config.example.yaml"),
                }
                cli = str(Path(sys.executable).parent / "b24-1c")
                subprocess.run([cli, "setup"], env=env, check=True, stdout=subprocess.DEVNULL)
                t1 = time.process_time()
                done = subprocess.run(
                    [cli, "backfill", "--since", "2017-01-01"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    check=False,
                )
                out["backfill_exit"] = done.returncode
                out["sandbox_cpu_during_backfill_s"] = round(time.process_time() - t1, 1)
        gc.collect()
        ib, portal = box.infobase, box.portal
        seen: set[int] = {id(ib), id(portal)}
        stores = {
            "1C objects and tabular rows": ib.sets,
            "1C register records": ib.movements,
            "1C indexes": ib.indexes,
            "Bitrix24 CRM objects": portal.entities,
            "Bitrix24 product rows": portal.product_rows,
            "Bitrix24 side tables (payments...)": portal.tables,
            "Bitrix24 call log": portal.calls,
            "1C request log": box.onec_app.log,
        }
        sizes = {name: deep(store, seen) for name, store in stores.items()}
        side = {name: deep(table, set()) for name, table in portal.tables.items()}  # each alone
        out["side tables alone, KB per order"] = {
            name: round(size / args.n / 1024, 2)
            for name, size in sorted(side.items(), key=lambda x: -x[1])[:6]
        }
        out["calls_kept"] = len(portal.calls.snapshot())
        for name, size in sizes.items():
            out[f"{name}, KB per order"] = round(size / args.n / 1024, 2)
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    out[line.split(":")[0] + " MB"] = round(int(line.split()[1]) / 1024, 1)
    finally:
        box.stop()
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
