"""Where alerts go: a Bitrix24 system notification to the configured admins (im.notify.system.add, which a webhook
may call; scope `im`), an HTTP webhook (JSON POST) and e-mail (SMTP, stdlib smtplib).

A channel that fails is logged and skipped, never fatal: alerting must not stop the flows. The webhook URL and the
SMTP password are registered as secrets when the config is loaded, so they are masked wherever they would appear."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any, Protocol

import requests

from connector.alerts.book import Message
from connector.config import AlertsConfig
from connector.logs import get_logger
from connector.redact import redact

log = get_logger(__name__)

NOTIFY_METHOD = "im.notify.system.add"


class Channel(Protocol):
    name: str

    def send(self, message: Message, installation: str) -> None: ...


def _text(message: Message, installation: str) -> str:
    return f"{message.subject} [{installation}]\n{message.text}"


class PortalChannel:
    """A system notification to each admin user id; only for alerts the portal can still deliver."""

    name = "bitrix24"

    def __init__(self, call: Callable[[str, dict[str, Any]], Any], admins: list[int]) -> None:
        self.call = call
        self.admins = admins

    def send(self, message: Message, installation: str) -> None:
        if not message.portal:
            return
        for user in self.admins:
            self.call(NOTIFY_METHOD, {"USER_ID": user, "MESSAGE": _text(message, installation)})


class WebhookChannel:
    """A JSON POST of every alert and resolution."""

    name = "webhook"

    def __init__(self, url: str, timeout: float, session: requests.Session | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.session = session or requests.Session()

    def send(self, message: Message, installation: str) -> None:
        body = {**message.as_dict(), "subject": message.subject, "installation": installation}
        try:
            resp = self.session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            # The exception text may carry the URL: say only what kind of failure it was.
            raise OSError(f"the alert webhook is unreachable ({type(exc).__name__})") from None
        if resp.status_code >= 300:
            raise OSError(f"the alert webhook answered {resp.status_code}")


class MailChannel:
    """One e-mail per alert and resolution."""

    name = "email"

    def __init__(self, config: AlertsConfig) -> None:
        self.config = config

    def send(self, message: Message, installation: str) -> None:
        c = self.config
        mail = EmailMessage()
        mail["Subject"] = f"{message.subject} [{installation}]"
        mail["From"] = c.mail_from
        mail["To"] = ", ".join(c.mail_to)
        mail.set_content(_text(message, installation))
        assert c.smtp_host is not None
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout) as smtp:
            if c.smtp_starttls:
                smtp.starttls()
            if c.smtp_user:
                password = c.smtp_password.get_secret_value() if c.smtp_password else ""
                smtp.login(c.smtp_user, password)
            smtp.send_message(mail)


def channels_for(config: AlertsConfig, call: Callable[[str, dict[str, Any]], Any] | None) -> list[Channel]:
    """The channels the config sets up (none: alerts are only logged)."""
    out: list[Channel] = []
    if config.admins and call is not None:
        out.append(PortalChannel(call, config.admins))
    if config.webhook_url is not None:
        out.append(WebhookChannel(config.webhook_url.get_secret_value(), config.timeout))
    if config.smtp_host and config.mail_to:
        out.append(MailChannel(config))
    return out


def deliver(channels: list[Channel], message: Message, installation: str) -> list[str]:
    """Send a message; the names of the channels that failed (each failure logged, redacted).

    What the portal can deliver goes to its admins; the webhook and e-mail carry the portal's own failures, and
    anything else when no admin is configured or the notification could not be sent."""
    failed: list[str] = []
    portal = [c for c in channels if c.name == PortalChannel.name]
    outside = [c for c in channels if c.name != PortalChannel.name]
    if message.portal and portal:
        failed += _each(portal, message, installation)
        if not failed:
            return failed
    return failed + _each(outside, message, installation)


def _each(channels: list[Channel], message: Message, installation: str) -> list[str]:
    failed = []
    for channel in channels:
        try:
            channel.send(message, installation)
        except Exception as exc:  # any channel's failure is logged; the daemon goes on
            failed.append(channel.name)
            log.warning(
                "cannot send an alert", channel=channel.name, alert=message.key, error=redact(str(exc))[:300]
            )
    return failed
