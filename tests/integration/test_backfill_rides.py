"""A backfill's reads ride in write batches with room (issue 13 goal 1; connector/bitrix24/rides.py): the money
flow's next page is prepared while the page before is written (`prepare_ahead`) and its reads go in that page's
last write batch; the orders flow's first page is read and looked up while the counterparties flow writes its last
(`hand_over`, `FlowRunner.head_start`). Fewer requests, the same objects: counted on the portal and in 1C, once per
external key, against the same backfill with every read sent on its own."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.engine.runner import FlowRunner, hand_over
from tests.conftest import SINCE
from tests.integration.test_money_payments import assert_one_payment_per_row, connect
from tests.integration.test_money_reads import requests_of

pytestmark = pytest.mark.integration
FLOWS = ("counterparties", "orders", "money")
WRITES = (".add", ".update", ".set")


@pytest.fixture
def boxes() -> Iterator[tuple[Any, Any]]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with (
        Sandbox(SandboxOptions(orders=90, seed=11, rate_limit="off")) as one,
        Sandbox(SandboxOptions(orders=90, seed=11, rate_limit="off")) as other,
    ):
        yield one, other


def full_backfill(conn: Connector, rides: bool) -> None:
    """The flows as `b24-1c backfill` runs them (with `rides` off: every read round a request of its own)."""
    conn.bitrix24.rides.enabled = rides
    runners = [conn.runner(f) for f in FLOWS]
    since = SINCE.replace(tzinfo=conn.onec_tz)
    hand_over([(r, since, None) for r in runners], restart=False)
    for runner in runners:
        report = runner.backfill(since, None)
        assert report.failed == 0, report.errors


def run(box: Any, ledger: Path, rides: bool) -> tuple[list[list[str]], Connector]:
    conn = connect(box, ledger)
    conn.config.onec.page_size = 20  # several pages per flow: each page's reads can ride
    before = len(box.portal.calls)
    full_backfill(conn, rides)
    return requests_of(box, before), conn


@contextmanager
def orders_after_counterparties(box: Any, ledger: Path) -> Iterator[tuple[Connector, FlowRunner, datetime]]:
    """A connector whose counterparties flow is backfilled, its orders runner (pages of 20) and the window start."""
    conn = connect(box, ledger)
    try:
        conn.config.onec.page_size = 20
        since = SINCE.replace(tzinfo=conn.onec_tz)
        conn.runner("counterparties").backfill(since, None)
        yield conn, conn.runner("orders"), since
    finally:
        conn.close()


def deals_per_key(box: Any) -> Counter[str]:
    return Counter(str(d.get("ORIGIN_ID")) for d in box.portal.deals() if d.get("ORIGIN_ID"))


def test_reads_ride_in_write_batches_and_the_portal_holds_the_same_objects_once(
    boxes: tuple[Any, Any], tmp_path: Path
) -> None:
    one, other = boxes
    alone, plain = run(one, tmp_path / "alone.sqlite3", rides=False)
    rode, conn = run(other, tmp_path / "rode.sqlite3", rides=True)
    try:
        assert conn.bitrix24.rides.taken >= 2  # the money pages' reads and the orders flow's head start
        assert len(rode) <= len(alone) - conn.bitrix24.rides.taken
        # A request carried writes and then reads: the reads are the next page's (or flow's) lookups.
        mixed = [
            r for r in rode if any(m.endswith(".list") for m in r) and any(m.endswith(WRITES) for m in r)
        ]
        assert mixed, "no write batch carried a read"
        # The same objects, once per external key, on both portals; each 1C order once in the ledger.
        assert deals_per_key(other) == deals_per_key(one) and max(deals_per_key(other).values()) == 1
        assert conn.ledger.link_count("orders") == len(deals_per_key(other))
        assert_one_payment_per_row(other, conn)
        assert_one_payment_per_row(one, plain)
        assert conn.ledger.link_count("money") == plain.ledger.link_count("money")
    finally:
        conn.close()
        plain.close()


def test_a_head_start_is_used_only_for_its_own_window(boxes: tuple[Any, Any], tmp_path: Path) -> None:
    box, _ = boxes
    with orders_after_counterparties(box, tmp_path / "ledger.sqlite3") as (conn, orders, since):
        orders.head_start(since, None)
        assert orders._head is not None and orders._head.first is not None
        later = max(r["Date"] for r in orders._head.first.records)  # a window the head start was not read for
        start = datetime.fromisoformat(later).replace(tzinfo=conn.onec_tz)
        report = orders.backfill(start, None)
        assert orders._head is None and report.failed == 0
        # Had the head start's page (the whole window's first) been used, its earlier orders would be read too.
        assert report.read == orders.source.count(start, None) < orders.source.count(since, None)
        assert sum(deals_per_key(box).values()) == report.created  # only the later window's orders, once each


def test_no_head_start_while_announced_creates_wait_for_their_recovery(
    boxes: tuple[Any, Any], tmp_path: Path
) -> None:
    box, _ = boxes
    conn = connect(box, tmp_path / "ledger.sqlite3")
    try:
        since = SINCE.replace(tzinfo=conn.onec_tz)
        conn.runner("counterparties").backfill(since, None)
        orders = conn.runner("orders")
        records = next(iter(orders.source.pages(since, None, None))).records
        planned = orders._plan_page(records[:1])
        run_id = conn.ledger.start_run("orders", "backfill")
        conn.ledger.begin("orders", run_id, planned.actions)  # a create announced by a run that died
        orders.head_start(since, None)
        assert orders._head is None  # the recovery goes first: nothing is read ahead of it
        report = orders.backfill(since, None)
        assert report.failed == 0 and max(deals_per_key(box).values()) == 1
    finally:
        conn.close()


def test_a_backfill_stopped_after_a_page_returns_while_the_next_pages_read_waits_to_ride(
    boxes: tuple[Any, Any], tmp_path: Path
) -> None:
    """SIGTERM stops a backfill after a committed page; the read-ahead thread may be waiting then with the next
    page's lookup offered to a write batch that will never come: it is handed back, the backfill returns."""
    box, _ = boxes
    with orders_after_counterparties(box, tmp_path / "ledger.sqlite3") as (conn, orders, since):
        rides, real = conn.bitrix24.rides, orders._process
        offered: list[bool] = []

        def process(*args: Any, **kwargs: Any) -> None:
            real(*args, **kwargs)
            orders.stop.set()  # as a signal does: the loop ends after this committed page
            for _ in range(2000):  # bounded: until the next page's lookup waits to ride
                if rides._offers:
                    break
                threading.Event().wait(0.005)
            offered.append(bool(rides._offers))

        orders._process = process  # type: ignore[method-assign]
        done: list[Any] = []
        thread = threading.Thread(target=lambda: done.append(orders.backfill(since, None)), daemon=True)
        thread.start()
        thread.join(timeout=90)
        assert not thread.is_alive(), "the backfill hung on the read-ahead thread's waiting read"
        assert offered == [True] and done[0].stopped and done[0].failed == 0
        assert max(deals_per_key(box).values()) == 1
