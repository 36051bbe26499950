"""Wall time reaches the product only through the injected Clock: the ledger's stamps and the deal reader's
'too fresh to trust' check follow the clock they were given, not the machine's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from connector.clock import ManualClock
from connector.flows.deals_to_orders.source import DealSource
from connector.ledger import Ledger
from connector.mapping.schema import load_mapping

ROOT = Path(__file__).resolve().parents[2]
MSK = ZoneInfo("Europe/Moscow")
PINNED = datetime(2031, 5, 17, 21, 30, 5, tzinfo=UTC)  # far from the machine's date, past Moscow's midnight


def test_the_ledger_stamps_runs_and_migrations_with_its_clock(tmp_path: Path) -> None:
    clock = ManualClock(PINNED)
    ledger = Ledger(tmp_path / "ledger.sqlite3", clock)
    run = ledger.start_run("orders", "backfill")
    clock.advance(90)
    ledger.finish_run(run, "ok", {})
    row = ledger.last_runs(1)[0]
    assert (row["started_at"], row["finished_at"]) == (
        "2031-05-17T21:30:05+00:00",
        "2031-05-17T21:31:35+00:00",
    )
    applied = {r[0] for r in ledger.conn.execute("SELECT applied_at FROM migrations")}
    assert applied == {"2031-05-17T21:30:05+00:00"}
    ledger.close()


class _Deals:
    """Just enough of Bitrix24Client for DealSource.fetch: two deals, modified 2 s and 1 min before `now`."""

    def __init__(self, now: datetime) -> None:
        local = now.astimezone(MSK)
        self.rows = [
            {"ID": "1", "DATE_MODIFY": (local - timedelta(seconds=2)).isoformat(), "TITLE": "fresh"},
            {"ID": "2", "DATE_MODIFY": (local - timedelta(minutes=1)).isoformat(), "TITLE": "settled"},
        ]

    def list_keyset(self, method: str, flt: dict[str, Any], select: list[str]) -> Any:
        yield [r for r in self.rows if r["ID"] in flt["@ID"]]

    def batch(self, commands: dict[str, Any]) -> Any:
        raise AssertionError("the test mapping reads no product rows")


def test_the_deal_reader_judges_fresh_versions_by_the_injected_clock() -> None:
    spec = load_mapping(ROOT / "mappings" / "deals_to_orders.yaml").model_copy(update={"rows": None})
    source = DealSource(_Deals(PINNED), spec, MSK, ManualClock(PINNED))  # type: ignore[arg-type]
    deals = {d["ID"]: d for d in source.fetch(["1", "2"])}
    assert deals["1"].get("@unsettled_version") is True  # within 5 s of the clock: looked at again next cycle
    assert "@unsettled_version" not in deals["2"]
