"""Alerts (connector/alerts): each condition opens once, one "resolved" when it clears, state in the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connector.alerts import STATE_CURSOR, Alert, Alerts, Message, step
from connector.alerts.channels import PortalChannel, deliver
from connector.clock import ManualClock
from connector.config import Config, load_config
from connector.errors import AuthError, ConnectorError, OperationTimeLimited
from connector.ledger import Ledger
from tests.conftest import EXAMPLE, OFFLINE_ENV

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Recorder:
    """A channel that keeps what it was asked to send."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[Message] = []

    def send(self, message: Message, installation: str) -> None:
        if self.fail:
            raise OSError("down")
        self.sent.append(message)


class CountingLedger(Ledger):
    """The real ledger (cursors, commit) with a settable number of open failed records."""

    failed = 0

    def dead_letters(self, flow: str | None = None, status: Any = "open") -> Any:
        return [object()] * self.failed


def _config(tmp_path: Path, **alerts: Any) -> Config:
    config = load_config(EXAMPLE, env=OFFLINE_ENV)
    return config.model_copy(update={"alerts": config.alerts.model_copy(update=alerts)})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def ledger(tmp_path: Path, clock: ManualClock) -> CountingLedger:
    led = CountingLedger(tmp_path / "ledger.sqlite3", clock)
    led.migrate()
    return led


def _alerts(config: Config, ledger: Ledger, clock: ManualClock) -> tuple[Alerts, Recorder, Recorder]:
    portal, mail = Recorder("bitrix24"), Recorder("email")
    return Alerts(config, ledger, clock, channels=[portal, mail]), portal, mail


def test_step_sends_an_alert_once_and_one_resolved_when_it_clears() -> None:
    a = Alert("failed:orders", "12 failed")
    sent, state = step([a], None, T0)
    assert [(m.kind, m.key) for m in sent] == [("alert", "failed:orders")]
    again, state = step([a], state, T0.replace(hour=10))
    assert again == []
    assert state["open"]["failed:orders"]["since"] == "2026-03-01T09:00:00+00:00"
    cleared, state = step([], state, T0.replace(hour=11))
    assert [(m.kind, m.key) for m in cleared] == [("resolved", "failed:orders")]
    assert "open since 2026-03-01T09:00:00+00:00" in cleared[0].text
    assert step([], state, T0.replace(hour=12)) == (
        [],
        {"open": {}, "updated_at": "2026-03-01T12:00:00+00:00"},
    )


def test_step_leaves_open_alerts_a_cycle_cannot_judge() -> None:
    _, state = step([Alert("failed:money", "x")], None, T0)
    sent, state = step([], state, T0, scope={"failed:orders"})
    assert sent == []
    assert "failed:money" in state["open"]


def test_failed_records_above_the_threshold_alert_once_and_resolve(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    alerts, portal, mail = _alerts(_config(tmp_path, failed_threshold=5), ledger, clock)
    ledger.failed = 4
    assert alerts.after_cycle("orders", None) == []
    ledger.failed = 5
    assert [m.key for m in alerts.after_cycle("orders", None)] == ["failed:orders"]
    assert alerts.after_cycle("orders", None) == []
    assert (
        ledger.cursor(STATE_CURSOR)["open"]["failed:orders"]["text"]
        == "5 failed records in orders (threshold 5)"
    )
    # A restart reads the open alert from the ledger: nothing is sent again.
    again, portal2, _ = _alerts(_config(tmp_path, failed_threshold=5), ledger, clock)
    assert again.after_cycle("orders", None) == []
    assert portal2.sent == []
    ledger.failed = 0
    clock.advance(3600)
    (resolved,) = again.after_cycle("orders", None)
    assert resolved.kind == "resolved"
    assert [m.kind for m in portal.sent + portal2.sent] == ["alert", "resolved"]
    assert mail.sent == []  # the portal delivered both
    assert ledger.cursor(STATE_CURSOR)["open"] == {}


def test_a_cycle_of_another_flow_does_not_resolve_this_flow_s_failures(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    alerts, _, _ = _alerts(_config(tmp_path, failed_threshold=1), ledger, clock)
    ledger.failed = 1
    alerts.after_cycle("orders", None)
    ledger.failed = 0
    assert alerts.after_cycle("money", None) == []
    assert [m.kind for m in alerts.after_cycle("orders", None)] == ["resolved"]


def test_money_drift_left_by_reconcile_alerts_until_repaired(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    alerts, _, _ = _alerts(_config(tmp_path), ledger, clock)
    last = {
        "at": "2026-03-01T08:00:00+00:00",
        "checked": 50,
        "drifted": 3,
        "reasons": {"paid": 3},
        "repaired": None,
    }
    ledger.set_cursor("money:reconcile", last)
    (opened,) = alerts.after_cycle("money", None)
    assert opened.key == "drift:money"
    assert "3 of 3 orders left (3 paid" in opened.text
    ledger.set_cursor("money:reconcile", {**last, "repaired": 3})
    assert [m.kind for m in alerts.after_cycle("money", None)] == ["resolved"]


def test_auth_and_payment_required_go_around_the_portal_and_clear_after_a_success(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    alerts, portal, mail = _alerts(_config(tmp_path, silent_cycles=10), ledger, clock)
    alerts.after_cycle("orders", AuthError("Bitrix24 rejected the credentials (invalid_token)"))
    alerts.after_cycle("orders", ConnectorError("Bitrix24 refused: PAYMENT_REQUIRED: the subscription ended"))
    # A cycle that failed elsewhere (1C down) says nothing about the portal: both stay open.
    alerts.after_cycle("orders", ConnectorError("1C is unreachable"))
    assert portal.sent == []
    assert [m.key for m in mail.sent] == ["auth", "payment_required"]
    alerts.after_cycle("orders", None)
    assert [(m.kind, m.key) for m in mail.sent[2:]] == [
        ("resolved", "auth"),
        ("resolved", "payment_required"),
    ]


def test_a_flow_silent_for_n_cycles_alerts(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    alerts, _, _ = _alerts(_config(tmp_path, silent_cycles=3), ledger, clock)
    error = ConnectorError("1C is unreachable")
    assert alerts.after_cycle("orders", error) == []
    assert alerts.after_cycle("orders", error) == []
    (opened,) = alerts.after_cycle("orders", error)
    assert opened.key == "silent:orders"
    assert "3 cycles in a row without a success" in opened.text
    assert alerts.after_cycle("orders", error) == []
    assert [m.kind for m in alerts.after_cycle("orders", None)] == ["resolved"]


def test_an_exhausted_operating_budget_alerts(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    counters = {"time_limited": {"bitrix24": 0}}
    alerts = Alerts(_config(tmp_path), ledger, clock, traffic=lambda: counters, channels=[])
    assert alerts.after_cycle("orders", None) == []
    counters["time_limited"]["bitrix24"] = 2  # 429 OPERATION_TIME_LIMIT during this cycle
    assert [m.key for m in alerts.after_cycle("orders", None)] == ["budget"]
    assert [m.kind for m in alerts.after_cycle("orders", None)] == ["resolved"]
    assert [m.key for m in alerts.after_cycle("orders", OperationTimeLimited("blocked", method="x"))] == [
        "budget"
    ]


def test_a_refresh_token_close_to_its_180_days_alerts(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    store = tmp_path / "oauth.json"
    config = _config(tmp_path, token_warn_days=14)
    oauth = {
        "portal_url": "http://127.0.0.1:9/rest/",
        "client_id": "app",
        "client_secret": "secret-x",
        "refresh_token": "r-token",
        "token_store": store,
    }
    b24 = config.bitrix24.model_validate(
        {**config.bitrix24.model_dump(), "webhook_url": None, "oauth": oauth}
    )
    config = config.model_copy(update={"bitrix24": b24})
    store.write_text(json.dumps({"client_id": "app", "refreshed_at": T0.isoformat()}), encoding="utf-8")
    alerts = Alerts(config, ledger, clock, channels=[])
    clock.advance(166 * 86400 - 60)
    assert alerts.after_cycle("orders", None) == []
    clock.advance(60)
    (opened,) = alerts.after_cycle("orders", None)
    assert opened.key == "token"
    assert "expires in about 14 days" in opened.text
    store.write_text(
        json.dumps({"client_id": "app", "refreshed_at": clock.now().isoformat()}), encoding="utf-8"
    )
    assert [m.kind for m in alerts.after_cycle("orders", None)] == ["resolved"]


def test_a_failed_notification_falls_back_to_the_other_channels_and_logs_no_secret() -> None:
    portal, hook = Recorder("bitrix24", fail=True), Recorder("webhook")
    message = Message("alert", "failed:orders", "12 failed", "2026-03-01")
    assert deliver([portal, hook], message, "inst") == ["bitrix24"]
    assert hook.sent == [message]
    calls: list[tuple[str, dict[str, Any]]] = []
    PortalChannel(lambda m, p: calls.append((m, p)), [1, 7]).send(message, "inst")
    assert [(m, p["USER_ID"]) for m, p in calls] == [("im.notify.system.add", 1), ("im.notify.system.add", 7)]
    PortalChannel(lambda m, p: calls.append((m, p)), [1]).send(
        Message("alert", "auth", "x", "t", False), "inst"
    )
    assert len(calls) == 2  # the portal's own failure is not sent to the portal


def test_an_unreachable_webhook_is_logged_without_its_url(tmp_path: Path) -> None:
    from connector.alerts.channels import WebhookChannel

    url = "http://127.0.0.1:9/hooks/very-secret-token-123"
    with capture_logs() as logs:
        failed = deliver([WebhookChannel(url, 2.0)], Message("alert", "auth", "x", "t", False), "inst")
    assert failed == ["webhook"]
    assert "very-secret-token-123" not in repr(logs)
    assert "unreachable" in repr(logs)


class _Reply:
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status_code = status
        self.body = body

    def json(self) -> dict[str, Any]:
        return self.body


class _Session:
    def __init__(self, reply: _Reply) -> None:
        self.reply = reply

    def get(self, url: str, params: Any = None, timeout: float = 0) -> _Reply:
        return self.reply


def _oauth(store: Path, clock: ManualClock) -> Any:
    from connector.bitrix24.auth import OAuthAuth

    return OAuthAuth("http://127.0.0.1:9/rest/", "app", "s3cret-x", "r-token", "http://t/", store, clock)


def test_the_token_store_keeps_when_the_refresh_token_was_issued(tmp_path: Path, clock: ManualClock) -> None:
    auth = _oauth(tmp_path / "oauth.json", clock)
    clock.advance(86400)
    auth.refresh(_Session(_Reply(200, {"access_token": "a-1", "refresh_token": "r-2"})), None)  # type: ignore[arg-type]
    saved = json.loads((tmp_path / "oauth.json").read_text(encoding="utf-8"))
    assert saved["refreshed_at"] == "2026-03-02T09:00:00+00:00"


def test_payment_required_from_the_oauth_server_is_its_own_alert(
    tmp_path: Path, ledger: CountingLedger, clock: ManualClock
) -> None:
    auth = _oauth(tmp_path / "oauth.json", clock)
    with pytest.raises(AuthError) as refused:
        auth.refresh(_Session(_Reply(402, {"error": "PAYMENT_REQUIRED"})), None)  # type: ignore[arg-type]
    alerts, _, mail = _alerts(_config(tmp_path), ledger, clock)
    assert [m.key for m in alerts.after_cycle("orders", refused.value)] == ["payment_required"]
    assert [m.key for m in mail.sent] == ["payment_required"]


def test_an_unusable_ledger_stops_the_daemon_with_an_alert_sent_without_the_ledger(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from types import SimpleNamespace

    from connector.daemon import Daemon
    from connector.errors import LedgerError
    from connector.schedule import FlowSchedule

    def broken(lookback_days: int) -> None:
        raise LedgerError("database disk image is malformed")

    config = _config(tmp_path)
    connector = SimpleNamespace(
        stop=threading.Event(),
        clock=clock,
        config=SimpleNamespace(sync=config.sync, ledger_path=tmp_path / "ledger.sqlite3"),
        runner=lambda flow: SimpleNamespace(incremental=broken),
    )
    hook = Recorder("webhook")
    alerts = Alerts(config, None, clock, channels=[hook])  # no ledger: nothing may read or write it
    daemon = Daemon(connector, {"orders": FlowSchedule(every="1h")}, alerts=alerts)  # type: ignore[arg-type]
    stopped = threading.Event()
    monkeypatch.setattr(daemon.scheduler, "shutdown", lambda wait=True: stopped.set())  # it never started
    daemon.run_flow("orders")
    assert stopped.wait(30)
    assert daemon.fatal is not None
    assert [(m.key, m.text) for m in hook.sent] == [
        ("ledger", "b24-1c stopped: the ledger cannot be used: database disk image is malformed")
    ]


def test_status_lists_the_open_alerts(tmp_path: Path, ledger: CountingLedger, clock: ManualClock) -> None:
    from connector.status import ALERTS_CURSOR, collect, lines

    assert ALERTS_CURSOR == STATE_CURSOR
    alerts, _, _ = _alerts(_config(tmp_path, failed_threshold=2), ledger, clock)
    ledger.failed = 3
    alerts.after_cycle("orders", None)
    status = collect(ledger, tmp_path / "ledger.sqlite3", ["orders"], "inst", clock.now())
    assert status.as_dict()["alerts"]["failed:orders"]["since"] == "2026-03-01T09:00:00+00:00"
    assert (
        "alert failed:orders (open since 2026-03-01T09:00:00+00:00): 3 failed records in orders (threshold 2)"
        in lines(status, clock.now())
    )
    ledger.failed = 0
    alerts.after_cycle("orders", None)
    status = collect(ledger, tmp_path / "ledger.sqlite3", ["orders"], "inst", clock.now())
    assert status.alerts == {}
    assert not [line for line in lines(status, clock.now()) if line.startswith("alert ")]
