"""`b24-1c reconcile` on the sandbox (issue 7, points 6 and 7): zero drift after a backfill; drift injected behind
the connector's back on either side is reported one row per order, exits 1, and is gone after `--repair`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.reconcile import DEAL_MISSING, DIFFERS, MONEY_EMPTY, Reconciler
from tests.conftest import ROOT, SINCE, make_config
from tests.integration.test_cli import cli

pytestmark = pytest.mark.integration
ORDER = "Document_ЗаказКлиента"
FLOWS = ["counterparties", "orders", "money"]


def start(orders: int, seed: int) -> Any:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    return Sandbox(SandboxOptions(orders=orders, seed=seed, rate_limit="off"))


@pytest.fixture(scope="module")
def box() -> Iterator[Any]:
    with start(300, 5) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def conn(box: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Connector]:
    folder = tmp_path_factory.mktemp("reconcile")
    config = make_config(box, folder / "ledger.sqlite3")
    config.flows = list(FLOWS)
    # No lock: the CLI in a subprocess shares this ledger (and `--repair` takes the lock).
    with Connector(config, lock=False) as c:
        c.setup()
        for flow in FLOWS:
            report = c.runner(flow).backfill(SINCE.replace(tzinfo=c.onec_tz), None)
            assert report.failed == 0, report.errors
        c.folder = folder  # type: ignore[attr-defined]
        yield c


def write_config(folder: Path, box: Any) -> tuple[Path, dict[str, str]]:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
    text = text.replace(
        "schedule: schedules/default.yaml", f"schedule: {ROOT / 'schedules' / 'default.yaml'}"
    )
    text = re.sub(r"(?m)^flows:.*$", f"flows: [{', '.join(FLOWS)}]", text)
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path, {**box.env(), "B24_1C_LEDGER": str(folder / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "WARNING"}


def deal_of(box: Any, order: str) -> dict[str, Any]:
    return next(d for d in box.portal.deals() if d.get("ORIGIN_ID") == order)


def set_deal(box: Any, deal_id: str, **fields: Any) -> None:
    """Behind the connector's back: straight into the portal's store."""
    with box.portal.lock:
        box.portal.entities["deal"][int(deal_id)].update(fields)


def posted_orders(box: Any) -> list[dict[str, Any]]:
    docs = [o for o in box.infobase.all(ORDER) if o["Posted"] and not o["DeletionMark"]]
    return sorted(docs, key=lambda o: (o["Date"], o["Ref_Key"]))


def inject(box: Any, conn: Connector, orders: list[dict[str, Any]]) -> dict[str, str]:
    """One drift of each kind; returns order Ref_Key → the kind."""
    a, b, c, d, e, f = (o["Ref_Key"] for o in orders)
    set_deal(box, deal_of(box, a)["ID"], OPPORTUNITY="1.00")
    paid = Decimal(deal_of(box, b)["UF_CRM_1C_PAID_AMOUNT"])
    set_deal(box, deal_of(box, b)["ID"], UF_CRM_1C_PAID_AMOUNT=str(paid + Decimal("0.02")))
    conn.bitrix24.call("crm.deal.delete", {"id": deal_of(box, c)["ID"]}, write=True)  # a manager deletes it
    money = (
        "UF_CRM_1C_PAID_AMOUNT",
        "UF_CRM_1C_PAID_PERCENT",
        "UF_CRM_1C_BALANCE",
        "UF_CRM_1C_SHIPPED_PERCENT",
    )
    set_deal(box, deal_of(box, d)["ID"], **dict.fromkeys(money))
    box.dataset.receipt(box.infobase.get(ORDER, e), 1234.56, datetime(2025, 1, 15, 11, 0))  # 1C, no sync
    box.dataset.edit_order(f)  # 1C: a line added, a new total
    return {a: "opportunity", b: "paid", c: "deleted", d: "empty", e: "1c receipt", f: "1c order edit"}


def check_rows(drifts: list[Any], injected: dict[str, str]) -> None:
    by_key = {d.key: d for d in drifts}
    assert set(by_key) == set(injected), {k: v.reason for k, v in by_key.items()}
    for key, kind in injected.items():
        drift = by_key[key]
        if kind == "opportunity":
            assert drift.reason == DIFFERS and drift.differs == ("amount",)
            assert drift.bitrix24["amount"] == Decimal("1.00")
        elif kind == "paid":
            assert drift.reason == DIFFERS and drift.differs == ("paid_amount",)  # two kopecks are drift
        elif kind == "deleted":
            assert drift.reason == DEAL_MISSING and drift.deal_id is not None
        elif kind == "empty":
            assert drift.reason == MONEY_EMPTY
        elif kind == "1c receipt":
            assert drift.reason == DIFFERS and {"paid_amount", "balance"} <= set(drift.differs)
            assert drift.onec["paid_amount"] - drift.bitrix24["paid_amount"] == Decimal("1234.56")
        else:
            assert drift.reason == DIFFERS and "amount" in drift.differs and "balance" in drift.differs


def test_zero_drift_then_each_injected_drift_is_reported_exits_1_and_is_repaired(
    box: Any, conn: Connector
) -> None:
    clean = Reconciler(conn).scan(None)
    assert clean.checked == len(posted_orders(box)) > 250 and clean.drifts == []
    config, env = write_config(conn.folder, box)  # type: ignore[attr-defined]
    ok = cli("reconcile", "--config", str(config), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "no drift" in ok.stdout

    picked = posted_orders(box)[-40::6][:6]  # recent orders, so `--since` can narrow to them
    paid_orders = [
        o for o in posted_orders(box) if Decimal(deal_of(box, o["Ref_Key"])["UF_CRM_1C_PAID_AMOUNT"])
    ]
    picked[1] = paid_orders[0]  # the paid-amount drift on an order that has payments
    injected = inject(box, conn, picked)
    check_rows(Reconciler(conn).scan(None).drifts, injected)

    since = min(o["Date"] for o in picked if o is not paid_orders[0])[:10]
    narrowed = Reconciler(conn).scan(datetime.fromisoformat(since))
    assert narrowed.checked < clean.checked
    assert {d.key for d in narrowed.drifts} == set(injected) - {paid_orders[0]["Ref_Key"]}

    found = cli("reconcile", "--config", str(config), env=env)
    assert found.returncode == 1, found.stderr
    lines = found.stdout.splitlines()
    for order in picked:  # one row per drifted order
        assert sum(order["Number"].strip() in line for line in lines) == 1
    assert "6 drifted" in found.stdout and "--repair" in found.stdout
    assert all(len(line) <= 120 for line in lines)  # readable when not a terminal
    as_json = json.loads(cli("reconcile", "--json", "--config", str(config), env=env).stdout)
    assert as_json["drifted"] == 6 and {d["order"] for d in as_json["drift"]} == set(injected)
    kept = conn.ledger.cursor("money:reconcile")  # what `status` and the status page show
    assert (kept["checked"], kept["drifted"], kept["repaired"]) == (clean.checked, 6, None)

    deleted = next(k for k, v in injected.items() if v == "deleted")
    repaired = cli("reconcile", "--repair", "--config", str(config), env=env)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "after repair: 0 of 6" in repaired.stdout
    assert conn.ledger.cursor("money:reconcile")["repaired"] == 6
    again = cli("reconcile", "--config", str(config), env=env)
    assert again.returncode == 0 and "no drift" in again.stdout, again.stdout
    reborn = deal_of(box, deleted)  # a new deal with its payments, not a twin
    assert len([d for d in box.portal.deals() if d.get("ORIGIN_ID") == deleted]) == 1
    paid = Decimal(reborn["UF_CRM_1C_PAID_AMOUNT"])
    payments = [p for p in box.portal.table("payment").values() if p["_owner"] == [2, int(reborn["ID"])]]
    assert sum((Decimal(str(p["sum"])) for p in payments), Decimal(0)) >= paid


def test_a_config_without_the_money_flow_is_a_config_error(box: Any, conn: Connector) -> None:
    config, env = write_config(conn.folder, box)  # type: ignore[attr-defined]
    text = config.read_text(encoding="utf-8").replace(f"flows: [{', '.join(FLOWS)}]", "flows: [orders]")
    config.write_text(text, encoding="utf-8")
    bad = cli("reconcile", "--config", str(config), env=env)
    assert bad.returncode == 2 and "money flow" in bad.stderr


@pytest.mark.slow
@pytest.mark.timeout(5400)  # the 5,000-order money backfill alone takes far longer than the default 300 s
def test_5000_orders_zero_drift_then_injected_drift_found_and_repaired(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with start(5000, 7) as box:
        config = make_config(box, tmp_path / "ledger.sqlite3")
        config.flows = list(FLOWS)
        with Connector(config) as conn:
            conn.setup()
            t0 = time.monotonic()
            for flow in FLOWS:
                report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
                assert report.failed == 0, report.errors
            t1 = time.monotonic()
            clean = Reconciler(conn).scan(None)
            t2 = time.monotonic()
            assert clean.checked == len(posted_orders(box)) > 4500 and clean.drifts == []

            picked = posted_orders(box)[-60::10][:6]
            picked[1] = next(
                o
                for o in reversed(posted_orders(box))
                if Decimal(deal_of(box, o["Ref_Key"])["UF_CRM_1C_PAID_AMOUNT"])
            )
            injected = inject(box, conn, picked)
            since = datetime.fromisoformat(min(o["Date"] for o in picked)[:10])
            t3 = time.monotonic()
            found = Reconciler(conn).scan(since)
            t4 = time.monotonic()
            check_rows(found.drifts, injected)
            reconciler = Reconciler(conn)
            reports = reconciler.repair(found.drifts)
            assert all(r.failed == 0 for r in reports), [r.errors for r in reports]
            t5 = time.monotonic()
            assert reconciler.check([d.key for d in found.drifts]).drifts == []
            assert Reconciler(conn).scan(since).drifts == []
        with capsys.disabled():
            print(
                f"\nreconcile, 5,000 orders ({clean.checked:,} posted): backfill of 3 flows {t1 - t0:.0f} s; "
                f"full reconcile {t2 - t1:.0f} s, zero drift; {len(found.drifts)} injected drifts found by "
                f"`--since {since.date()}` ({found.checked:,} orders) in {t4 - t3:.1f} s; repair {t5 - t4:.1f} s"
            )
