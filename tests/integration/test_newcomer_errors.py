"""Errors a newcomer meets (issue 14 point 6): a closed port, an unknown host, a wrong webhook or OData path, an
unpublished object and rejected credentials stop after one request with a line that names the (redacted) URL, the
config variable and what to check; once a system has answered, the same faults are retried as before."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from connector.bitrix24.auth import WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import ManualClock
from connector.errors import AuthError, RateLimited, StopRun, TransientError
from connector.onec.odata import ODataClient

pytestmark = pytest.mark.integration

CODE = "newcomersecretcode"
PASSWORD = "newcomer-secret-password"


class Counting(requests.Session):
    """A plain session that counts the requests it was asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.attempts += 1
        return super().request(*args, **kwargs)


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def b24(base: str) -> tuple[Bitrix24Client, Counting]:
    session = Counting()
    return Bitrix24Client(session, WebhookAuth(base), ManualClock(), None, timeout=10), session


def onec(base: str, user: str = "Администратор", password: str = PASSWORD) -> tuple[ODataClient, Counting]:
    session = Counting()
    client = ODataClient(session, base, user, password, ZoneInfo("Europe/Moscow"), ManualClock(), timeout=10)
    return client, session


@contextmanager
def started(**degraded: Any) -> Iterator[Any]:
    from b24_1c_sandbox.degraded import Degraded, degrade
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=1, rate_limit="off")) as box:
        if degraded:
            degrade(box, Degraded(**degraded))
        yield box


@pytest.mark.parametrize(
    ("host", "reason", "check"),
    [
        ("127.0.0.1:{port}", "connection refused", "check the host and port in B24_WEBHOOK_URL"),
        ("portal.invalid", "does not resolve", "check the host name in B24_WEBHOOK_URL"),
    ],
)
def test_bitrix24_unreachable_at_the_start_stops_after_one_attempt(
    host: str, reason: str, check: str
) -> None:
    client, session = b24(f"http://{host.format(port=closed_port())}/rest/1/{CODE}/")
    with pytest.raises(StopRun) as caught:
        client.call("crm.deal.list", {})
    text = str(caught.value)
    assert session.attempts == 1
    assert f"cannot reach Bitrix24 at http://{host.split(':')[0]}" in text
    assert "/rest/1/***/crm.deal.list.json" in text and CODE not in text
    assert reason in text and check in text and "\n" not in text
    assert "urllib3" not in text and "HTTPConnectionPool" not in text


@pytest.mark.parametrize(
    ("host", "reason", "check"),
    [
        ("127.0.0.1:{port}", "connection refused", "check the host and port in ONEC_ODATA_URL"),
        ("onec.invalid", "does not resolve", "check the host name in ONEC_ODATA_URL"),
    ],
)
def test_onec_unreachable_at_the_start_stops_after_one_attempt(host: str, reason: str, check: str) -> None:
    client, session = onec(f"http://{host.format(port=closed_port())}/ut/odata/standard.odata/")
    with pytest.raises(StopRun) as caught:
        client.query("Catalog_Контрагенты", top=1)
    text = str(caught.value)
    assert session.attempts == 1
    assert "cannot reach 1C at http://" in text and "/ut/odata/standard.odata/" in text
    assert reason in text and check in text and "\n" not in text and "urllib3" not in text


def test_a_refused_connection_after_the_first_answer_is_still_retried() -> None:
    port = closed_port()
    client, session = b24(f"http://127.0.0.1:{port}/rest/1/{CODE}/")
    client.answered = (
        True  # the portal answered earlier in this run: a refusal now is a restart, worth waiting for
    )
    with pytest.raises(RateLimited, match="connection refused"):
        client.call("crm.deal.list", {})
    assert session.attempts == client.max_attempts == 6
    odata, onec_session = onec(f"http://127.0.0.1:{port}/ut/odata/standard.odata/")
    odata.answered = True
    with pytest.raises(TransientError):
        odata.query("Catalog_Контрагенты", top=1)
    assert onec_session.attempts == odata.max_attempts == 5


def test_wrong_webhook_path_and_code_on_the_sandbox() -> None:
    with started() as box:
        client, session = b24(f"{box.portal_url}/hooks/1/{CODE}/")  # not a /rest/ path: the portal's 404 page
        with pytest.raises(StopRun) as caught:
            client.call("crm.deal.list", {})
        text = str(caught.value)
        assert session.attempts == 1
        assert "Bitrix24 answered 404" in text and f"{box.portal_url}/hooks/1/" in text
        assert "check B24_WEBHOOK_URL (it looks like https://<portal>/rest/<user id>/<code>/)" in text
        client, session = b24(f"{box.portal_url}/rest/1/{CODE}/")  # a webhook code the portal does not know
        with pytest.raises(AuthError) as auth:
            client.call("crm.deal.list", {})
        text = str(auth.value)
        assert session.attempts == 1
        assert (
            f"Bitrix24 rejected the credentials at {box.portal_url}/rest/1/***/crm.deal.list.json (401"
            in text
        )
        assert "check B24_WEBHOOK_URL" in text and CODE not in text and "\n" not in text


def test_wrong_odata_path_unpublished_object_and_password_on_the_sandbox() -> None:
    with started(unpublished=("Catalog_Контрагенты",)) as box:
        wrong = box.odata_url.replace("/odata/standard.odata/", "/odata/standart.odata/")
        client, session = onec(wrong, password="sandbox")
        with pytest.raises(StopRun) as caught:
            client.query("Catalog_Номенклатура", top=1)
        text = str(caught.value)
        assert session.attempts == 1
        assert "1C answered 404" in text and "standart.odata" in text and "check ONEC_ODATA_URL" in text
        client, session = onec(box.odata_url, password="sandbox")
        with pytest.raises(StopRun) as caught:
            client.query("Catalog_Контрагенты", top=1)
        text = str(caught.value)
        assert session.attempts == 1
        assert f"1C does not publish Catalog_Контрагенты at {box.odata_url}" in text
        assert "tick Catalog_Контрагенты in the OData publication" in text
        client, session = onec(box.odata_url)  # a wrong password
        with pytest.raises(AuthError) as auth:
            client.query("Catalog_Номенклатура", top=1)
        text = str(auth.value)
        assert session.attempts == 1
        assert f"at {box.odata_url}" in text and "check ONEC_USER and ONEC_PASSWORD" in text
        assert PASSWORD not in text and "\n" not in text


def test_sync_against_closed_ports_prints_one_line_naming_the_variable(tmp_path: Path) -> None:
    from tests.integration.test_cli import cli

    port = closed_port()
    env = {
        "B24_WEBHOOK_URL": f"http://127.0.0.1:{port}/rest/1/{CODE}/",
        "ONEC_ODATA_URL": f"http://127.0.0.1:{port}/ut/odata/standard.odata/",
        "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3"),
    }
    done = cli("sync", "orders", env=env, timeout=60)
    assert done.returncode == 3, done.stderr
    stopped = [line for line in done.stderr.splitlines() if line.startswith("stopped:")]
    assert len(stopped) == 1, done.stderr
    assert "cannot reach" in stopped[0] and "connection refused" in stopped[0]
    assert ("B24_WEBHOOK_URL" in stopped[0]) or ("ONEC_ODATA_URL" in stopped[0])
    assert CODE not in done.stderr and "urllib3" not in done.stderr


def test_a_request_no_client_translated_is_printed_as_one_plain_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import typer

    from connector.cli.common import connector
    from tests.conftest import EXAMPLE, OFFLINE_ENV

    for key, value in {**OFFLINE_ENV, "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3")}.items():
        monkeypatch.setenv(key, value)
    port = closed_port()
    with (
        pytest.raises(typer.Exit) as stopped,
        connector(EXAMPLE),
    ):  # e.g. an OAuth token endpoint on a closed port
        requests.post(f"http://127.0.0.1:{port}/oauth/token/?client_secret={CODE}", timeout=5)
    assert stopped.value.exit_code == 3
    printed = capsys.readouterr().err
    assert f"stopped: cannot reach http://127.0.0.1:{port}/oauth/token/: connection refused" in printed
    assert "check that address in the config" in printed
    assert CODE not in printed and "HTTPConnectionPool" not in printed


class Silent(Counting):
    """A host that lets no connection through: every request times out connecting; records the timeouts asked."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[Any] = []

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.attempts += 1
        self.timeouts.append(kwargs.get("timeout"))
        raise requests.ConnectTimeout("connect timed out")


def test_a_silent_host_stops_the_first_request_after_a_short_connect_timeout() -> None:
    from connector.netfail import FIRST_CONNECT_TIMEOUT

    session = Silent()
    portal = Bitrix24Client(
        session, WebhookAuth(f"https://portal.example/rest/1/{CODE}/"), ManualClock(), None
    )
    with pytest.raises(StopRun, match=r"no connection within 3 s .*check B24_WEBHOOK_URL, the firewall"):
        portal.call("crm.deal.list", {})
    assert session.attempts == 1 and session.timeouts == [(FIRST_CONNECT_TIMEOUT, 60.0)]
    assert FIRST_CONNECT_TIMEOUT < 5
    portal.answered = True  # later in a run: retried as before, with the configured timeout
    with pytest.raises(RateLimited):
        portal.call("crm.deal.list", {})
    assert session.attempts == 1 + portal.max_attempts and session.timeouts[-1] == 60.0
    silent = Silent()
    odata = ODataClient(
        silent, "https://1c.example/ut/odata/standard.odata/", "u", PASSWORD, ZoneInfo("UTC"), ManualClock()
    )
    with pytest.raises(
        StopRun, match=r"cannot reach 1C at https://1c.example/.*no connection within 3 s.*ONEC_ODATA_URL"
    ):
        odata.query("Catalog_Контрагенты", top=1)
    assert silent.attempts == 1 and silent.timeouts == [(FIRST_CONNECT_TIMEOUT, 120.0)]
