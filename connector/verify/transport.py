"""Clients for the online check: a short connect timeout, no retries, and one plain reason when a host is silent.

The sync's clients retry a refused connection for ~16 s once the system has answered (a restart during a run), and
stop at once when the first request of a command is refused; a person running `b24-1c verify`
wants the answer at once. Every message names the host only: a webhook URL carries its secret in the path.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from requests.adapters import HTTPAdapter

from connector.bitrix24.auth import Auth, OAuthAuth, WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import Clock
from connector.config import Config
from connector.onec.odata import ODataClient
from connector.ratelimit import RequestPacer

CONNECT_TIMEOUT = 3.0  # seconds to open a connection: a silent host fails well within 5 s
FIRST_REPLY_TIMEOUT = (
    4.0  # seconds the reachability probe waits for any HTTP answer (with the connect: < 5 s)
)


class ShortSession(requests.Session):
    """A session whose every request has a short connect timeout; counts the requests it sends."""

    def __init__(self, read_timeout: float, verify: bool | str = True) -> None:
        super().__init__()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=2, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.verify = verify
        self.read_timeout = read_timeout
        self.attempts = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        given = kwargs.pop("timeout", None)
        read = kwargs.pop("read_timeout", None) or (given[-1] if isinstance(given, tuple) else given)
        kwargs["timeout"] = (CONNECT_TIMEOUT, read or self.read_timeout)
        self.attempts += 1
        return super().request(method, url, *args, **kwargs)


def origin(url: str) -> str:
    """scheme://host[:port] of a URL: what a message may show of it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")


def plain_reason(exc: BaseException) -> str:
    """Why a request got no HTTP answer, in a few words (never the URL)."""
    seen: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in seen:
        seen.append(node)
        inner = node.args[0] if node.args and isinstance(node.args[0], BaseException) else None
        node = node.__cause__ or node.__context__ or inner or getattr(node, "reason", None)
    kinds = [type(e) for e in seen]
    text = " ".join(repr(e) for e in seen)
    if any(issubclass(k, ConnectionRefusedError) for k in kinds) or "Connection refused" in text:
        return "connection refused (nothing listens on that port)"
    if any(issubclass(k, socket.gaierror) for k in kinds) or "NameResolutionError" in text:
        return "the host name does not resolve"
    if isinstance(exc, requests.ConnectTimeout) or "ConnectTimeout" in text:
        return f"no connection within {CONNECT_TIMEOUT:g} s (a firewall, or the host is down)"
    if isinstance(exc, requests.ReadTimeout):
        return "connected, but no answer in time"
    if isinstance(exc, requests.exceptions.SSLError) or any(issubclass(k, ssl.SSLError) for k in kinds):
        return "the TLS handshake failed (certificate not trusted? set verify_tls)"
    if any(issubclass(k, ConnectionResetError) for k in kinds) or "reset" in text.lower():
        return "the connection was reset"
    return type(exc).__name__


def reach(session: ShortSession, url: str) -> str | None:
    """None when the host gives any HTTP answer at its root; else the plain reason it did not."""
    try:
        session.request("GET", origin(url) + "/", allow_redirects=False, read_timeout=FIRST_REPLY_TIMEOUT)
    except requests.RequestException as exc:
        return plain_reason(exc)
    return None


def bitrix24_client(config: Config, session: requests.Session, clock: Clock) -> Bitrix24Client:
    """The portal's client without retries (one attempt per call)."""
    b = config.bitrix24
    auth: Auth
    if b.oauth is not None:
        o = b.oauth
        auth = OAuthAuth(
            o.portal_url,
            o.client_id,
            o.client_secret.get_secret_value(),
            o.refresh_token.get_secret_value(),
            o.token_url,
            config.resolve(o.token_store),
            clock,
        )
    else:
        assert b.webhook_url is not None
        auth = WebhookAuth(b.webhook_url.get_secret_value())
    return Bitrix24Client(
        session,
        auth,
        clock,
        RequestPacer.for_plan(clock, b.plan, share=b.share),
        timeout=b.timeout,
        max_attempts=1,
    )


def odata_client(config: Config, session: requests.Session, clock: Clock) -> ODataClient:
    """The 1C publication's client without retries."""
    o = config.onec
    return ODataClient(
        session,
        o.odata_url,
        o.user,
        o.password.get_secret_value(),
        ZoneInfo(o.timezone),
        clock,
        o.timeout,
        1,
        max_attempts=1,
    )


def portal_url(config: Config) -> str:
    b = config.bitrix24
    if b.oauth is not None:
        return b.oauth.portal_url
    assert b.webhook_url is not None
    return b.webhook_url.get_secret_value()
