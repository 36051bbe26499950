"""Alerts end to end: daemon cycles on the sandbox send a drift alert to the portal's admin (im.notify.system.add on
the Bitrix24 emulator), and the portal's own failure (its webhook rejected) to a local HTTP receiver and a tiny SMTP
server, once, then one "resolved"; neither the webhook URL nor the SMTP password reaches the logs."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.conftest import EXAMPLE, ROOT, SINCE

HOOK_SECRET = "hook-secret-4f9a2c"
SMTP_PASSWORD = "smtp-pass-77e1"


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append({"path": self.path, "body": json.loads(body)})  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Enough SMTP for smtplib: EHLO with AUTH PLAIN, MAIL, RCPT, DATA, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        server: Any = self.server
        self._say("220 fake.test ESMTP")
        mail: dict[str, Any] = {"rcpt": []}
        while line := self.rfile.readline():
            verb = line.decode("ascii").strip()
            upper = verb.upper()
            if upper.startswith("EHLO"):
                self._say("250-fake.test")
                self._say("250 AUTH PLAIN")
            elif upper.startswith("AUTH PLAIN"):
                mail["auth"] = base64.b64decode(verb.split()[2]).split(b"\0")[1:]
                self._say("235 2.7.0 accepted")
            elif upper.startswith("MAIL FROM"):
                mail["from"] = verb
                self._say("250 ok")
            elif upper.startswith("RCPT TO"):
                mail["rcpt"].append(verb.split(":", 1)[1])
                self._say("250 ok")
            elif upper == "DATA":
                self._say("354 go on")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                mail["data"] = b"".join(data).decode("utf-8", "replace")
                server.received.append(mail)
                mail = {"rcpt": []}
                self._say("250 queued")
            elif upper == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")


@pytest.fixture
def receivers() -> Iterator[tuple[Any, Any]]:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    hook.received = []  # type: ignore[attr-defined]
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.daemon_threads = True
    smtp.received = []  # type: ignore[attr-defined]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (hook, smtp)]
    for t in threads:
        t.start()
    yield hook, smtp
    for s in (hook, smtp):
        s.shutdown()
        s.server_close()


def test_alerts_reach_the_admin_the_webhook_and_the_mailbox_once_then_resolve(
    sandbox: Any, receivers: tuple[Any, Any], tmp_path: Path
) -> None:
    from b24_1c_sandbox.runner import WEBHOOK_USER

    from connector.app import Connector
    from connector.config import load_config
    from connector.daemon import Daemon
    from connector.schedule import FlowSchedule

    hook, smtp = receivers
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        EXAMPLE.read_text(encoding="utf-8")
        .replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
        .replace("schedule: schedules/", f"schedule: {ROOT / 'schedules'}/")
        + "\nalerts:\n"
        + f"  admins: [{WEBHOOK_USER}]\n"
        + f"  webhook_url: http://127.0.0.1:{hook.server_address[1]}/alerts/{HOOK_SECRET}\n"
        + f"  smtp_host: 127.0.0.1\n  smtp_port: {smtp.server_address[1]}\n"
        + "  smtp_user: ops\n  smtp_password: ${SMTP_PASSWORD}\n"
        + "  mail_to: [ops@example.test]\n  silent_cycles: 5\n",
        encoding="utf-8",
    )
    env = {**sandbox.env(), "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3"), "SMTP_PASSWORD": SMTP_PASSWORD}
    config = load_config(config_file, env=env)
    notes = sandbox.portal.table("notification")
    with Connector(config) as conn, capture_logs() as logs:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        daemon = Daemon(conn, {f: FlowSchedule(every="1h") for f in ("orders", "deals_to_orders")})
        drift = {"at": "2026-03-01T08:00:00+00:00", "checked": 80, "drifted": 2, "reasons": {"paid": 2}}
        conn.ledger.set_cursor("orders:reconcile", {**drift, "repaired": None})
        daemon.run_flow("orders")
        daemon.run_flow("orders")
        # The drift went to the admin, once; the portal delivered it, so the webhook and mailbox stayed quiet.
        assert [(n["USER_ID"], n["MESSAGE"].splitlines()[0]) for n in notes.values()] == [
            (WEBHOOK_USER, f"b24-1c ALERT: drift:orders [{conn.installation_id}]")
        ]
        assert hook.received == [] and smtp.received == []

        # The portal rejects the webhook: an auth alert it cannot deliver goes to the webhook and the mailbox.
        # (deals_to_orders reads the deals every cycle; an idle orders cycle asks only 1C.)
        webhook = sandbox.portal.webhooks.pop(WEBHOOK_USER)
        daemon.run_flow("deals_to_orders")
        daemon.run_flow("deals_to_orders")
        assert [r["body"]["key"] for r in hook.received] == ["auth"]
        assert hook.received[0]["body"]["kind"] == "alert"
        assert hook.received[0]["path"] == f"/alerts/{HOOK_SECRET}"
        (mail,) = smtp.received
        assert "Subject: b24-1c ALERT: auth" in mail["data"]
        assert mail["auth"] == [b"ops", SMTP_PASSWORD.encode()]
        assert mail["rcpt"] == ["<ops@example.test>"]

        # Back: the auth alert resolves (outside the portal, as it was sent); the drift is still open.
        sandbox.portal.webhooks[WEBHOOK_USER] = webhook
        conn.ledger.set_cursor("orders:reconcile", {**drift, "repaired": 2})
        daemon.run_flow("deals_to_orders")
        daemon.run_flow("orders")
        assert [(r["body"]["kind"], r["body"]["key"]) for r in hook.received] == [
            ("alert", "auth"),
            ("resolved", "auth"),
        ]
        assert len(smtp.received) == 2
        assert "Subject: b24-1c RESOLVED: auth" in smtp.received[1]["data"]
        assert [n["MESSAGE"].splitlines()[0] for n in notes.values()][1:] == [
            f"b24-1c RESOLVED: drift:orders [{conn.installation_id}]"
        ]
    logged = repr(logs)
    assert HOOK_SECRET not in logged and SMTP_PASSWORD not in logged
