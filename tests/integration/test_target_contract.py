"""One contract every writing target passes (issue "One executor, one commit", point 7), on the sandbox:

1. what a flow created is found again by its external key through the target's own `find` (identity on the object);
2. a dry run writes nothing to either system and nothing to the ledger;
3. a lost ledger costs reads, never writes: a backfill on an empty ledger writes nothing and rebuilds the links.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
ALL = ["managers", "counterparties", "orders", "money", "invoices", "deals_to_orders"]
WRITING = ["counterparties", "orders", "money", "invoices", "deals_to_orders"]
B24_WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A sandbox synced once by every flow (a deal started in the CRM included), and its ledger."""
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    tmp = tmp_path_factory.mktemp("contract")
    with Sandbox(SandboxOptions(orders=40, seed=41, rate_limit="off")) as box:
        with connect(box, tmp / "ledger.sqlite3") as conn:
            conn.setup()
            backfill(conn)
            start_deal(conn, box, title="Контракт", quantity=1)
            for _ in range(2):  # the order made from the deal comes back to it through the orders flow
                for flow in ALL:
                    conn.runner(flow).incremental(30)
        yield box, tmp


def connect(box: Any, ledger: Path) -> Connector:
    config = make_config(box, ledger)
    config.flows = ALL
    return Connector(config)


def backfill(conn: Connector, flows: list[str] = ALL, **options: Any) -> dict[str, Any]:
    return {f: conn.runner(f).backfill(SINCE.replace(tzinfo=conn.onec_tz), None, **options) for f in flows}


def writes_during(box: Any, action: Any) -> tuple[list[str], list[str]]:
    b24_before, onec_before = len(box.portal.calls), len(box.onec_app.log)
    action()
    b24 = [
        c.method for c in box.portal.calls[b24_before:] if c.method.endswith(B24_WRITES) and c.status == 200
    ]
    onec = [f"{r.method} {r.path}" for r in list(box.onec_app.log)[onec_before:] if r.method in ONEC_WRITES]
    return b24, onec


def dump(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return [(t, *row) for t in tables for row in db.execute(f"SELECT * FROM {t} ORDER BY 1")]


@pytest.mark.parametrize("flow", WRITING)
def test_what_a_flow_created_is_found_again_by_its_key(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    with connect(box, tmp / "ledger.sqlite3") as conn:
        links = conn.ledger.links(flow, list(conn.ledger.keys(flow)))
        assert links, f"flow {flow} linked nothing"
        runner = conn.runner(flow)
        found = runner.target.find(list(links))
    if flow == "deals_to_orders":  # found by the order's key attribute, for the deals that made an order
        ours = {k: v for k, v in links.items() if k in found}
        assert ours and all(found[k] == v.target_id for k, v in ours.items())
    else:
        assert {k: found.get(k) for k in links} == {k: v.target_id for k, v in links.items()}


@pytest.mark.parametrize("flow", WRITING)
def test_a_dry_run_writes_nothing_anywhere(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    ledger = tmp / "ledger.sqlite3"
    before = dump(ledger)
    with connect(box, ledger) as conn:
        b24, onec = writes_during(
            box,
            lambda: (
                conn.runner(flow).backfill(
                    SINCE.replace(tzinfo=conn.onec_tz), None, dry_run=True, restart=True
                ),
                conn.runner(flow).incremental(30, dry_run=True, full_scan=True),
            ),
        )
    assert (b24, onec) == ([], [])
    assert dump(ledger) == before


@pytest.mark.parametrize("flow", WRITING)
def test_a_lost_ledger_costs_reads_never_writes(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    with connect(box, tmp / f"lost-{flow}.sqlite3") as conn:
        needed = ALL[: ALL.index(flow) + 1] if flow != "deals_to_orders" else ALL
        b24, onec = writes_during(box, lambda: backfill(conn, needed))
        assert (b24, onec) == ([], []), (b24[:10], onec[:10])
        assert conn.ledger.link_count(flow) > 0
