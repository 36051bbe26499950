"""What a 1C OData reply means: its JSON, or the error the caller should act on (retry, look up, stop, reject).

A failure whose effect on 1C is unknown is classified by what the caller of that kind of request can safely do: a
create is OutcomeUnknown (looked up by its key), an update or a posting is a TransientWriteError (written again on
the next run), a read is a TransientError (retried).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from connector.errors import (
    AuthError,
    ConnectorError,
    OutcomeUnknown,
    RemoteRejected,
    StopRun,
    TransientError,
    TransientWriteError,
)
from connector.netfail import shown

_STOP_CODES = {
    "10": "unknown property",
    "14": "cannot parse the query",
    "21": "unsupported function",
    "6": "invalid URL",
    "8": "unknown entity type",
    "11": "unknown method",
}


class NotSent(TransientError):
    """The connection was never made: nothing reached 1C, so even a write may be sent again."""


def unsure(message: str, resource: str, write: bool, create: bool) -> ConnectorError:
    """A failure whose effect on 1C is unknown: what the caller of this kind of request can safely do."""
    if create:
        return OutcomeUnknown(
            f"{message}; the object is looked up by its key", system="1c", resource=resource
        )
    if write:
        return TransientWriteError(
            f"{message}; written again on the next run", system="1c", resource=resource
        )
    return TransientError(message, system="1c", resource=resource)


def parse_reply(
    resp: requests.Response, base_url: str, resource: str, write: bool, create: bool = False
) -> Any:
    """The payload of a 1C reply (None for an empty 2xx, text for text/plain), or the typed error it means."""
    if resp.status_code == 401 and "json" not in resp.headers.get("Content-Type", ""):
        # A wrong user or password: never worth retrying (1C may lock the user after a few tries).
        raise AuthError(
            f"1C refused the credentials (401) at {shown(base_url)}: check ONEC_USER and ONEC_PASSWORD",
            system="1c",
        )
    text = resp.content.decode("utf-8-sig", errors="replace")
    ctype = resp.headers.get("Content-Type", "")
    if "html" in ctype or (text.lstrip()[:1] == "<" and "json" not in ctype):
        if resp.status_code == 404:
            raise StopRun(
                f"1C answered 404 (an HTML page) at {shown(resp.url or base_url)}: no OData service "
                "there; check ONEC_ODATA_URL (it ends in /odata/standard.odata/) and the publication",
                system="1c",
            )
        if resp.status_code in (200, 401, 403):
            raise AuthError(
                f"1C answered an HTML page ({resp.status_code}) instead of OData: check the "
                "publication (default.vrd), the user and the password",
                system="1c",
            )
        raise unsure(f"1C answered {resp.status_code} with an HTML page", resource, write, create)
    if resp.status_code == 204 or not text.strip():
        if resp.status_code >= 400:
            raise unsure(f"1C answered {resp.status_code} with an empty body", resource, write, create)
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        if resp.status_code < 300 and ctype.startswith("text/plain"):
            return text.strip()
        raise unsure(
            f"1C answered {resp.status_code} with a body that is not JSON: {excerpt(text)}",
            resource,
            write,
            create,
        ) from None
    if resp.status_code < 300:
        return payload
    err = payload.get("odata.error", {}) if isinstance(payload, dict) else {}
    code = str(err.get("code", ""))
    message = (err.get("message") or {}).get("value", "") if isinstance(err.get("message"), dict) else ""
    if resp.status_code == 401 or code == "20":
        hint = f"{message}; " if message else ""
        check = (
            "check the rights of the ONEC_USER user on this object"
            if code == "20"
            else "check ONEC_USER and ONEC_PASSWORD"
        )
        raise AuthError(
            f"1C refused access to {resource} at {shown(base_url)} ({resp.status_code}, code "
            f"{code or '-'}): {hint}{check}",
            system="1c",
            resource=resource,
        )
    if resp.status_code == 404 and code == "6" and "/" not in resource and "(" not in resource:
        raise StopRun(
            f"1C does not publish {resource} at {shown(base_url)} (404, code 6): tick {resource} in "
            "the OData publication (Администрирование → Интеграция → Стандартный интерфейс OData) or run "
            "`b24-1c verify`",
            system="1c",
            resource=resource,
        )
    if code in _STOP_CODES or (resp.status_code == 404 and code != "9"):
        raise StopRun(
            f"1C rejected the request ({_STOP_CODES.get(code, 'not published?')}, code {code}): {message}",
            system="1c",
            resource=resource,
        )
    if code == "-1" or 400 <= resp.status_code < 500:
        raise RemoteRejected(f"1C: {message or resp.status_code}", code=code, system="1c", resource=resource)
    raise unsure(f"1C answered {resp.status_code} (code {code}): {message}", resource, write, create)


def excerpt(text: str, limit: int = 200) -> str:
    """The start of a body that is not OData, on one line (what a proxy or a crashed 1C process said)."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[:limit] + "…")
