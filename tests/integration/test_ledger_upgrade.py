"""A ledger written by the release at commit b8f21bf (tests/fixtures/ledger_b8f21bf, made by its make.py) is
migrated by the current `Ledger`: its sentinel rows in `links` become child links and source state meaning the same
things, and the next sync against the same sandbox state writes nothing to either system and twins nothing."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.clock import ManualClock
from connector.ledger import MIGRATIONS, Ledger
from tests.conftest import make_config

pytestmark = pytest.mark.integration
FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "ledger_b8f21bf"
FLOWS = ["counterparties", "orders", "money"]
B24_WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")


def unpack(tmp: Path) -> tuple[dict[str, Any], Path, Path]:
    """(state.json, the sandbox's state folder, the old ledger), copied out of the fixture."""
    state = json.loads((FIXTURE / "state.json").read_text())
    folder = tmp / "sandbox"
    folder.mkdir()
    for name in ("onec.json", "bitrix24.json"):
        (folder / name).write_bytes(gzip.decompress((FIXTURE / "sandbox" / f"{name}.gz").read_bytes()))
    ledger = tmp / "ledger.sqlite3"
    ledger.write_bytes(gzip.decompress((FIXTURE / "ledger.sqlite3.gz").read_bytes()))
    return state, folder, ledger


def test_the_old_ledger_becomes_typed_tables_meaning_the_same(tmp_path: Path) -> None:
    state, _, path = unpack(tmp_path)
    ref = state["reference"]
    ledger = Ledger(path)
    try:
        assert ledger.schema_version == len(MIGRATIONS)
        tables = {r[0] for r in ledger.conn.execute("SELECT DISTINCT flow FROM links")}
        assert tables == {"counterparties", "orders", "deals_to_orders", "money"}  # no sentinel rows left
        orders = list(ledger.keys("money"))
        children = ledger.child_links("money", orders)
        kinds = Counter(c.kind for cs in children.values() for c in cs)
        assert kinds == {"payment": 62, "todo": 2, "task": 1}
        (todo,) = [c for c in children[ref] if c.kind == "todo"]
        assert (todo.state, todo.deadline) == ("open", "2026-10-27T10:00:00+03:00")  # 35 days before NOW
        (task,) = [c for c in children[ref] if c.kind == "task"]
        assert (task.key, task.state) == ("overdue", "open")
        payments = [c for cs in children.values() for c in cs if c.kind == "payment"]
        assert all(c.key.split(":")[0] and c.state for c in payments)  # 1C row key, the hash last written
        watched = ledger.source_state("money:due", "order")
        assert set(watched) == {ref, "f7aabdbc-cc96-4fb5-beb4-983c6fa033d1"}
        assert {s.version for s in watched.values()} == {"2026-12-01"}
        docs = sum(
            len(ledger.source_state("money:docs", entity))
            for (entity,) in ledger.conn.execute("SELECT DISTINCT entity FROM source_state")
        )
        assert docs == 117
        receipts = ledger.source_state("money:docs", "Document_ПоступлениеБезналичныхДенежныхСредств")
        assert receipts and all(len(s.pointers) == 1 and s.version for s in receipts.values())
    finally:
        ledger.close()


def test_after_the_upgrade_a_sync_writes_nothing_and_twins_nothing(tmp_path: Path) -> None:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    state, folder, ledger = unpack(tmp_path)
    now = datetime.fromisoformat(state["now"])
    clock = ManualClock(now)
    options = SandboxOptions(
        orders=state["orders"],
        seed=state["seed"],
        rate_limit="off",
        now=now.replace(tzinfo=None),
        state_dir=folder,
    )
    with Sandbox(options, clock=clock) as box:
        config = make_config(box, ledger)
        config.flows = FLOWS
        b24_before, onec_before = len(box.portal.calls), len(box.onec_app.log)
        with Connector(config, clock=clock) as conn:
            reports = [conn.runner(flow).incremental(3650, full_scan=True) for flow in FLOWS]
            clock.advance(86400)  # watched orders (to-do, task) are looked at again the next day
            again = conn.runner("money").incremental(3650)
            looked = conn.ledger.source_state("money:due", "order")[state["reference"]].version
            children = conn.ledger.child_links("money", list(conn.ledger.keys("money")))
            linked = sorted(c.target_id for cs in children.values() for c in cs if c.kind == "payment")
        b24 = [c.method for c in box.portal.calls[b24_before:] if c.method.endswith(B24_WRITES)]
        onec = [
            f"{r.method} {r.path}" for r in list(box.onec_app.log)[onec_before:] if r.method in ONEC_WRITES
        ]
        deals = Counter(str(d.get("ORIGIN_ID")) for d in box.portal.deals())
        payments = sorted(str(p["id"]) for p in box.portal.table("payment").values())
        todos = Counter(str(a.get("OWNER_ID")) for a in box.portal.rows_of("activity"))
        tasks = Counter(str(t.get("UF_CRM_TASK")) for t in box.portal.rows_of("task"))
    assert all(r.failed == 0 for r in [*reports, again]), [r.errors for r in reports]
    assert looked == "2026-12-02" and again.read  # the watched order was read again the next day
    assert (b24, onec) == ([], [])
    assert max(deals.values()) == 1
    assert payments == linked and len(linked) == 62  # every payment linked once (b8f21bf wrote no xmlId)
    assert max(todos.values()) == 1 and max(tasks.values()) == 1
