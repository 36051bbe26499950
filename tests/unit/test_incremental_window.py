"""What an incremental cycle asks its source for (issue 13 goal 4): a Bitrix24 source only what changed since the
last complete cycle began (or the last backfill), never the whole look-back window again; a 1C source gets no full
scan right after a completed backfill; and the deals → orders source reads a deal already linked to its 1C order only
when a field an update of that order carries has changed, not whenever our own writes moved its DATE_MODIFY."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.clock import ManualClock
from connector.engine.runner import SETTLE, FlowRunner
from connector.flows.deals_to_orders.source import DealSource
from connector.ledger import Ledger
from connector.mapping.schema import Mapping, load_mappings

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OURS = "1C-test"


@pytest.fixture(scope="module")
def mappings() -> dict[str, Mapping]:
    return load_mappings(ROOT / "mappings", ["orders", "deals_to_orders"])


class _Source:
    """Remembers the `since` of every versions() call; yields nothing."""

    page_size = 50

    def __init__(self, spec: Mapping) -> None:
        self.spec = spec
        self.asked: list[datetime | None] = []

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        self.asked.append(since)
        return iter(())

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        return []


def _runner(spec: Mapping, ledger: Ledger, clock: ManualClock) -> tuple[FlowRunner, _Source]:
    source = _Source(spec)
    runner = FlowRunner(spec, source, object(), ledger, clock, ZoneInfo("Europe/Moscow"))  # type: ignore[arg-type]
    return runner, source


def test_a_bitrix24_cycle_asks_only_for_what_changed_since_the_last_cycle_began(
    mappings: dict[str, Mapping], tmp_path: Path
) -> None:
    clock = ManualClock(START)
    ledger = Ledger(tmp_path / "l.db", clock)
    runner, source = _runner(mappings["deals_to_orders"], ledger, clock)
    runner.incremental(30)
    assert source.asked == [START - timedelta(days=30)]  # nothing known yet: the whole look-back
    clock.advance(45)
    runner.incremental(30)
    assert source.asked[-1] == START - SETTLE  # the first cycle began at START
    clock.advance(45)
    runner.incremental(30, dry_run=True)  # a dry run records nothing: the next window stays as wide
    runner.incremental(30)
    assert source.asked[-1] == START + timedelta(seconds=45) - SETTLE


def test_after_a_backfill_the_window_starts_at_the_backfill(
    mappings: dict[str, Mapping], tmp_path: Path
) -> None:
    clock = ManualClock(START)
    ledger = Ledger(tmp_path / "l.db", clock)
    run = ledger.start_run("deals_to_orders", "backfill")
    clock.advance(600)
    ledger.finish_run(run, "ok", {})
    runner, source = _runner(mappings["deals_to_orders"], ledger, clock)
    runner.incremental(30)
    assert source.asked == [START - SETTLE]


def test_a_1c_cycle_right_after_a_backfill_is_no_full_scan(
    mappings: dict[str, Mapping], tmp_path: Path
) -> None:
    clock = ManualClock(START)
    ledger = Ledger(tmp_path / "l.db", clock)
    runner, source = _runner(mappings["orders"], ledger, clock)
    failed = ledger.start_run("orders", "backfill")
    ledger.finish_run(failed, "failed", {})
    runner.incremental(30)
    assert source.asked == [None]  # no completed backfill: the first cycle scans everything
    fresh = Ledger(tmp_path / "m.db", clock)
    runner, source = _runner(mappings["orders"], fresh, clock)
    done = fresh.start_run("orders", "backfill")
    fresh.finish_run(done, "ok", {})
    clock.advance(60)
    runner.incremental(30)
    assert source.asked == [clock.now() - timedelta(days=30)]  # the backfill read every order
    clock.advance(3600)
    runner.incremental(30)
    assert source.asked[-1] is None  # an hour later the periodic full scan is due again


class _Client:
    """crm.deal.list answering from a list of deals (the filter is the source's business, not this test's)."""

    def __init__(self, deals: list[dict[str, Any]]) -> None:
        self.deals = deals
        self.selects: list[list[str]] = []

    def list_fast(
        self, method: str, flt: dict[str, Any], select: list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        self.selects.append(select)
        yield [{k: d.get(k) for k in select} for d in self.deals]


def _deal(
    n: int, stamped: bool, shipment: str = "", modified: str = "2026-03-02T12:00:00+03:00"
) -> dict[str, Any]:
    return {
        "ID": str(n),
        "DATE_MODIFY": modified,
        "ORIGINATOR_ID": OURS if stamped else "",
        "ORIGIN_ID": f"order-{n}" if stamped else "",
        "UF_CRM_1C_DESIRED_SHIPMENT": shipment,
    }


def _versions(source: DealSource, ledger: Ledger) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for changes in source.versions(START):
        out.extend(changes)
        ledger.commit("deals_to_orders", None, [], links=getattr(changes, "state", ()))
    return out


def test_linked_deals_are_read_only_when_what_an_update_carries_changed(
    mappings: dict[str, Mapping], tmp_path: Path
) -> None:
    clock = ManualClock(START)
    ledger = Ledger(tmp_path / "l.db", clock)
    deals = [_deal(1, stamped=True), _deal(2, stamped=False), _deal(3, stamped=True, shipment="2026-04-01")]
    client = _Client(deals)
    spec = mappings["deals_to_orders"]
    source = DealSource(client, spec, ZoneInfo("Europe/Moscow"), clock, ours=OURS, ledger=ledger)  # type: ignore[arg-type]
    # Deal 1 is linked and carries nothing to send (our writes moved it): left alone. Deal 2 is not linked yet: read
    # by its DATE_MODIFY. Deal 3 is linked with a shipment wish nobody has sent yet: read.
    assert _versions(source, ledger) == [("2", deals[1]["DATE_MODIFY"]), ("3", None)]
    assert "UF_CRM_1C_DESIRED_SHIPMENT" in client.selects[-1]
    for d in deals:
        d["DATE_MODIFY"] = "2026-03-02T12:05:00+03:00"  # e.g. the money flow wrote amounts onto every deal
    assert _versions(source, ledger) == [("2", deals[1]["DATE_MODIFY"])]
    deals[0]["UF_CRM_1C_DESIRED_SHIPMENT"] = "2026-05-05"  # a manager's wish: travels to the order
    deals[2]["UF_CRM_1C_DESIRED_SHIPMENT"] = ""  # cleared: travels too
    assert _versions(source, ledger) == [("1", None), ("2", deals[1]["DATE_MODIFY"]), ("3", None)]
    assert _versions(source, ledger) == [("2", deals[1]["DATE_MODIFY"])]
    deals[1].update(ORIGINATOR_ID=OURS, ORIGIN_ID="order-2")  # written back: linked now, nothing new to send
    assert _versions(source, ledger) == []
