"""Contracts (issue 15 point 4) end to end on the sandbox, over a copy of the shipped mappings edited as the comments
in orders.yaml and money.yaml say for a base whose extension adds the contract kind (docs/contracts.md): each deal
shows its order's contract (number, date, kind); a stage rule on the kind moves a deal; the overdue task goes to the
user configured for the kind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config

pytestmark = pytest.mark.integration
ORDER, CONTRACT = "Document_ЗаказКлиента", "Catalog_ДоговорыКонтрагентов"
FLOWS = ("counterparties", "orders", "money")


def edited(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert text.count(old) == 1, f"expected one {old!r} in the shipped mapping"
        text = text.replace(old, new)
    return text


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=4, seed=3, rate_limit="off")) as sandbox:
        yield sandbox


def connector(box: Any, tmp_path: Path, lawyer: int) -> Connector:
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    orders, money = folder / "orders.yaml", folder / "money.yaml"
    orders.write_text(
        edited(
            orders.read_text(encoding="utf-8"),
            ("fields: [Номер, Дата]", "fields: [Номер, Дата, CRM_ТипДоговора]"),
            ("  # UF_CRM_1C_CONTRACT_KIND: {source", "  UF_CRM_1C_CONTRACT_KIND: {source"),
            ("  # UF_CRM_1C_CONTRACT_KIND: {type", "  UF_CRM_1C_CONTRACT_KIND: {type"),
        ),
        encoding="utf-8",
    )
    money.write_text(
        edited(
            money.read_text(encoding="utf-8"),
            ("# lookups:\n#   contracts:", "lookups:\n  contracts:"),
            ("  # contract: {source", "  contract: {source"),
            (
                "# responsible_by_contract_kind: {Тендер: 17, ",
                f"responsible_by_contract_kind: {{Тендер: {lawyer}, ",
            ),
            ("      # - if: {all: [{field: contract_kind", "      - if: {all: [{field: contract_kind"),
            ("      #   then: EXECUTING\n", "        then: EXECUTING\n"),
        ),
        encoding="utf-8",
    )
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.mappings_dir = folder
    config.flows = list(FLOWS)
    conn = Connector(config)
    conn.setup()
    return conn


def contract_order(box: Any, due: datetime, taken: set[str]) -> dict[str, Any]:
    """An order on a contract no other order of the test has, half shipped, unpaid, its credit due on `due`."""
    while (order := box.dataset.order(due - timedelta(days=20)))["Договор_Key"] in taken:
        pass
    taken.add(order["Договор_Key"])
    total = order["СуммаДокумента"]
    schedule = [
        {"ВариантОплаты": "КредитПослеОтгрузки", "ДатаПлатежа": due.isoformat(), "ПроцентПлатежа": 100}
        | {"СуммаПлатежа": total}
    ]
    order = box.dataset.docs.repost(ORDER, order["Ref_Key"], {"ЭтапыГрафикаОплаты": schedule})
    box.dataset.shipment(order, 0.5, due - timedelta(days=18))
    return dict(order)


def sign(box: Any, order: dict[str, Any], number: str, kind: str) -> None:
    changes = {"Номер": number, "Дата": "2024-02-01T00:00:00", "CRM_ТипДоговора": kind}
    box.infobase.update(CONTRACT, order["Договор_Key"], changes)


def test_deals_show_their_contract_and_the_kind_drives_the_stage_and_the_overdue_task(
    box: Any, tmp_path: Path
) -> None:
    today = box.infobase.now().date()
    due = datetime.combine(today - timedelta(days=35), time())
    taken: set[str] = set()
    deferred, tender = contract_order(box, due, taken), contract_order(box, due, taken)
    sign(box, deferred, "Д-17/2024", "ОтсрочкаПлатежа")
    sign(box, tender, "Т-3/2024", "Тендер")
    lawyer = max(box.portal.users)
    conn = connector(box, tmp_path, lawyer)
    try:
        for flow in FLOWS:
            report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            assert not report.failed, (flow, report)
        from connector.verify import verify

        # The online check names a money.contract.source the order does not have.
        money = conn.config.mappings_dir / "money.yaml"
        money.write_text(
            edited(money.read_text("utf-8"), ("{source: Договор_Key,", "{source: Договор,")), "utf-8"
        )
        lines = verify(conn.config).lines()
        assert any(
            "money.contract.source: 1C Document_ЗаказКлиента has no property 'Договор'" in x for x in lines
        )
    finally:
        conn.close()

    deals = {d.get("ORIGIN_ID"): d for d in box.portal.deals()}
    a, b = deals[deferred["Ref_Key"]], deals[tender["Ref_Key"]]
    assert (a["UF_CRM_1C_CONTRACT_NUMBER"], a["UF_CRM_1C_CONTRACT_KIND"]) == ("Д-17/2024", "ОтсрочкаПлатежа")
    assert (b["UF_CRM_1C_CONTRACT_NUMBER"], b["UF_CRM_1C_CONTRACT_KIND"]) == ("Т-3/2024", "Тендер")
    assert a["UF_CRM_1C_CONTRACT_DATE"].startswith("2024-02-01")
    # Shipped, not paid: on deferred payment the goods left before the money, so the deal is in work; on a tender
    # contract no rule holds and the deal stays where it was.
    # (The stages without their pipeline: a big order's deal is in pipeline 1, C1:NEW.)
    assert [d["STAGE_ID"].rpartition(":")[2] for d in (a, b)] == ["EXECUTING", "NEW"]

    def overdue_tasks(deal: dict[str, Any]) -> list[dict[str, Any]]:
        return [t for t in box.portal.table("task").values() if f"D_{deal['ID']}" in t.get("ufCrmTask", [])]

    ((task_a,), (task_b,)) = overdue_tasks(a), overdue_tasks(b)
    assert str(task_b["responsibleId"]) == str(lawyer)  # Тендер → the lawyer
    assert str(task_a["responsibleId"]) == "1"  # a kind not listed → responsible_id
