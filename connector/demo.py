"""`b24-1c demo`: the sandbox, a backfill, simulated 1C edits, one incremental cycle, and a report."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from connector.app import Connector
from connector.config import load_config
from connector.logs import configure
from connector.sandbox.runner import Sandbox, SandboxOptions

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.yaml"


def _config_path() -> Path:
    if EXAMPLE.exists():
        return EXAMPLE
    return Path("config.example.yaml")


def run_demo(out: Console, orders: int = 600, seed: int = 7) -> int:
    """Returns the exit code: 0 when Bitrix24 ends up holding exactly the posted 1C orders, once each."""
    configure("WARNING")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="b24-1c-demo-") as tmp, \
            Sandbox(SandboxOptions(orders=orders, seed=seed, rate_limit="standard")) as box:
        env = {**box.env(), "B24_1C_LEDGER": str(Path(tmp) / "ledger.sqlite3")}
        config = load_config(_config_path(), env=env)
        out.print(f"sandbox: Bitrix24 at {box.webhook_url.split('/rest/')[0]}, 1C at {box.odata_url}", highlight=False)
        out.print(f"1C holds {orders} customer orders dated 2017-01-01 … today; ledger in {tmp}", highlight=False)
        with Connector(config) as conn:
            for name, state in conn.setup():
                out.print(f"setup: deal field {name} {state}", highlight=False)
            runner = conn.runner("orders")
            tz = runner.tz
            first = runner.backfill(datetime(2017, 1, 1, tzinfo=tz), None)
            again = conn.runner("orders").backfill(datetime(2017, 1, 1, tzinfo=tz), None)
            assert box.dataset is not None
            now = datetime.now(tz).replace(tzinfo=None, microsecond=0)
            new = [box.dataset.order(now - timedelta(minutes=m)) for m in (1, 2, 3, 4, 5)]
            recent = sorted((o for o in box.infobase.all("Document_ЗаказКлиента") if o["Posted"]
                             and not o["DeletionMark"] and o["Ref_Key"] not in {n["Ref_Key"] for n in new}),
                            key=lambda o: o["Date"])[-3:]
            for o in recent:
                box.dataset.edit_order(o["Ref_Key"])
            cycle = conn.runner("orders").incremental(config.sync.lookback_days)
            b24_requests = conn.bitrix24.stats.requests
            onec_requests = conn.odata.requests
        deals = box.portal.deals()
        origins = Counter(d["ORIGIN_ID"] for d in deals)
        eligible = {o["Ref_Key"] for o in box.infobase.all("Document_ЗаказКлиента")
                    if o["Posted"] and not o["DeletionMark"]}
    table = Table(title="b24-1c demo")
    for col in ("step", "read", "created", "updated", "skipped", "failed", "seconds"):
        table.add_column(col, justify="right" if col != "step" else "left")
    for label, r in (("backfill since 2017", first), ("backfill again (resume)", again),
                     ("incremental cycle", cycle)):
        table.add_row(label, str(r.read), str(r.created), str(r.updated), str(r.skipped), str(r.failed),
                      f"{r.seconds:.2f}")
    out.print(table)
    out.print(f"simulated in 1C: {len(new)} new orders, {len(recent)} edited orders", highlight=False)
    dupes = sum(1 for c in origins.values() if c > 1)
    ok = set(origins) == eligible and dupes == 0
    out.print(f"Bitrix24 deals: {len(deals)} for {len(eligible)} posted orders; duplicates: {dupes}; "
              f"requests: Bitrix24 {b24_requests}, 1C {onec_requests}; total {time.monotonic() - started:.1f} s",
              highlight=False)
    out.print("result: OK, every posted order is a deal exactly once" if ok else "result: MISMATCH", highlight=False)
    return 0 if ok and first.failed == 0 and cycle.failed == 0 else 1
