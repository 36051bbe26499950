"""Identity lives on the objects; the ledger is a cache (issue "Exactly once on both sides", points 1–4).

Everything here is counted through the public interfaces of both systems (Bitrix24 REST, 1C OData), per external
key, never through the emulators' internals or the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal, synced_company

pytestmark = pytest.mark.integration
FLOWS = ["managers", "counterparties", "orders", "money", "deals_to_orders"]
B24_WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")
ORDER = "Document_ЗаказКлиента"


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=50, seed=23, rate_limit="off")) as sandbox:
        yield sandbox


def connect(box: Any, ledger: Path) -> Connector:
    config = make_config(box, ledger)
    config.flows = FLOWS
    return Connector(config)


def everything(conn: Connector, flows: list[str] = FLOWS) -> None:
    """What an admin runs after losing the ledger: a backfill of every flow, then one sync cycle."""
    for flow in flows:
        conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    for flow in flows:
        conn.runner(flow).incremental(30)


def deals(conn: Connector) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in conn.bitrix24.list_fast(
        "crm.deal.list", {}, ["ID", "ORIGINATOR_ID", "ORIGIN_ID", "STAGE_ID", "UF_CRM_1C_ORDER_NUMBER"]
    ):
        rows.extend(page)
    return rows


def orders(conn: Connector) -> list[dict[str, Any]]:
    return list(
        conn.odata.query(
            ORDER, select=["Ref_Key", "Number", "Posted", "НомерПоДаннымКлиента"], orderby="Ref_Key"
        )
    )


def census(conn: Connector) -> dict[str, Any]:
    """Per external key on both systems: deals per 1C order key, 1C orders per deal marker."""
    ds, os_ = deals(conn), orders(conn)
    marker = Counter(str(o.get("НомерПоДаннымКлиента") or "").strip() for o in os_)
    marker.pop("", None)
    return {
        "deals": len(ds),
        "deals_per_order": Counter(str(d["ORIGIN_ID"]) for d in ds if d.get("ORIGIN_ID")),
        "orders": len(os_),
        "orders_per_deal": marker,
        "posted_from_crm": sum(
            1 for o in os_ if o["Posted"] and str(o.get("НомерПоДаннымКлиента") or "").strip()
        ),
    }


def writes_during(box: Any, action: Any) -> tuple[int, int, list[str]]:
    """(Bitrix24 writes, 1C writes, the write methods) made while `action` runs."""
    b24_before = len(box.portal.calls)
    onec_before = len(box.onec_app.log)
    action()
    b24 = [
        c.method for c in box.portal.calls[b24_before:] if c.method.endswith(B24_WRITES) and c.status == 200
    ]
    onec = [f"{r.method} {r.path}" for r in list(box.onec_app.log)[onec_before:] if r.method in ONEC_WRITES]
    return len(b24), len(onec), b24[:10] + onec[:10]


def start_deal_in_crm(conn: Connector, box: Any, company: str) -> str:
    return start_deal(conn, box, company=company)


def synced_pair(box: Any, tmp_path: Path) -> tuple[Connector, str, list[str]]:
    """A fully synced pair: every posted order has its deal, one deal started in the CRM has its posted order, and
    several deals made from 1C orders sit at a stage the Bitrix24 → 1C flow watches (as stage rules put them)."""
    conn = connect(box, tmp_path / "first.sqlite3")
    conn.setup()
    for flow in FLOWS:
        conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    crm_deal = start_deal_in_crm(conn, box, synced_company(conn))
    watched = set(conn.mappings["deals_to_orders"].source.filter["STAGE_ID"])
    # The money flow's stage rules put many deals made from 1C orders at stages the Bitrix24 → 1C flow watches.
    from_1c = [
        str(d["ID"])
        for d in deals(conn)
        if d.get("ORIGIN_ID") and str(d["ID"]) != crm_deal and d.get("STAGE_ID") in watched
    ]
    assert len(from_1c) >= 5
    for _ in range(2):
        for flow in FLOWS:
            conn.runner(flow).incremental(30)
    return conn, crm_deal, from_1c


def assert_one_each(state: dict[str, Any], crm_deal: str) -> None:
    assert [k for k, n in state["deals_per_order"].items() if n > 1] == [], "twin deals"
    assert [k for k, n in state["orders_per_deal"].items() if n > 1] == [], "twin 1C orders"
    assert set(state["orders_per_deal"]) == {f"B24-{crm_deal}"}, "1C orders nobody asked for"


def test_deals_made_from_1c_orders_never_become_1c_orders(box: Any, tmp_path: Path) -> None:
    """A deal made from a 1C order, moved to a watched stage, is linked to its order by the keys it carries."""
    conn, crm_deal, _ = synced_pair(box, tmp_path)
    with conn:
        state = census(conn)
        assert_one_each(state, crm_deal)
        assert state["posted_from_crm"] == 1
        crm = next(d for d in deals(conn) if str(d["ID"]) == crm_deal)
        # The write-back stamped the CRM deal with the order's key and our installation, like a deal from 1C.
        assert crm["ORIGIN_ID"] and crm["ORIGINATOR_ID"] == conn.installation_id
        assert crm["UF_CRM_1C_ORDER_NUMBER"]


def test_a_lost_ledger_costs_time_never_a_write(box: Any, tmp_path: Path) -> None:
    """Point 3: backfill + sync on an empty ledger against a fully synced pair writes nothing to either system."""
    conn, crm_deal, _ = synced_pair(box, tmp_path)
    with conn:
        before = census(conn)
    with connect(box, tmp_path / "lost.sqlite3") as fresh:
        b24, onec, what = writes_during(box, lambda: everything(fresh))
        after = census(fresh)
        assert (b24, onec) == (0, 0), what
        assert after == before
        assert_one_each(after, crm_deal)
        # ... and the links are back: a second cycle reads and skips.
        assert fresh.ledger.link_count("orders") == before["deals"]
        assert fresh.ledger.link_count("deals_to_orders") >= 1


def test_an_old_backup_converges_without_twins(box: Any, tmp_path: Path) -> None:
    """A ledger restored from a backup taken before the last changes: the pair converges, one object per key."""
    import shutil

    conn = connect(box, tmp_path / "live.sqlite3")
    conn.setup()
    with conn:
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        conn.ledger.conn.execute("PRAGMA wal_checkpoint(FULL)")
        shutil.copy(tmp_path / "live.sqlite3", tmp_path / "backup.sqlite3")
        crm_deal = start_deal_in_crm(conn, box, synced_company(conn))
        from datetime import timedelta

        now = box.infobase.now().replace(microsecond=0)  # the 1C server's wall clock
        box.dataset.order(now - timedelta(hours=2))
        for flow in FLOWS:
            conn.runner(flow).incremental(30)
        synced = census(conn)
    with connect(box, tmp_path / "backup.sqlite3") as restored:
        everything(restored)
        state = census(restored)
    assert_one_each(state, crm_deal)
    assert state["deals"] == synced["deals"] and state["orders"] == synced["orders"]


def test_writes_wait_for_setup_and_name_what_is_missing(box: Any, tmp_path: Path) -> None:
    """Point 8: before `setup`, sync and backfill refuse to write and name the fields; nothing reaches either side."""
    from tests.integration.test_cli import cli, env_of, write_config

    path = write_config(tmp_path, box)
    before = len(box.portal.deals())
    done = cli("backfill", "--config", str(path), env=env_of(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "deal field UF_CRM_1C_ORDER_NUMBER" in done.stderr and "b24-1c setup" in done.stderr
    assert len(box.portal.deals()) == before
    assert cli("setup", "--config", str(path), env=env_of(tmp_path)).returncode == 0
    done = cli("backfill", "--config", str(path), env=env_of(tmp_path))
    assert done.returncode in (0, 1), done.stderr
    assert len(box.portal.deals()) > before


def test_a_changed_mapping_reaches_existing_records_on_the_next_backfill(box: Any, tmp_path: Path) -> None:
    """Point 8: no --restart needed; the content hash covers what the mapping writes."""
    import shutil

    from tests.conftest import ROOT

    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "orders"]
    config.mappings_dir = mappings
    with Connector(config) as conn:
        conn.setup()
        for flow in config.flows:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    text = (mappings / "orders.yaml").read_text(encoding="utf-8")
    (mappings / "orders.yaml").write_text(
        text.replace('"Заказ {Number} от', '"Заказ 1С {Number} от'), encoding="utf-8"
    )
    with Connector(config) as conn:
        report = conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        titles = [
            str(d.get("TITLE")) for d in conn.bitrix24.call("crm.deal.list", {"select": ["TITLE"]}).result
        ]
    assert report.updated > 0
    assert titles and all(t.startswith("Заказ 1С ") for t in titles)


def test_history_tells_what_was_written_to_a_deal_from_which_record_and_mapping(
    box: Any, tmp_path: Path
) -> None:
    """Issue "One executor, one commit" point 6: an append-only history written in the page's transaction."""
    from tests.integration.test_cli import cli, env_of, write_config

    path = write_config(tmp_path, box)
    assert cli("setup", "--config", str(path), env=env_of(tmp_path)).returncode == 0
    assert cli("backfill", "--config", str(path), env=env_of(tmp_path)).returncode in (0, 1)
    with Connector(make_config(box, tmp_path / "ledger.sqlite3"), lock=False) as conn:
        link = next(iter(conn.ledger.links("orders", list(conn.ledger.keys("orders"))).values()))
        entries = conn.ledger.history("orders", target_id=link.target_id)
    assert [e["action"] for e in entries] == ["create"]
    assert entries[0]["source_key"] == link.source_key and entries[0]["mapping"].startswith(
        "mappings/orders.yaml@"
    )
    assert entries[0]["fields"]["UF_CRM_1C_ORDER_NUMBER"] and entries[0]["fields"]["@rows"]
    shown = cli("history", link.target_id, "--config", str(path), env=env_of(tmp_path))
    assert (
        shown.returncode == 0 and "orders create" in shown.stdout and "UF_CRM_1C_ORDER_NUMBER" in shown.stdout
    )
    # a second backfill writes nothing, so the history does not grow
    cli("backfill", "--config", str(path), "--restart", env=env_of(tmp_path))
    with Connector(make_config(box, tmp_path / "ledger.sqlite3"), lock=False) as conn:
        assert len(conn.ledger.history("orders", target_id=link.target_id)) == 1


def test_an_order_naming_a_deal_that_is_not_ours_gets_its_own_deal(box: Any, tmp_path: Path) -> None:
    """A 1C order whose НомерПоДаннымКлиента reads B24-<n> without deal n being ours (typed by hand, left by another
    tool) is not linked to a deal that does not exist: it gets its own deal, once."""
    from b24_1c_sandbox.dataset import reference_scenario

    ref = reference_scenario(box.infobase)["order"]
    assert str(box.infobase.get(ORDER, ref)["НомерПоДаннымКлиента"]).startswith("B24-")
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        for flow in ("counterparties", "orders"):
            report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        assert report.failed == 0, report.errors
        assert census(conn)["deals_per_order"][ref] == 1


def test_several_batches_in_flight_write_each_order_once(box: Any, tmp_path: Path) -> None:
    """sync.in_flight > 1: batches go out concurrently through the same pacers; still one deal per order."""
    config = make_config(box, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "orders"]
    config.sync.in_flight, config.sync.batch_size = 4, 5
    with Connector(config) as conn:
        conn.setup()
        for flow in config.flows:
            report = conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        assert report.failed == 0, report.errors
        state = census(conn)
        posted = {
            str(o["Ref_Key"])
            for o in conn.odata.query(ORDER, select=["Ref_Key", "Posted", "DeletionMark"])
            if o["Posted"] and not o["DeletionMark"]
        }
    assert set(state["deals_per_order"]) == posted and set(state["deals_per_order"].values()) == {1}
