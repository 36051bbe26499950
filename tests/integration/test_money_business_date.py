"""One business date per run, in the 1C server's zone: at 22:30 UTC and at 00:30 UTC (the UTC date differs from
Moscow's at the first instant) the money flow counts the same days overdue, opens the to-do at the same deadline in
the portal's zone, and notes the same day for its daily look at due orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.clock import ManualClock
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.dataset import reference_scenario
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=5, seed=3, rate_limit="off")) as sandbox:
        sandbox.reference = reference_scenario(sandbox.infobase)
        yield sandbox


@pytest.mark.parametrize(
    "utc",
    [datetime(2026, 11, 30, 22, 30, tzinfo=UTC), datetime(2026, 12, 1, 0, 30, tzinfo=UTC)],
    ids=["22:30 UTC", "00:30 UTC"],
)
def test_the_money_flow_works_on_the_1c_business_date(box: Any, tmp_path: Path, utc: datetime) -> None:
    order_ref = box.reference["order"]
    stages = [dict(s) for s in box.infobase.get(ORDER, order_ref)["ЭтапыГрафикаОплаты"]]
    due = datetime(2026, 12, 1) - timedelta(days=35)  # 35 days before the Moscow date at both instants
    stages[1]["ДатаПлатежа"] = datetime.combine(due.date(), time()).isoformat()
    box.dataset.docs.repost(ORDER, order_ref, {"ЭтапыГрафикаОплаты": stages})
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "orders", "money"]
    with Connector(config, clock=ManualClock(utc)) as conn:
        conn.setup()
        for flow in config.flows:
            report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            assert report.failed == 0, report.errors
        watched = conn.ledger.source_state("money:due", "order", [order_ref])[order_ref]
    deal = next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == order_ref)
    tasks = [t for t in box.portal.rows_of("task") if f"D_{deal['ID']}" in str(t)]
    assert len(tasks) == 1 and ": 35 дн." in str(tasks[0])  # 34 if counted on the UTC date at 22:30
    (todo,) = [a for a in box.portal.rows_of("activity") if str(a.get("OWNER_ID")) == deal["ID"]]
    assert todo["DEADLINE"].startswith("2026-10-27T10:00:00")  # 10:00 portal time on the due date
    assert watched.version == "2026-12-01"  # the day it was last looked at
