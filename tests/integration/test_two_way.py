"""Issue 6, proof (c): edits on both sides over 20 cycles never ping-pong; once edits stop, writes fall to zero."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration
FLOWS = ["managers", "counterparties", "orders", "money", "deals_to_orders"]
B24_WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=60, seed=21, rate_limit="off")) as sandbox:
        yield sandbox


@pytest.fixture
def conn(box: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.flows = FLOWS
    with Connector(config) as c:
        c.setup()
        for flow in FLOWS:
            c.runner(flow).backfill(SINCE.replace(tzinfo=c.onec_tz), None)
        yield c


def writes_during(box: Any, action: Any) -> tuple[int, int]:
    """(Bitrix24 writes, 1C writes) made while `action` runs."""
    b24_before = len(box.portal.calls)
    onec_before = len(box.onec_app.log)
    action()
    b24 = sum(1 for c in box.portal.calls[b24_before:] if c.method.endswith(B24_WRITES) and c.status == 200)
    onec = sum(1 for r in list(box.onec_app.log)[onec_before:] if r.method in ONEC_WRITES)
    return b24, onec


def test_edits_on_both_sides_never_ping_pong(box: Any, conn: Connector) -> None:
    rng = random.Random(5)
    company = next(
        link.target_id
        for link in conn.ledger.links("counterparties", list(conn.ledger.keys("counterparties"))).values()
        if link.target_id.isdigit()
    )
    product = box.dataset.products[0]
    crm_deals: list[str] = []

    def cycle() -> None:
        for flow in FLOWS:
            conn.runner(flow).incremental(30)

    history = []
    for n in range(20):
        editing = n < 12
        if editing:
            now = box.infobase.now().replace(microsecond=0)  # the 1C server's wall clock
            if n % 3 == 0:  # 1C: a new order, an edit of a recent one, a payment
                order = box.dataset.order(now - timedelta(hours=1))
                box.dataset.receipt(order, float(order["СуммаДокумента"]) / 2, now - timedelta(minutes=30))
            if n % 3 == 1:  # Bitrix24: a manager starts a deal and later changes a field Bitrix24 owns
                reply = conn.bitrix24.call(
                    "crm.deal.add",
                    {
                        "fields": {
                            "TITLE": f"Сделка из CRM {n}",
                            "COMPANY_ID": company,
                            "STAGE_ID": "EXECUTING",
                            "CURRENCY_ID": "RUB",
                            "OPPORTUNITY": product["price"] * 2,
                        }
                    },
                    write=True,
                )
                crm_deals.append(str(reply.result))
                conn.bitrix24.call(
                    "crm.deal.productrows.set",
                    {
                        "id": reply.result,
                        "rows": [
                            {"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 2}
                        ],
                    },
                    write=True,
                )
            if n % 3 == 2 and crm_deals:
                deal = rng.choice(crm_deals)
                day = (box.portal.now() + timedelta(days=rng.randint(3, 30))).date().isoformat()
                conn.bitrix24.call(
                    "crm.deal.update", {"id": deal, "fields": {"UF_CRM_1C_DESIRED_SHIPMENT": day}}, write=True
                )
        history.append(writes_during(box, cycle))
    quiet = history[13:]
    assert all(h == (0, 0) for h in quiet), history  # once edits stop, both sides stay still
    assert any(h != (0, 0) for h in history[:12]), history  # the edits did travel
    # Every deal started in the CRM became exactly one 1C order, and its Bitrix24-owned field reached 1C.
    every = [o for o in box.infobase.all("Document_ЗаказКлиента")]
    per_key = Counter(str(o.get("НомерПоДаннымКлиента", "")).strip() for o in every)
    # Counted, not collected into a dict: two orders with one key would collapse there and hide a twin.
    assert {k: n for k, n in per_key.items() if k.startswith("B24-")} == {f"B24-{d}": 1 for d in crm_deals}
    orders = {str(o.get("НомерПоДаннымКлиента", "")).strip(): o for o in every}
    edited = [
        d for d in box.portal.deals() if d.get("UF_CRM_1C_DESIRED_SHIPMENT") and str(d["ID"]) in crm_deals
    ]
    assert edited
    for deal in edited:
        order = orders[f"B24-{deal['ID']}"]
        assert order["ЖелаемаяДатаОтгрузки"][:10] == str(deal["UF_CRM_1C_DESIRED_SHIPMENT"])[:10]
