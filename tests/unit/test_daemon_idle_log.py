"""README: idle daemon cycles are silent. A cycle that changed nothing logs "cycle done" at DEBUG, one that wrote or
failed something at INFO."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from connector.clock import SystemClock
from connector.daemon import Daemon
from connector.schedule import FlowSchedule


def _daemon(facts: dict[str, Any], ledger: Path) -> Daemon:
    report = SimpleNamespace(as_dict=lambda: {"flow": "orders", **facts})
    runner = SimpleNamespace(incremental=lambda lookback_days: report)
    connector = SimpleNamespace(
        stop=threading.Event(),
        clock=SystemClock(),
        config=SimpleNamespace(sync=SimpleNamespace(lookback_days=30), ledger_path=ledger),
        runner=lambda flow: runner,
    )
    return Daemon(connector, {"orders": FlowSchedule(every="1h")})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("facts", "level"),
    [
        ({"read": 50, "skipped": 50, "created": 0, "updated": 0, "failed": 0}, "debug"),
        ({"read": 50, "skipped": 49, "updated": 1}, "info"),
        ({"read": 1, "failed": 1}, "info"),
    ],
    ids=["idle", "an update", "a failure"],
)
def test_a_cycle_logs_at_info_only_when_something_changed(
    tmp_path: Path, facts: dict[str, Any], level: str
) -> None:
    daemon = _daemon(facts, tmp_path / "ledger.sqlite3")
    with capture_logs() as logs:
        daemon.run_flow("orders")
    (done,) = [entry for entry in logs if entry["event"] == "cycle done"]
    assert done["log_level"] == level
