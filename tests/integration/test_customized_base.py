"""A customized 1C base works through the mappings alone: a custom order attribute travels to a deal field, and a
deal field travels back into another custom attribute (an extension's own, `ИмяРасширения_Поле`).

The sandbox's 1C publishes the custom attributes from a profile extension file (B24_1C_ONEC_EXTENSION, see
sandbox/b24_1c_sandbox/onec/extension.py); the shipped mappings get four lines each and no code changes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import ROOT, SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "deals_to_orders"]
ORDERS = "Document_ЗаказКлиента"
EXTENSION = """\
Document_ЗаказКлиента:
  attributes:
    ДополнительныйСтатус: string
    ИмяРасширения_Поле: string
"""


def _add(path: Path, fields: str, user_fields: str) -> None:
    """Field rules at the end of `fields:` and user fields under `user_fields:`, as an admin would type them."""
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("\nuser_fields:")
    line_end = rest.index("\n") + 1
    path.write_text(
        head + "\n" + fields + sep + rest[:line_end] + user_fields + rest[line_end:], encoding="utf-8"
    )


def _mappings(tmp_path: Path) -> Path:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    _add(
        mappings / "orders.yaml",
        "  UF_CRM_1C_EXTRA_STATUS:\n    source: ДополнительныйСтатус\n",
        '  UF_CRM_1C_EXTRA_STATUS: {type: string, label: "Доп. статус заказа (1С)"}\n',
    )
    _add(
        mappings / "deals_to_orders.yaml",
        "  ИмяРасширения_Поле:\n    source: UF_CRM_INSTALL_NOTE\n    owner: bitrix24\n",
        '  UF_CRM_INSTALL_NOTE: {type: string, label: "Примечание к монтажу (для 1С)"}\n',
    )
    return mappings


def _deal(conn: Connector, origin: str) -> dict[str, Any]:
    deals = conn.bitrix24.call(
        "crm.deal.list", {"filter": {"ORIGIN_ID": origin}, "select": ["*", "UF_*"]}
    ).result
    assert len(deals) == 1, deals
    return dict(deals[0])


def test_custom_attributes_travel_both_ways_through_mappings_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    extension = tmp_path / "extension.yaml"
    extension.write_text(EXTENSION, encoding="utf-8")
    monkeypatch.setenv("B24_1C_ONEC_EXTENSION", str(extension))
    with Sandbox(SandboxOptions(orders=30, seed=11, rate_limit="off")) as box:
        ib = box.infobase
        order = next(o for o in ib.all(ORDERS) if o["Posted"] and not o["DeletionMark"])
        ib.update(ORDERS, order["Ref_Key"], {"ДополнительныйСтатус": "Монтаж согласован"})  # typed in 1C
        config = make_config(box, tmp_path / "ledger.db")
        config.mappings_dir = _mappings(tmp_path)
        config.flows = FLOWS
        with Connector(config) as conn:
            conn.setup()  # creates UF_CRM_1C_EXTRA_STATUS and UF_CRM_INSTALL_NOTE on deals
            for flow in FLOWS:
                conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
            # 1C → Bitrix24: the custom order attribute is on the deal
            assert _deal(conn, order["Ref_Key"])["UF_CRM_1C_EXTRA_STATUS"] == "Монтаж согласован"
            # Bitrix24 → 1C: a deal field lands in the extension's attribute of the order made from the deal
            deal = start_deal(conn, box, title="Кровля с монтажом")
            note = "Монтаж 15.12, въезд со двора"
            conn.bitrix24.call(
                "crm.deal.update", {"id": deal, "fields": {"UF_CRM_INSTALL_NOTE": note}}, write=True
            )
            report = conn.runner("deals_to_orders").incremental(30)
            assert report.created == 1 and report.failed == 0, report.errors
            made = [o for o in ib.all(ORDERS) if str(o["НомерПоДаннымКлиента"]).strip() == f"B24-{deal}"]
            assert len(made) == 1 and made[0]["Posted"]
            assert made[0]["ИмяРасширения_Поле"] == note
            # a later change of the deal field reaches the same order (the field is owned by Bitrix24)
            conn.bitrix24.call(
                "crm.deal.update",
                {"id": deal, "fields": {"UF_CRM_INSTALL_NOTE": "Перенос на 16.12"}},
                write=True,
            )
            report = conn.runner("deals_to_orders").incremental(30)
            assert report.updated == 1 and report.failed == 0, report.errors
            again = [o for o in ib.all(ORDERS) if str(o["НомерПоДаннымКлиента"]).strip() == f"B24-{deal}"]
            assert [o["ИмяРасширения_Поле"] for o in again] == ["Перенос на 16.12"]
