"""`b24-1c run --http`: Prometheus metrics, /healthz and the read-only status page over real HTTP on 127.0.0.1,
from a daemon running real cycles against the sandbox; the page also in a real headless browser (chromium)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from connector.daemon import Daemon
from connector.notify import Notifier
from connector.schedule import FlowSchedule
from connector.webstatus import WebStatus, parse_address

if TYPE_CHECKING:
    from connector.app import Connector

pytestmark = pytest.mark.integration


class _Watched(Daemon):
    """The daemon, telling the test when each cycle is recorded (no polling, no sleeps)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, notifier=Notifier(env={}), **kwargs)
        self.recorded = threading.Condition()

    def _record(self, flow: str, error: str | None) -> None:
        super()._record(flow, error)
        with self.recorded:
            self.recorded.notify_all()


@pytest.fixture
def running(connector: Connector) -> Iterator[tuple[Daemon, str, dict[str, Any]]]:
    reports: dict[str, Any] = {}
    schedule = {f: FlowSchedule(every="1h") for f in ("managers", "orders")}
    daemon = _Watched(connector, schedule, on_cycle=reports.__setitem__, http=("127.0.0.1", 0))
    thread = threading.Thread(target=daemon.start, kwargs={"install_signals": False})
    thread.start()
    try:
        with daemon.recorded:  # both flows' first cycles are recorded (the bound only guards against a hang)
            assert daemon.recorded.wait_for(lambda: daemon.cycles >= 2, timeout=120), "the first cycles hung"
        assert daemon.ready and daemon.http_address is not None
        host, port = daemon.http_address
        yield daemon, f"http://{host}:{port}", reports
    finally:
        daemon._signal(signal.SIGTERM, None)
        thread.join(60)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_and_healthz_over_http(
    running: tuple[Daemon, str, dict[str, Any]], connector: Connector
) -> None:
    _, url, reports = running
    health = requests.get(f"{url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = requests.get(f"{url}/metrics", timeout=10)
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    got = samples(metrics.text)
    orders = reports["orders"]
    for outcome in ("created", "updated", "skipped"):
        n = getattr(orders, outcome)
        key = ("b24_1c_records_total", (("flow", "orders"), ("outcome", outcome)))
        assert got.get(key, 0.0) == n, (outcome, n)
    managers_failed = ("b24_1c_records_total", (("flow", "managers"), ("outcome", "failed")))
    assert got[managers_failed] == reports["managers"].failed == 2  # two 1C managers without a portal account
    traffic = connector.traffic()
    assert got[("b24_1c_requests_total", (("system", "bitrix24"),))] == traffic["requests"]["bitrix24"] > 0
    assert got[("b24_1c_requests_total", (("system", "1c"),))] == traffic["requests"]["1c"] > 0
    assert ("b24_1c_refused_requests_total", (("status", "503"), ("system", "bitrix24"))) in got
    assert got[("b24_1c_last_success_age_seconds", (("flow", "orders"),))] >= 0
    assert got[("b24_1c_lag_seconds", (("flow", "orders"),))] >= 0
    assert ("b24_1c_last_success_age_seconds", (("flow", "money"),)) not in got  # never ran: no made-up age
    assert requests.post(f"{url}/metrics", timeout=10).status_code == 405  # read only
    assert requests.get(f"{url}/nope", timeout=10).status_code == 404


class _Tables(HTMLParser):
    """Rows of each table by its id, as text cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or "?"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_page(html: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return {k: [r for r in v if r] for k, v in parser.tables.items()}


def check_page(tables: dict[str, list[list[str]]]) -> None:
    flows = {row[0]: row for row in tables["flows"]}
    assert set(flows) >= {"managers", "orders", "money"}
    assert flows["orders"][1] != "never" and flows["money"][1] == "never"
    assert flows["managers"][4] == "2"  # failed records
    failed = tables["failed"]
    assert len(failed) == 2 and all("no active Bitrix24 user has the e-mail" in row[5] for row in failed)
    assert {row[1] for row in tables["runs"]} >= {"managers", "orders"}


def test_status_page_shows_flows_runs_and_failed_records(running: tuple[Daemon, str, dict[str, Any]]) -> None:
    _, url, _ = running
    page = requests.get(f"{url}/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    check_page(read_page(page.text))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium package is not installed")
def test_status_page_in_a_headless_browser(
    running: tuple[Daemon, str, dict[str, Any]], tmp_path: Any
) -> None:
    _, url, _ = running
    done = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    check_page(read_page(done.stdout))  # the DOM the browser built from the page


def test_healthz_says_starting_stopping_and_failed() -> None:
    connector = SimpleNamespace(stop=threading.Event())
    daemon = SimpleNamespace(fatal=None, ready=False, cycles=0)
    web = WebStatus(connector, daemon, metrics=None)  # type: ignore[arg-type]
    assert web.health() == (False, {"status": "starting", "reason": "no cycle has succeeded yet"})
    daemon.ready = True
    assert web.health()[0] is True
    connector.stop.set()
    assert web.health() == (False, {"status": "stopping"})
    daemon.fatal = RuntimeError("the ledger cannot be used")
    assert web.health() == (False, {"status": "failed", "reason": "the ledger cannot be used"})


@pytest.mark.parametrize("bad", ["9108", ":9108", "127.0.0.1:port", "127.0.0.1:70000"])
def test_a_bad_http_address_is_named(bad: str) -> None:
    from connector.errors import ConfigError

    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address(bad)
    assert parse_address("127.0.0.1:0") == ("127.0.0.1", 0)
