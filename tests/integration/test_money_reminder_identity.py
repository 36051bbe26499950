"""Reminders carry their identity on the objects (docs/identity.md): a lost ledger, an old backup or a kill
between a to-do's add and its stamp never doubles a to-do or an overdue task. Counted through the portal's REST
interface, per key."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from connector.app import Connector
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "money"]
REMINDER_WRITES = ("crm.activity.todo.add", "crm.activity.update", "tasks.task.add")


@pytest.fixture
def moscow_past_midnight() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 11, 30, 21, 30, tzinfo=UTC), tick=True):
        yield


@pytest.fixture
def box(moscow_past_midnight: None) -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=3, rate_limit="off")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)  # type: ignore[attr-defined]
        yield sandbox


def connect(box: Any, ledger: Path) -> Connector:
    config = make_config(box, ledger)
    config.flows = FLOWS
    return Connector(config)


def run(conn: Connector, flows: list[str] = FLOWS) -> None:
    """Backfill, then a cycle, of the given flows."""
    for flow in flows:
        conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    for flow in flows:
        conn.runner(flow).incremental(3650, **({"full_scan": True} if flow == "money" else {}))


def overdue(box: Any, days: int = 35) -> str:
    """The reference order's second payment stage fell due `days` ago (a to-do and an overdue task are due)."""
    ref = box.reference["order"]
    order = box.infobase.get("Document_ЗаказКлиента", ref)
    stages = [dict(s) for s in order["ЭтапыГрафикаОплаты"]]
    due = datetime.combine(box.infobase.now().date() - timedelta(days=days), time())
    stages[1]["ДатаПлатежа"] = due.isoformat()
    box.dataset.docs.repost("Document_ЗаказКлиента", ref, {"ЭтапыГрафикаОплаты": stages})
    return str(ref)


def rows(
    conn: Connector, method: str, params: dict[str, Any], key: str | None = None
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start = 0
    while True:
        reply = conn.bitrix24.call(method, {**params, "start": start})
        page = reply.result[key] if key else reply.result
        found += page
        if reply.next is None:
            return found
        start = reply.next


def census(conn: Connector) -> dict[str, Any]:
    """To-dos per ORIGIN_ID and tasks per XML_ID (ours), and the ids of every to-do / task on the portal."""
    todos = rows(
        conn,
        "crm.activity.list",
        {
            "filter": {"OWNER_TYPE_ID": 2, "PROVIDER_ID": "CRM_TODO"},
            "select": ["ID", "ORIGINATOR_ID", "ORIGIN_ID", "SUBJECT", "OWNER_ID"],
        },
    )
    tasks = rows(conn, "tasks.task.list", {"filter": {}, "select": ["ID", "XML_ID", "TITLE"]}, "tasks")
    return {
        "todos": sorted(int(t["ID"]) for t in todos),
        "todo_keys": Counter(
            str(t["ORIGIN_ID"])
            for t in todos
            if t["ORIGINATOR_ID"] == conn.installation_id and t["ORIGIN_ID"]
        ),
        "todo_subjects": Counter((str(t["OWNER_ID"]), str(t["SUBJECT"])) for t in todos),
        "tasks": sorted(int(t["id"]) for t in tasks),
        "task_keys": Counter(str(t["xmlId"]) for t in tasks if t["xmlId"]),
    }


def reminder_writes(box: Any, since: int) -> list[str]:
    return [c.method for c in box.portal.calls[since:] if c.method in REMINDER_WRITES and c.status == 200]


def test_a_lost_ledger_never_doubles_a_to_do_or_an_overdue_task(box: Any, tmp_path: Path) -> None:
    ref = overdue(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        run(conn, ["counterparties", "orders"])
        conn.ledger.conn.execute("PRAGMA wal_checkpoint(FULL)")
        shutil.copy(tmp_path / "ledger.sqlite3", tmp_path / "backup.sqlite3")  # taken before any reminder
        run(conn)
        first = census(conn)
        inst = conn.installation_id
    assert first["todo_keys"][f"{ref}:due"] == 1 and first["task_keys"][f"{inst}:{ref}:overdue"] == 1
    # Every to-do and task on the portal is ours and stamped, one per key.
    assert sum(first["todo_keys"].values()) == len(first["todos"]) and set(first["todo_keys"].values()) == {1}
    assert sum(first["task_keys"].values()) == len(first["tasks"]) and set(first["task_keys"].values()) == {1}

    for ledger in ("lost.sqlite3", "backup.sqlite3"):  # a deleted ledger; a backup older than the reminders
        with connect(box, tmp_path / ledger) as fresh:
            before = len(box.portal.calls)
            run(fresh)
            assert reminder_writes(box, before) == [], f"{ledger}: reminders written again"
            assert census(fresh) == first
            assert fresh.ledger.child_count("money", "todo") == len(first["todos"])
            assert fresh.ledger.child_count("money", "task") == len(first["tasks"])


def test_an_unstamped_to_do_with_our_title_is_adopted_not_doubled(box: Any, tmp_path: Path) -> None:
    """A kill between crm.activity.todo.add and the stamp leaves a to-do with our title and no key: adopted."""
    ref = overdue(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        run(conn, ["counterparties", "orders"])
        deal = conn.ledger.links("orders", [ref])[ref].target_id
        number = box.infobase.get("Document_ЗаказКлиента", ref)["Number"]
        left = conn.bitrix24.call(
            "crm.activity.todo.add",
            {
                "ownerTypeId": 2,
                "ownerId": int(deal),
                "deadline": "2026-01-01T10:00:00+03:00",
                "title": f"Ожидается оплата по заказу {number}",
            },
        ).result["id"]
        other = conn.bitrix24.call(  # a manager's own to-do on the deal is never taken
            "crm.activity.todo.add",
            {
                "ownerTypeId": 2,
                "ownerId": int(deal),
                "deadline": "2026-01-01T10:00:00+03:00",
                "title": "Позвонить",
            },
        ).result["id"]
        run(conn, ["money"])
        state = census(conn)
        on_deal = [(o, s) for (o, s), n in state["todo_subjects"].items() for _ in range(n) if o == deal]
        assert sorted(on_deal) == sorted(
            [(deal, "Позвонить"), (deal, f"Ожидается оплата по заказу {number}")]
        )
        activities = {str(a["ID"]): a for a in box.portal.rows_of("activity")}  # the emulator's own view
        got = activities[str(left)]
        assert (got["ORIGINATOR_ID"], got["ORIGIN_ID"]) == (conn.installation_id, f"{ref}:due")
        assert (
            got["DEADLINE"][:10] != "2026-01-01"
        )  # moved to the order's due date, as a linked to-do would be
        assert not activities[str(other)].get("ORIGIN_ID")
        (todo,) = [c for c in conn.ledger.child_links("money", [ref])[ref] if c.kind == "todo"]
        assert todo.target_id == str(left)


def test_an_add_whose_stamp_failed_is_stamped_by_the_next_run(box: Any, tmp_path: Path) -> None:
    """The stamp (crm.activity.update in the add's batch) is refused once: the to-do is linked with a mark that
    makes the next run stamp it; never a second to-do."""
    ref = overdue(box)
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        run(conn, ["counterparties", "orders"])
        from b24_1c_sandbox.bitrix24.errors import ApiError
        from b24_1c_sandbox.bitrix24.registry import METHODS, Method

        real = METHODS["crm.activity.update"]

        def refuse(*args: Any) -> Any:
            raise ApiError(503, "INTERNAL_SERVER_ERROR", "stamp lost")

        METHODS["crm.activity.update"] = Method(real.name, real.scope, refuse, real.write)
        try:
            run(conn, ["money"])
        finally:
            METHODS["crm.activity.update"] = real
        first = census(conn)
        assert not first["todo_keys"].get(f"{ref}:due")  # added, not stamped
        conn.runner("money").incremental(3650, full_scan=True)
        conn.runner("money").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        second = census(conn)
        assert second["todo_keys"][f"{ref}:due"] == 1
        assert second["todos"] == first["todos"]
