"""Requests an incremental cycle costs, per flow: the first cycle after a backfill, an idle cycle, and the cycle
after one changed 1C order: its comment (`comment`), then another order's lines and total (`amount`) (issue 13
goal 4). Rollups, a daily flow that computes everything each run, is listed but left out of the totals. Every flow of config.example.yaml is backfilled first (limits off);
then each phase runs one `incremental` of every flow in the configured order and counts, per flow, the top-level
Bitrix24 requests (the portal's call log) and the 1C requests (the emulator's meter, by query shape).

Goals: an idle cycle between full scans at most 1 Bitrix24 request per flow and at most one 1C request per entity set
the flow watches (1 per flow where an exchange plan is used); the first cycle after a backfill no more than an idle
one; one changed order at most 2 Bitrix24 requests (all flows together). Prints; asserts nothing.

.venv/bin/python benchmarks/bench_idle_cycle.py [--sizes 1000 10000] [--shapes] [--plan]
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from bench_backfill_1c import env_for
from common import ROOT, SandboxSpec, figure, header, parser, remote_sandbox

from connector.app import Connector
from connector.config import load_config

ORDER = "Document_ЗаказКлиента"


def b24_requests(counts: list[Any]) -> int:
    return sum(n for _, batch, _, n in counts if not batch)


def watched(conn: Connector, flow: str) -> int:
    """Entity sets the flow's incremental cycle watches (1 where the flow reads an exchange plan)."""
    runner = conn.runner(flow)
    spec = runner.spec
    if spec.source.system != "onec":
        return 0
    plan = getattr(runner.source, "plan", None)
    if spec.source.changes.exchange_plan or (plan is not None and plan()):
        return 1
    tracker = getattr(runner.source, "tracker", None)
    return 1 + len(getattr(tracker, "entities", []))


def edit_order(box: Any, tz_now: datetime, skip: int, amount: bool) -> str:
    """Change a recent posted order through OData, as an accountant would in 1C: its comment, or (`amount`) one
    more product line and the new total."""
    from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER

    session = requests.Session()
    session.auth = (ONEC_USER.encode(), ONEC_PASSWORD.encode())  # type: ignore[assignment]
    url = box.odata_url + ORDER
    found = session.get(
        url,
        params={
            "$format": "json",
            "$filter": "Posted eq true and DeletionMark eq false",
            "$orderby": "Date desc",
            "$top": "1",
            "$skip": str(skip),
        },
        timeout=60,
    ).json()["value"][0]
    ref = found["Ref_Key"]
    change: dict[str, Any] = {"Комментарий": f"изменён {tz_now:%H:%M:%S}"}
    local = tz_now.astimezone(ZoneInfo("Europe/Moscow")).replace(tzinfo=None, microsecond=0)
    if datetime.fromisoformat(found["Date"]) < local - timedelta(days=25):
        # The dataset may end before today: an order outside the look-back window is re-dated to now (an edit
        # of an old order reaches the deal through the hourly full scan or the exchange plan instead).
        change["Date"] = local.isoformat()
    if amount:
        rows = [dict(r) for r in found["Товары"]]
        extra = {**rows[0], "LineNumber": str(len(rows) + 1)}
        change["Товары"] = [*rows, extra]
        change["СуммаДокумента"] = float(found["СуммаДокумента"]) + float(extra.get("СуммаСНДС") or 0)
    reply = session.patch(f"{url}(guid'{ref}')", params={"$format": "json"}, json=change, timeout=60)
    reply.raise_for_status()
    return str(ref)


def add_nodes(box: Any, conn: Connector, flows: list[str]) -> list[str]:
    """Nodes of the default exchange plan for the flows that can read it, as an admin would add them."""
    from b24_1c_sandbox.runner import ONEC_PASSWORD, ONEC_USER

    from connector.flows.onec_source import DEFAULT_PLAN

    session = requests.Session()
    session.auth = (ONEC_USER.encode(), ONEC_PASSWORD.encode())  # type: ignore[assignment]
    plain = [
        f
        for f in flows
        if conn.mappings[f].source.system == "onec" and hasattr(conn.runner(f).source, "plan")
    ]
    for flow in plain:
        node = {"Code": f"{conn.installation_id}-{flow}", "Description": f"b24-1c {flow}"}
        session.post(
            box.odata_url + DEFAULT_PLAN, params={"$format": "json"}, json=node, timeout=60
        ).raise_for_status()
    return plain


def cycle(box: Any, conn: Connector, flows: list[str]) -> dict[str, tuple[int, int, Counter[str]]]:
    """One incremental cycle of every flow: {flow: (Bitrix24 requests, 1C requests, 1C requests by shape)}."""
    out: dict[str, tuple[int, int, Counter[str]]] = {}
    for flow in flows:
        b24, onec = b24_requests(box.ask("counts")), box.ask("onec")
        conn.runner(flow).incremental(conn.config.sync.lookback_days)
        after = box.ask("onec")
        shapes = Counter(
            {
                s: int(v[0]) - int(onec.get("shapes", {}).get(s, [0])[0])
                for s, v in after.get("shapes", {}).items()
            }
        )
        out[flow] = (
            b24_requests(box.ask("counts")) - b24,
            after["requests"] - onec["requests"],
            +shapes,
        )
    return out


def run(n: int, seed: int, root: Path, shapes: bool, plan: bool) -> None:
    spec = SandboxSpec(orders=n, seed=seed, rate_limit="off", keep_calls=True)
    with remote_sandbox(spec) as box, tempfile.TemporaryDirectory() as tmp:
        config = load_config(root / "config.example.yaml", env=env_for(box, Path(tmp) / "ledger.sqlite3"))
        with Connector(config) as conn:
            conn.setup()
            flows = conn.flows(None)
            if plan:
                header("exchange plan nodes added for: " + ", ".join(add_nodes(box, conn, flows)))
            started = time.perf_counter()
            for name in flows:
                runner = conn.runner(name)
                runner.backfill(datetime(2017, 1, 1, tzinfo=runner.tz), None)
            header(f"{n:,} orders: backfill of every flow took {time.perf_counter() - started:.1f} s")
            sets = {f: watched(conn, f) for f in flows}
            daily = {f for f in flows if conn.mappings[f].rollups is not None}
            first = cycle(box, conn, flows)
            idle = cycle(box, conn, flows)
            edit_order(box, conn.clock.now(), 0, amount=False)
            comment = cycle(box, conn, flows)
            edit_order(box, conn.clock.now(), 1, amount=True)
            amount = cycle(box, conn, flows)
    phases = {"first": first, "idle": idle, "comment": comment, "amount": amount}
    print(f"   {'flow':<16} {'sets':>4}" + "".join(f"  {name + ' B24/1C':>14}" for name in phases))
    for f in flows:
        cells = "".join(f"  {f'{p[f][0]}/{p[f][1]}':>14}" for p in phases.values())
        print(
            f"   {f:<16} {sets[f]:>4}{cells}"
            + ("  (daily: a full computation each run)" if f in daily else "")
        )
    hourly = [f for f in flows if f not in daily]
    total = {name: (sum(p[f][0] for f in hourly), sum(p[f][1] for f in hourly)) for name, p in phases.items()}
    header("totals over every flow but the daily ones (Bitrix24 / 1C requests)")
    for name, (b, o) in total.items():
        figure(name, f"{b} / {o}")
    header("ratios to the goals (≤ 1.00 met)")
    b24 = max((idle[f][0], f) for f in hourly)
    figure("idle: most Bitrix24 requests of one flow / 1", f"{b24[0]:.2f} ({b24[1]})")
    worst = max((idle[f][1] / max(sets[f], 1), f) for f in hourly)
    figure("idle: most 1C requests / entity sets watched", f"{worst[0]:.2f} ({worst[1]})")
    firsts = max(((first[f][0] + first[f][1]) / max(idle[f][0] + idle[f][1], 1), f) for f in hourly)
    figure("first cycle / idle cycle (requests, worst flow)", f"{firsts[0]:.2f} ({firsts[1]})")
    for name in ("comment", "amount"):
        b = total[name][0]
        figure(f"one changed order ({name}): Bitrix24 requests / 2", f"{b / 2:.2f} ({b} requests)")
        # The same cycle less what an idle one costs anyway (deals -> orders' window read): what the change costs.
        extra = b - total["idle"][0]
        figure(
            f"one changed order ({name}), above an idle cycle: Bitrix24 requests / 2",
            f"{extra / 2:.2f} ({extra} requests)",
        )
    if shapes:
        for name, phase in phases.items():
            header(f"1C queries of the {name} cycle")
            for f in flows:
                for shape, count in phase[f][2].most_common():
                    print(f"   {f:<16} {count:>4}  {shape[:150]}")


def main() -> None:
    p = parser(__doc__ or "", 1000)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="orders in the sandbox")
    p.add_argument("--root", type=Path, default=ROOT, help="where config.example.yaml and mappings/ are")
    p.add_argument("--shapes", action="store_true", help="list the 1C queries of each phase")
    p.add_argument("--plan", action="store_true", help="add the default exchange plan's nodes first")
    args = p.parse_args()
    for n in args.sizes:
        run(n, args.seed, args.root, args.shapes, args.plan)


if __name__ == "__main__":
    main()
