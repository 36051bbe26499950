"""Proof (a) of "Exactly once on both sides": a two-way run with 5 % lost replies on BOTH systems and SIGKILLs
landed deliberately in every phase (connector/crashpoints.py), then counted per key on both systems through their
public interfaces (Bitrix24 REST, 1C OData): no twin deals, no twin or unrequested 1C orders, every deal↔order pair
complete (posted, number and key written back).

Each round makes new work on both sides (a new posted 1C order with a receipt, a deal started in the CRM at a
watched stage), then runs the connector as a separate process with B24_1C_CRASH_AT=<phase>:<n>, raising n until the
kill lands (the process dies with SIGKILL) or the run finishes without reaching the phase.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.config import load_config
from tests.conftest import ROOT
from tests.integration.test_money_reminder_identity import census as reminder_census

pytestmark = pytest.mark.integration
FLOWS = ["managers", "counterparties", "orders", "money", "deals_to_orders"]
PHASES = ("page-committed", "lookup", "announced", "written", "posting", "write-back")
ORDER = "Document_ЗаказКлиента"
KILLED = -9


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.faults import FaultInjector
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    options = SandboxOptions(
        orders=40,
        seed=31,
        rate_limit="off",
        bitrix24_faults=FaultInjector.profile("lost-replies", 31),
        onec_faults=FaultInjector.profile("lost-replies", 32),
    )
    with Sandbox(options) as sandbox:
        yield sandbox


def write_config(tmp: Path, box: Any) -> tuple[Path, dict[str, str]]:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
    text = text.replace(
        "schedule: schedules/default.yaml", f"schedule: {ROOT / 'schedules' / 'default.yaml'}"
    )
    text = re.sub(r"(?m)^flows:.*$", f"flows: [{', '.join(FLOWS)}]", text)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    env = {**box.env(), "B24_1C_LEDGER": str(tmp / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "ERROR"}
    return path, env


def cli(
    path: Path, env: dict[str, str], *args: str, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    full = {**clean, **env, **({"B24_1C_CRASH_AT": crash} if crash else {})}
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(path)],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def observer(path: Path, env: dict[str, str]) -> Connector:
    """The production clients, pointed at the sandbox, for reading both systems (no ledger lock)."""
    return Connector(load_config(path, env=env), lock=False)


def new_work(box: Any, conn: Connector, n: int, crm_deals: list[str]) -> None:
    """A new posted 1C order with a receipt, and a deal a manager starts in the CRM at a watched stage."""
    now = box.infobase.now().replace(microsecond=0)
    order = box.dataset.order(now - timedelta(minutes=30 + n))
    box.dataset.receipt(order, float(order["СуммаДокумента"]) / 2, now - timedelta(minutes=10))
    companies = [
        c
        for page in conn.bitrix24.list_fast("crm.company.list", {}, ["ID", "ORIGIN_ID"])
        for c in page
        if c.get("ORIGIN_ID")  # a company the counterparties flow made: its 1C counterparty exists
    ]
    if not companies:
        return
    product = box.dataset.products[n % len(box.dataset.products)]
    faults, box.portal.faults = box.portal.faults, None  # the manager's own clicks are not under test
    try:
        deal = conn.bitrix24.call(
            "crm.deal.add",
            {"fields": {"TITLE": f"Из CRM {n}", "COMPANY_ID": companies[0]["ID"], "STAGE_ID": "EXECUTING"}},
            write=True,
        ).result
        crm_deals.append(str(deal))
        conn.bitrix24.call(
            "crm.deal.productrows.set",
            {
                "id": deal,
                "rows": [{"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 2}],
            },
            write=True,
        )
    finally:
        box.portal.faults = faults


def make_overdue(box: Any, orders: int = 3, days: int = 35) -> None:
    """The second payment stage of a few unpaid posted orders fell due `days` ago (1C server's calendar)."""
    from datetime import datetime, time

    due = datetime.combine(box.infobase.now().date() - timedelta(days=days), time()).isoformat()
    picked = [
        o
        for o in box.infobase.all(ORDER)
        if o["Posted"] and not o["DeletionMark"] and len(o.get("ЭтапыГрафикаОплаты") or []) >= 2
    ][:orders]
    for order in picked:
        stages = [dict(s) for s in order["ЭтапыГрафикаОплаты"]]
        stages[1]["ДатаПлатежа"] = due
        box.dataset.docs.repost(ORDER, order["Ref_Key"], {"ЭтапыГрафикаОплаты": stages})


def census(conn: Connector) -> dict[str, Any]:
    deals: list[dict[str, Any]] = []
    for page in conn.bitrix24.list_fast(
        "crm.deal.list", {}, ["ID", "ORIGINATOR_ID", "ORIGIN_ID", "TITLE", "UF_CRM_1C_ORDER_NUMBER"]
    ):
        deals.extend(page)
    orders = conn.odata.query(
        ORDER, select=["Ref_Key", "Number", "Posted", "DeletionMark", "НомерПоДаннымКлиента"]
    )
    payments: list[dict[str, Any]] = []
    start = 0
    while True:  # every payment of the portal, through sale.payment.list (pages of 50)
        reply = conn.bitrix24.call(
            "sale.payment.list",
            {"select": ["id", "orderId", "xmlId", "sum", "paid"], "order": {"id": "ASC"}, "start": start},
        )
        rows = (reply.result or {}).get("payments", [])
        payments.extend(rows)
        if reply.next is None or not rows:
            break
        start = int(reply.next)
    return {"deals": deals, "orders": orders, "payments": payments}


def problems(state: dict[str, Any], installation: str, crm_deals: list[str]) -> list[str]:
    deals, orders = state["deals"], state["orders"]
    out: list[str] = []
    per_order = Counter(str(d["ORIGIN_ID"]) for d in deals if d.get("ORIGIN_ID"))
    out += [f"twin deals for 1C order {k}: {n}" for k, n in per_order.items() if n > 1]
    marker = Counter(str(o.get("НомерПоДаннымКлиента") or "").strip() for o in orders)
    marker.pop("", None)
    out += [f"twin 1C orders for {k}: {n}" for k, n in marker.items() if n > 1]
    keyed = Counter(str(p.get("xmlId") or "") for p in state["payments"])
    out += [f"doubled payment {k}: {n}" for k, n in keyed.items() if n > 1]
    out += [
        f"payment without our key (an orphan of a two-step create): {p['id']} {p.get('xmlId')}"
        for p in state["payments"]
        if not str(p.get("xmlId") or "").startswith(installation + ":")
    ]
    crm = {str(d["ID"]): d for d in deals if str(d["ID"]) in crm_deals}
    unrequested = [k for k in marker if k[len("B24-") :] not in crm]
    out += [f"1C order nobody asked for: {k}" for k in unrequested]
    by_ref = {str(o["Ref_Key"]): o for o in orders}
    posted = {k for k, o in by_ref.items() if o["Posted"] and not o["DeletionMark"]}
    out += [f"posted 1C order without its deal: {k}" for k in sorted(posted - set(per_order))]
    for deal_id, deal in crm.items():
        made = [o for o in orders if str(o.get("НомерПоДаннымКлиента") or "").strip() == f"B24-{deal_id}"]
        if len(made) != 1:
            out.append(f"CRM deal {deal_id} has {len(made)} 1C orders")
            continue
        order = made[0]
        if not order["Posted"]:
            out.append(f"CRM deal {deal_id}: its 1C order is not posted")
        if str(deal.get("ORIGIN_ID")) != str(order["Ref_Key"]) or deal.get("ORIGINATOR_ID") != installation:
            out.append(f"CRM deal {deal_id}: the order's key was not written back ({deal.get('ORIGIN_ID')})")
        if str(deal.get("UF_CRM_1C_ORDER_NUMBER") or "") != str(order["Number"]):
            out.append(f"CRM deal {deal_id}: the order's number was not written back")
    return out


def test_kills_in_every_phase_with_lost_replies_on_both_sides(box: Any, tmp_path: Path) -> None:
    path, env = write_config(tmp_path, box)
    landed: Counter[str] = Counter()
    crm_deals: list[str] = []
    with observer(path, env) as conn:
        for _ in range(5):  # setup's own writes may lose replies too; it is idempotent
            if cli(path, env, "setup").returncode == 0:
                break
        make_overdue(box)  # payment stages 35 days overdue: the money flow owes managers to-dos and tasks
        rounds = [*PHASES, *PHASES]
        for n, phase in enumerate(rounds):
            new_work(box, conn, n, crm_deals)
            command = ["backfill", "--since", "2017-01-01"] if n == 0 else ["sync"]
            for nth in (1, 2, 3, 5):
                done = cli(path, env, *command, crash=f"{phase}:{nth}")
                if done.returncode == KILLED:
                    landed[phase] += 1
                    break
                assert done.returncode in (0, 1), done.stderr[-2000:]
        for _ in range(3):  # clean runs settle whatever the kills left
            done = cli(path, env, "sync")
            assert done.returncode in (0, 1), done.stderr[-2000:]
        injected = {"bitrix24": dict(box.portal.faults.injected), "1c": dict(box.onec_app.faults.injected)}
        box.portal.faults = box.onec_app.faults = None
        final = cli(path, env, "sync")
        assert final.returncode in (0, 1), final.stderr[-2000:]
        state = census(conn)
        reminders = reminder_census(conn)
        installation = conn.installation_id
    assert set(landed) == set(PHASES), landed  # every phase was hit at least once
    # to-dos per ORIGIN_ID and tasks per XML_ID: at least one of each was made under the kills, none twice
    assert reminders["todo_keys"] and set(reminders["todo_keys"].values()) == {1}, reminders
    assert reminders["task_keys"] and set(reminders["task_keys"].values()) == {1}, reminders
    assert len(reminders["todos"]) == sum(reminders["todo_keys"].values())  # no unkeyed orphan to-do
    assert len(crm_deals) >= len(PHASES)
    found = problems(state, installation, crm_deals)
    assert found == [], "\n".join(found)
    assert injected["bitrix24"].get("lost_reply", 0) > 0 and injected["1c"].get("lost_reply", 0) > 0, injected
    assert len(state["payments"]) >= len(PHASES)  # payments were written under the kills too


def _wait_for_runs(ledger: Path, at_least: int, deadline: float, proc: Any = None) -> int:
    """Finished runs recorded in the ledger, polled (bounded) until there are `at_least` of them."""
    import sqlite3
    import time

    count = 0
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if ledger.exists():
            try:
                with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
                    count = int(
                        db.execute("SELECT COUNT(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0]
                    )
            except sqlite3.OperationalError:
                count = 0
            if count >= at_least:
                return count
        if proc is not None and proc.poll() is not None:
            return count  # the daemon ended by itself: the caller reports its output
        time.sleep(0.2)  # polling a condition with a deadline, not timing a result
    return count


def test_daemon_every_flow_at_its_minimum_interval_killed_twice_then_stopped(
    box: Any, tmp_path: Path
) -> None:
    """Proof (c): all flows at the minimum interval (10 s) under lost replies on both systems, each flow's first run
    at start; SIGKILL twice in the middle of cycles, restart, then SIGTERM."""
    import signal

    path, env = write_config(tmp_path, box)
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("flows:\n" + "".join(f"  {f}:\n    every: 10s\n" for f in FLOWS), encoding="utf-8")
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace(f"schedule: {ROOT / 'schedules' / 'default.yaml'}", f"schedule: {schedule}"), "utf-8"
    )
    ledger = tmp_path / "ledger.sqlite3"
    crm_deals: list[str] = []
    logs: list[str] = []
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    with observer(path, env) as conn:
        for _ in range(5):
            if cli(path, env, "setup").returncode == 0:
                break
        assert cli(path, env, "backfill", "--since", "2017-01-01").returncode in (0, 1)
        runs = _wait_for_runs(ledger, 1, 5)
        for round_ in range(3):
            new_work(box, conn, 100 + round_, crm_deals)
            proc = subprocess.Popen(
                [sys.executable, "-m", "connector", "run", "--config", str(path)],
                env={**clean, **env, "B24_1C_LOG_LEVEL": "INFO"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
            try:
                runs = _wait_for_runs(ledger, runs + len(FLOWS) + round_, 60, proc)
            finally:
                if round_ < 2:
                    proc.send_signal(signal.SIGKILL)
                else:
                    proc.send_signal(signal.SIGTERM)
                out, _ = proc.communicate(timeout=60)
                logs.append(out)
            if round_ == 2:
                assert proc.returncode == 0, out[-3000:]
        box.portal.faults = box.onec_app.faults = None
        assert cli(path, env, "sync").returncode in (0, 1)
        state = census(conn)
        installation = conn.installation_id
    everything_logged = "\n".join(logs)
    assert "within a transaction" not in everything_logged
    assert "Traceback" not in everything_logged, everything_logged[-3000:]
    found = problems(state, installation, crm_deals)
    assert found == [], "\n".join(found)
