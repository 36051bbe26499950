"""1C change detection: date window + DataVersion, the periodic full key scan, and the exchange-plan mode."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"


def old_orders(box: Any, n: int) -> list[dict[str, Any]]:
    return [
        o
        for o in box.infobase.all(ORDER)
        if o["Posted"] and not o["DeletionMark"] and o["Date"] < "2019-01-01"
    ][:n]


def deal_of(box: Any, ref: str) -> dict[str, Any] | None:
    return next((d for d in box.portal.deals() if d.get("ORIGIN_ID") == ref), None)


def test_window_misses_old_edits_and_the_full_scan_catches_them_and_deletions(
    sandbox: Any, connector: Connector
) -> None:
    runner = connector.runner("orders")
    runner.backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
    edited, deleted = old_orders(sandbox, 2)
    sandbox.dataset.edit_order(edited["Ref_Key"])
    sandbox.infobase.delete(ORDER, deleted["Ref_Key"])
    windowed = connector.runner("orders").incremental(30, full_scan=False)
    assert windowed.updated == 0  # a 2018 order is outside a 30-day window
    full = connector.runner("orders").incremental(30, full_scan=True)
    assert full.updated == 1 and full.deleted == 1
    rows = sandbox.portal.deal_rows(int(deal_of(sandbox, edited["Ref_Key"])["ID"]))
    assert len(rows) == len(edited["Товары"]) + 1


def test_exchange_plan_mode_sees_old_edits_and_deletions_and_acknowledges_them(
    sandbox: Any, tmp_path: Path
) -> None:
    node = sandbox.infobase.insert("ExchangePlan_ДляCRM", {"Code": "CRM", "Description": "Битрикс24"})
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    text = (mappings / "orders.yaml").read_text(encoding="utf-8")
    text = text.replace(
        '  label: "{Number}"\n',
        '  label: "{Number}"\n  changes:\n    exchange_plan: '
        "ExchangePlan_ДляCRM\n    node: CRM\n    on_delete: forget\n",
        1,
    )
    (mappings / "orders.yaml").write_text(text, encoding="utf-8")
    config = make_config(sandbox, tmp_path / "l.db")
    config.mappings_dir = mappings
    config.flows = ["orders"]
    with Connector(config) as conn:
        conn.setup()
        conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        sandbox.infobase.changes.notify(
            node["Ref_Key"], 10**6
        )  # start from a clean slate, as after a backfill
        edited, deleted = old_orders(sandbox, 2)
        sandbox.dataset.edit_order(edited["Ref_Key"])
        sandbox.infobase.delete(ORDER, deleted["Ref_Key"])
        before = len(list(sandbox.onec_app.log))
        report = conn.runner("orders").incremental(30)
        requests = [r for r in list(sandbox.onec_app.log)[before:]]
        assert report.updated == 1 and report.deleted == 1
        assert deleted["Ref_Key"] not in conn.ledger.links(
            "orders", [deleted["Ref_Key"]]
        )  # on_delete: forget
        assert any("SelectChanges" in r.path for r in requests) and any(
            "NotifyChangesReceived" in r.path for r in requests
        )
        assert not any(r.path.endswith(ORDER) and "Date" in r.query for r in requests)  # no window scan
        assert sandbox.infobase.changes.pending(node["Ref_Key"]) == []  # acknowledged
        quiet = conn.runner("orders").incremental(30)
        assert quiet.read == 0 and quiet.updated == 0
