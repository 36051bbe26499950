"""Why a request never reached the other system, in plain words, for messages a newcomer can act on.

A refused connection, a host name that does not resolve and a host that lets no connection through within a few
seconds, at the first request of a command, are configuration problems, not transient faults: the clients stop at
once with a one-line message naming the (redacted) URL, the config variable it came from and what to check, instead
of a long retry ladder and urllib3's text.
Once a system has answered, the same faults during a run are retried as before.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import unquote

import requests

from connector.errors import StopRun
from connector.redact import redact

FIRST_CONNECT_TIMEOUT = (
    3.0  # seconds to open the first connection of a command: a silent host fails within 5 s
)

REFUSED = "connection refused (nothing listens on that host and port)"
NO_DNS = "the host name does not resolve"
SILENT = (
    f"no connection within {FIRST_CONNECT_TIMEOUT:g} s (a firewall or a proxy drops it, or the host is down)"
)


def unreached(exc: BaseException) -> str | None:
    """The plain reason when the connection was refused or the host name does not resolve, else None.

    A connect timeout is not here (its message says how long it waited): see `stop_if_unreached`."""
    seen: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in seen:
        seen.append(node)
        inner = node.args[0] if node.args and isinstance(node.args[0], BaseException) else None
        node = node.__cause__ or node.__context__ or inner or getattr(node, "reason", None)
    text = " ".join(repr(e) for e in seen)
    if any(isinstance(e, ConnectionRefusedError) for e in seen) or "Connection refused" in text:
        return REFUSED
    if any(isinstance(e, socket.gaierror) for e in seen) or "NameResolutionError" in text:
        return NO_DNS
    return None


def what_to_check(reason: str, variable: str) -> str:
    """The advice that goes with a reason from `unreached`."""
    if reason == REFUSED:
        return f"check the host and port in {variable} and that the service is running"
    if reason == NO_DNS:
        return f"check the host name in {variable} and this machine's DNS"
    return f"check {variable}, the firewall and the proxy between this machine and that host"


def shown(url: str) -> str:
    """A URL as a message may show it: secrets (a webhook's code, user:password@) masked, no query string, readable (1C's Cyrillic names decoded)."""
    return redact(unquote(url.split("?", 1)[0]))


def first_timeout(answered: bool, timeout: float) -> float | tuple[float, float]:
    """The requests timeout: a short connect timeout until the system has answered once, then the configured one."""
    return timeout if answered else (min(FIRST_CONNECT_TIMEOUT, timeout), timeout)


def stop_if_unreached(
    exc: BaseException, first: bool, name: str, url: str, variable: str, **context: Any
) -> None:
    """Raise StopRun when the first request of a command was refused, its host does not resolve, or no connection
    was made within the first connect timeout (later in a run a connect timeout is retried as transient)."""
    reason = unreached(exc) or (SILENT if isinstance(exc, requests.ConnectTimeout) else None)
    if first and reason is not None:
        raise StopRun(
            f"cannot reach {name} at {shown(url)}: {reason}; {what_to_check(reason, variable)}", **context
        ) from None
