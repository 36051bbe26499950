"""The last reconcile, per flow, in `b24-1c status` and on the status page: stored by one ledger commit (when,
orders checked, drift found by reason, repaired), read back by status, shown by both."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connector.clock import ManualClock
from connector.ledger import Ledger
from connector.metrics import Metrics
from connector.reconcile import DEAL_MISSING, DIFFERS, Drift, Result, remember
from connector.status import Status, collect, lines
from connector.webstatus import WebStatus

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class _Conn:
    """What remember(), status and the page read of a Connector: the ledger, the clock, status()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = ManualClock(NOW)
        self.ledger = Ledger(path, self.clock)

    def status(self) -> Status:
        return collect(self.ledger, self.path, ["orders", "money"], "inst", self.clock.now())


def _drift(key: str, reason: str) -> Drift:
    return Drift(key, key, "7", reason, ("amount",), {"amount": Decimal(1)}, {"amount": Decimal(2)})


def test_the_last_reconcile_is_kept_per_flow_and_shown_by_status_and_the_page(tmp_path: Path) -> None:
    conn: Any = _Conn(tmp_path / "ledger.sqlite3")
    try:
        assert conn.status().flows[1].reconcile is None
        drifts = [_drift("a", DIFFERS), _drift("b", DIFFERS), _drift("c", DEAL_MISSING)]
        remember(conn, "money", Result(None, checked=40, drifts=drifts), None)  # a check: nothing repaired
        conn.clock.advance(3600)
        remember(conn, "money", Result(None, checked=41, drifts=drifts), [drifts[0]])  # --repair: one left
        status = conn.status()
        orders, money = status.flows
        assert orders.reconcile is None
        assert money.reconcile == {
            "at": "2026-03-02T10:30:00+00:00",
            "since": None,
            "checked": 41,
            "drifted": 3,
            "reasons": {DIFFERS: 2, DEAL_MISSING: 1},
            "repaired": 2,
        }
        text = "\n".join(lines(status, conn.clock.now()))
        assert (
            f"last reconcile: 2026-03-02T10:30:00+00:00: checked 41 orders, 3 drifted (2 {DIFFERS}, "
            f"1 {DEAL_MISSING}); 2 repaired, 1 left"
        ) in text
        page = WebStatus(conn, None, Metrics(conn)).page()
        row = page.split('<table id="reconcile">', 1)[1].split("</table>", 1)[0]
        assert "<td>money</td><td>2026-03-02T10:30:00+00:00</td><td>41</td><td>3</td><td>2</td>" in row
        assert "data-flow='orders'" not in row
    finally:
        conn.ledger.close()


def test_a_clean_check_says_no_drift_and_an_unrepaired_one_says_how_to_repair(tmp_path: Path) -> None:
    conn: Any = _Conn(tmp_path / "ledger.sqlite3")
    try:
        remember(conn, "money", Result(datetime(2025, 1, 1, tzinfo=UTC), checked=12), None)
        text = "\n".join(lines(conn.status(), NOW))
        assert (
            "last reconcile: 2026-03-02T09:30:00+00:00: checked 12 orders dated from 2025-01-01, no drift"
            in text
        )
        remember(conn, "money", Result(None, checked=12, drifts=[_drift("a", DIFFERS)]), None)
        text = "\n".join(lines(conn.status(), NOW))
        assert f"1 drifted (1 {DIFFERS}); not repaired (b24-1c reconcile --repair)" in text
    finally:
        conn.ledger.close()
