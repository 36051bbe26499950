"""Company rollups and dormant clients end to end on the sandbox: totals from 1C on each company, one dormancy
task per client and dormancy, never a second after a lost ledger (counted through the portal's REST interface)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import structlog
import time_machine
from typer.testing import CliRunner

from connector.app import Connector
from connector.cli import app
from connector.flows.rollups.model import _add_months
from tests.conftest import EXAMPLE, SINCE, make_config

pytestmark = pytest.mark.integration


def _orders(box: Any, tmp_path: Path) -> dict[str, list[date]]:
    """Posted order dates per counterparty, read from 1C here (not through the flow)."""
    with Connector(make_config(box, tmp_path / "read.db"), lock=False) as conn:
        out: dict[str, list[date]] = {}
        for _, rows in conn.odata.pages(
            "Document_ЗаказКлиента",
            filter="Posted eq true and DeletionMark eq false",
            orderby="Ref_Key asc",
            page_size=500,
            select=["Ref_Key", "Date", "Контрагент_Key"],
        ):
            for row in rows:
                out.setdefault(row["Контрагент_Key"], []).append(datetime.fromisoformat(row["Date"]).date())
    return out


def _rest(box: Any, method: str, params: dict[str, Any]) -> Any:
    return requests.post(box.webhook_url + method, json=params, timeout=10).json()["result"]


@pytest.fixture(autouse=True)
def _logs_to_a_live_stream() -> Iterator[None]:
    """A command run through CliRunner configures logging onto CliRunner's stream, closed afterwards: later tests
    (in any module) would fail on their first log line."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=60, seed=11, rate_limit="off")) as sandbox:
        yield sandbox


def test_rollups_reach_companies_and_a_dormant_client_gets_one_task_even_after_a_lost_ledger(
    box: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("connector.flows.rollups.source.NAMES_BY_REF", 5)  # names from the catalog's pages
    orders = _orders(box, tmp_path)
    with Connector(make_config(box, tmp_path / "first.db")) as conn:
        report = dict(conn.setup())
        assert report["company field UF_CRM_1C_DORMANT"] == "created"
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    companies = {
        c["ORIGIN_ID"]: c
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID", "ASSIGNED_BY_ID", "UF_*"]})
    }
    ours = {k: v for k, v in orders.items() if k in companies}
    assert len(ours) >= 10
    # "Today" (1C's business date) is 3 days after the newest of them went quiet: at least one fresh dormancy.
    newest = max(max(d) for d in ours.values())
    today = _add_months(newest, 6) + timedelta(days=3)
    fresh = {k for k, d in ours.items() if today - timedelta(days=30) <= _add_months(max(d), 6) <= today}
    assert fresh
    at = datetime.combine(today, time(9), UTC)
    with time_machine.travel(at, tick=False):
        for ledger in ("first.db", "first.db", "lost.db"):  # again (nothing new), then on an empty ledger
            with Connector(make_config(box, tmp_path / ledger)) as conn:
                conn.runner("rollups").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
                conn.runner("rollups").incremental(7)
        # `b24-1c report dormant --json`: the same clients, the freshest dormancy first, with their companies.
        for name, value in {**box.env(), "B24_1C_LEDGER": str(tmp_path / "lost.db")}.items():
            monkeypatch.setenv(name, value)
        listed = CliRunner().invoke(app, ["report", "dormant", "--json", "-c", str(EXAMPLE)])
        assert listed.exit_code == 0, listed.output
        dormant = json.loads(listed.stdout)
        text = CliRunner().invoke(app, ["report", "dormant", "-c", str(EXAMPLE)]).stdout
    rows = {
        c["ORIGIN_ID"]: c
        for c in _rest(box, "crm.company.list", {"select": ["ID", "ORIGIN_ID", "ASSIGNED_BY_ID", "UF_*"]})
    }
    for key, dates in ours.items():
        company = rows[key]
        assert company["UF_CRM_1C_ORDERS_COUNT"] == str(len(dates)), key
        assert company["UF_CRM_1C_LAST_ORDER_DATE"][:10] == max(dates).isoformat(), key
        assert company["UF_CRM_1C_DORMANT"] == ("1" if _add_months(max(dates), 6) <= today else "0"), key
    expected = {k for k, d in ours.items() if _add_months(max(d), 6) <= today}
    assert {r["counterparty"] for r in dormant if r["company_id"]} == expected
    assert [r["last_order_date"] for r in dormant] == sorted(
        (r["last_order_date"] for r in dormant), reverse=True
    )
    titles = {
        c["ORIGIN_ID"]: c["TITLE"] for c in _rest(box, "crm.company.list", {"select": ["ORIGIN_ID", "TITLE"]})
    }
    for r in dormant:
        if r["company_id"]:
            assert r["name"] == titles[r["counterparty"]]
            assert r["company_id"] == rows[r["counterparty"]]["ID"]
            assert f"{r['name']}: last order {r['last_order_date']}" in text
    assert text.startswith(f"{len(dormant)} dormant client(s): no order for 6 months or more")
    tasks = _rest(box, "tasks.task.list", {"select": ["ID", "XML_ID", "UF_CRM_TASK", "RESPONSIBLE_ID"]})[
        "tasks"
    ]
    per_key = Counter(t["xmlId"] for t in tasks)
    assert all(n == 1 for n in per_key.values()), per_key
    assert {t["xmlId"].split(":")[1] for t in tasks} == fresh
    for task in tasks:
        key, last = task["xmlId"].split(":")[1], task["xmlId"].split(":")[3]
        assert last == max(ours[key]).isoformat()
        assert task["ufCrmTask"] == [f"CO_{rows[key]['ID']}"]
        assert task["responsibleId"] == rows[key]["ASSIGNED_BY_ID"]


def test_verify_names_a_company_field_the_rollups_write_that_the_portal_lacks(
    box: Any, tmp_path: Path
) -> None:
    from connector.verify import verify
    from connector.yamlio import line_of, load_yaml

    config = make_config(box, tmp_path / "l.db")
    with Connector(config) as conn:
        conn.setup()
    box.portal.user_field_defs("company").pop("UF_CRM_1C_OPEN_DEBT")
    found = verify(config)
    problems = [i.line() for i in found.problems]
    rollups = config.mappings_path / "rollups.yaml"
    line = line_of(load_yaml(rollups), ("fields", "UF_CRM_1C_OPEN_DEBT"))
    assert problems == [
        f"[FIX] {rollups}:{line}: fields.UF_CRM_1C_OPEN_DEBT: the portal has "
        "no company user field UF_CRM_1C_OPEN_DEBT: run `b24-1c setup` (as an administrator)"
    ], problems
