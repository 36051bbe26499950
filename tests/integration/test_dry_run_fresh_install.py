"""`sync --dry-run` on a fresh install: an order whose company the counterparties flow would make first is shown as
waiting for it (a dry run creates nothing), not failed; a company a real run would recognise by ИНН/КПП is shown as
`= link (found by ИНН …)`, not `+ create`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console

from connector.app import Connector
from connector.cli import common
from connector.dryrun import plan_lines
from tests.conftest import make_config

pytestmark = pytest.mark.integration
SINCE = datetime(2017, 1, 1, tzinfo=ZoneInfo("Europe/Moscow"))


def test_a_fresh_dry_run_shows_waits_and_recognised_companies(sandbox: Any, tmp_path: Path) -> None:
    config = make_config(sandbox, tmp_path / "l.db")
    parties = sandbox.infobase.all("Catalog_Контрагенты")
    cp = next(c for c in parties if c["ЮрФизЛицо"] == "ЮрЛицо" and c["КПП"] and not c["DeletionMark"])
    with Connector(config.model_copy(update={"flows": ["counterparties", "orders"]})) as conn:
        b24 = conn.bitrix24
        typed = b24.call("crm.company.add", {"fields": {"TITLE": "Заведена вручную"}}, write=True).result
        requisite = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": typed, "PRESET_ID": 1, "NAME": "Реквизиты"}
        requisite |= {"RQ_INN": cp["ИНН"], "RQ_KPP": cp["КПП"]}
        b24.call("crm.requisite.add", {"fields": requisite}, write=True)
        runner = conn.runner("counterparties")
        report = runner.backfill(SINCE, None, dry_run=True)
        calls = len(sandbox.portal.calls)
        lines = plan_lines(report, runner.target)
        assert (
            len(sandbox.portal.calls) == calls
        )  # the plans' reads serve the diff: nothing is looked up again
        orders = conn.runner("orders").backfill(SINCE, None, dry_run=True)
    linked = [line for line in lines if line.startswith("= link")]
    assert linked == [
        f"= link (found by ИНН {cp['ИНН']}, КПП {cp['КПП']}): {_label(report, cp)} → company {typed}"
    ]
    assert orders.failed == 0 and orders.errors == []
    assert orders.waiting > 0 and orders.waits
    assert all(
        "would wait for counterparties (Контрагент_Key " in w and "not created yet in this dry run)" in w
        for w in orders.waits
    ), orders.waits[:3]
    console = Console(width=400, no_color=True)
    saved, common.out = common.out, console
    try:
        with console.capture() as got:
            common.print_report(orders)
    finally:
        common.out = saved
    assert f"  {orders.waits[0]}" in got.get() and "failed:" not in got.get()
    assert orders.waiting <= 10 or f"{orders.waiting} record(s) in all would wait" in got.get()


def _label(report: Any, cp: dict[str, Any]) -> str:
    return next(a.record.label for a in report.planned if a.record.key == cp["Ref_Key"])
