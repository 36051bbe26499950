"""The exchange-plan mode's idle cycle is one 1C request (issue 13 goal 4): the node is looked up once per process,
an empty package is not acknowledged (the next cycle asks again with the same message number), and a package with
changes is acknowledged once they are committed, with the next number asked for afterwards. Where the base has the
default plan and this installation's node for a flow, the flow uses it without any mapping change (goal 5)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"
PLAN = "ExchangePlan_ДляCRM"


def _requests(box: Any, before: int) -> list[Any]:
    return list(box.onec_app.log)[before:]


def test_an_idle_cycle_is_one_select_changes(sandbox: Any, tmp_path: Path) -> None:
    node = sandbox.infobase.insert(PLAN, {"Code": "CRM-idle", "Description": "Битрикс24"})
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    text = (mappings / "orders.yaml").read_text(encoding="utf-8")
    text = text.replace(
        '  label: "{Number}"\n',
        f'  label: "{{Number}}"\n  changes:\n    exchange_plan: {PLAN}\n    node: CRM-idle\n',
        1,
    )
    (mappings / "orders.yaml").write_text(text, encoding="utf-8")
    config = make_config(sandbox, tmp_path / "l.db")
    config.mappings_dir = mappings
    config.flows = ["orders"]
    with Connector(config) as conn:
        conn.setup()
        conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        sandbox.infobase.changes.notify(node["Ref_Key"], 10**6)  # a clean slate, as after a backfill
        conn.runner("orders").incremental(30)  # reads the node once
        for _ in range(2):
            before = len(sandbox.onec_app.log)
            assert conn.runner("orders").incremental(30).read == 0
            sent = _requests(sandbox, before)
            assert [r.path.rsplit("/", 1)[-1] for r in sent] == ["SelectChanges"]
        edited = next(o for o in sandbox.infobase.all(ORDER) if o["Posted"] and not o["DeletionMark"])
        sandbox.dataset.edit_order(edited["Ref_Key"])
        dry = conn.runner("orders").incremental(30, dry_run=True)
        assert [a.record.key for a in dry.planned] == [edited["Ref_Key"]]
        assert sandbox.infobase.changes.pending(node["Ref_Key"])  # a dry run acknowledges nothing
        before = len(sandbox.onec_app.log)
        assert conn.runner("orders").incremental(30).updated == 1
        sent = [r.path.rsplit("/", 1)[-1] for r in _requests(sandbox, before)]
        assert sent[0] == "SelectChanges" and sent[-1] == "NotifyChangesReceived"
        assert sandbox.infobase.changes.pending(node["Ref_Key"]) == []  # acknowledged
        asked = int(sandbox.infobase.get(PLAN, node["Ref_Key"])["ReceivedNo"])
        sandbox.dataset.edit_order(edited["Ref_Key"])
        assert conn.runner("orders").incremental(30).updated == 1
        assert int(sandbox.infobase.get(PLAN, node["Ref_Key"])["ReceivedNo"]) == asked + 1  # the next number
        before = len(sandbox.onec_app.log)
        assert conn.runner("orders").incremental(30).read == 0
        assert [r.path.rsplit("/", 1)[-1] for r in _requests(sandbox, before)] == ["SelectChanges"]


def test_the_default_plan_is_used_where_the_base_has_our_node(sandbox: Any, connector: Connector) -> None:
    node = sandbox.infobase.insert(
        PLAN, {"Code": f"{connector.installation_id}-orders", "Description": "b24-1c orders"}
    )
    connector.runner("orders").backfill(SINCE.replace(tzinfo=connector.onec_tz), None)
    old = [
        o
        for o in sandbox.infobase.all(ORDER)
        if o["Posted"] and not o["DeletionMark"] and o["Date"] < "2019-01-01"
    ]
    edited, deleted = old[0], old[1]
    sandbox.dataset.edit_order(edited["Ref_Key"])  # years old: no date window would see it
    sandbox.infobase.delete(ORDER, deleted["Ref_Key"])
    before = len(sandbox.onec_app.log)
    report = connector.runner("orders").incremental(30)
    sent = _requests(sandbox, before)
    assert report.updated == 1 and report.deleted == 1
    assert sent[0].path.endswith("SelectChanges") and sent[-1].path.endswith("NotifyChangesReceived")
    assert not any(r.path.endswith(ORDER) and "Date" in r.query for r in sent)  # no window scan
    assert sandbox.infobase.changes.pending(node["Ref_Key"]) == []
    # The counterparties flow's node does not exist here: it keeps comparing versions, as before.
    before = len(sandbox.onec_app.log)
    connector.runner("counterparties").incremental(30)
    assert not any(r.path.endswith("SelectChanges") for r in _requests(sandbox, before))


def test_the_money_flow_reads_orders_and_documents_from_one_package(
    sandbox: Any, connector: Connector
) -> None:
    node = sandbox.infobase.insert(
        PLAN, {"Code": f"{connector.installation_id}-money", "Description": "b24-1c money"}
    )
    since = SINCE.replace(tzinfo=connector.onec_tz)
    for flow in ("orders", "money"):
        connector.runner(flow).backfill(since, None)
    connector.runner("money").incremental(30)  # whatever the backfill left registered
    old = next(
        o
        for o in sandbox.infobase.all(ORDER)
        if o["Posted"] and not o["DeletionMark"] and o["Date"] < "2019-01-01"
    )
    deal = next(d for d in sandbox.portal.deals() if d.get("ORIGIN_ID") == old["Ref_Key"])
    paid = deal.get("UF_CRM_1C_PAID_AMOUNT")
    # A payment dated years ago (no date window reaches it), as an accountant enters a late bank statement.
    receipt = sandbox.dataset.receipt(old, 1000.0, datetime.fromisoformat(old["Date"]) + timedelta(days=1))
    before = len(sandbox.onec_app.log)
    report = connector.runner("money").incremental(30)
    sent = _requests(sandbox, before)
    assert report.updated == 1
    assert sent[0].path.endswith("SelectChanges") and sent[-1].path.endswith("NotifyChangesReceived")
    assert not any("Date ge" in unquote(r.query) for r in sent)  # no window over orders or documents
    after = next(d for d in sandbox.portal.deals() if d.get("ORIGIN_ID") == old["Ref_Key"])
    assert after.get("UF_CRM_1C_PAID_AMOUNT") != paid
    before = len(sandbox.onec_app.log)
    assert connector.runner("money").incremental(30).read == 0
    assert [r.path.rsplit("/", 1)[-1] for r in _requests(sandbox, before)] == ["SelectChanges"]
    entity = next(e for e in sandbox.infobase.sets if receipt["Ref_Key"] in sandbox.infobase.sets[e])
    sandbox.infobase.delete(entity, receipt["Ref_Key"])  # deleted outright: the package says so
    assert connector.runner("money").incremental(30).updated == 1
    again = next(d for d in sandbox.portal.deals() if d.get("ORIGIN_ID") == old["Ref_Key"])
    assert again.get("UF_CRM_1C_PAID_AMOUNT") == paid
    assert sandbox.infobase.changes.pending(node["Ref_Key"]) == []


def test_the_invoices_flow_looks_at_the_invoices_a_package_touches(
    sandbox: Any, connector: Connector
) -> None:
    sandbox.infobase.insert(PLAN, {"Code": f"{connector.installation_id}-invoices", "Description": "b24-1c"})
    since = SINCE.replace(tzinfo=connector.onec_tz)
    for flow in ("orders", "invoices"):
        connector.runner(flow).backfill(since, None)
    connector.runner("invoices").incremental(30)  # whatever the backfill left registered
    before = len(sandbox.onec_app.log)
    assert connector.runner("invoices").incremental(30).read == 0
    assert [r.path.rsplit("/", 1)[-1] for r in _requests(sandbox, before)] == ["SelectChanges"]
    invoiced = {str(i["ДокументОснование"]) for i in sandbox.infobase.all("Document_СчетНаОплатуКлиенту")}
    old = next(
        o
        for o in sandbox.infobase.all(ORDER)
        if o["Ref_Key"] in invoiced and o["Posted"] and o["Date"] < "2020-01-01"
    )
    sandbox.dataset.receipt(old, 10.0, datetime.fromisoformat(old["Date"]) + timedelta(days=1))
    before = len(sandbox.onec_app.log)
    report = connector.runner("invoices").incremental(30)
    sent = _requests(sandbox, before)
    assert report.read >= 1  # the order's invoices are looked at again (their stage follows payment)
    assert sent[0].path.endswith("SelectChanges") and sent[-1].path.endswith("NotifyChangesReceived")
    assert not any("Date ge" in unquote(r.query) for r in sent)
