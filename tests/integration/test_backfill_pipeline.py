"""A backfill plans its next page (mapping, the lookup before create: reads only) while the page before is being
written (issue 13 goal 2: the serial work per page no longer leaves the portal idle); a record that a written page
linked after its own page was planned is planned again, never created twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.engine.runner import FlowRunner
from tests.conftest import SINCE, make_config

pytestmark = pytest.mark.integration


def _runner(conn: Connector, flow: str) -> FlowRunner:
    return conn.runner(flow)


def _hold_first_write_until_the_next_lookup(runner: FlowRunner) -> list[bool]:
    """The first page's writes wait until the target is asked to look up a later page's creates: a runner that
    plans the next page only after writing this one never gets there (the wait times out). Returns, per wait,
    whether the lookup came."""
    looked_up = threading.Event()
    waits: list[bool] = []
    finds: list[int] = []
    real_find, real_apply = runner.target.find, runner._apply

    def find(keys: Any) -> Any:
        finds.append(1)
        if len(finds) >= 2:
            looked_up.set()
        return real_find(keys)

    def apply(actions: Any, *rest: Any) -> Any:
        if not waits:
            waits.append(looked_up.wait(timeout=20))
        return real_apply(actions, *rest)

    runner.target.find = find  # type: ignore[method-assign]
    runner._apply = apply  # type: ignore[method-assign]
    return waits


@pytest.fixture
def conn(sandbox: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.onec.page_size = 20
    with Connector(config) as c:
        c.setup()
        c.runner("counterparties").backfill(SINCE.replace(tzinfo=c.onec_tz), None)
        yield c


def deals_by_origin(sandbox: Any) -> Counter[str]:
    return Counter(str(d.get("ORIGIN_ID")) for d in sandbox.portal.deals() if d.get("ORIGIN_ID"))


def test_the_next_page_is_planned_while_this_one_is_written(sandbox: Any, conn: Connector) -> None:
    runner = _runner(conn, "orders")
    waits = _hold_first_write_until_the_next_lookup(runner)
    report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert waits == [True]  # page 2 was looked up before page 1's writes were sent
    assert report.failed == 0 and report.pages > 2 and report.created > 0
    assert [k for k, n in deals_by_origin(sandbox).items() if n > 1] == []


def test_a_record_a_written_page_linked_is_planned_again_not_created_twice(
    sandbox: Any, conn: Connector
) -> None:
    """The second page carries a record of the first (as when a 1C order's date moves during a backfill): it was
    planned as a create before the first page was written; it is planned again after, and updated or skipped."""
    runner = _runner(conn, "orders")
    real_pages = runner.source.pages

    def pages(*args: Any, **kwargs: Any) -> Iterator[Any]:
        first = None
        for n, page in enumerate(real_pages(*args, **kwargs)):
            if n == 0:
                first = page.records[0]
            elif n == 1 and first is not None:
                page.records.append(first)
            yield page

    runner.source.pages = pages  # type: ignore[method-assign]
    _hold_first_write_until_the_next_lookup(runner)
    report = runner.backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    assert report.failed == 0
    assert [k for k, n in deals_by_origin(sandbox).items() if n > 1] == []
