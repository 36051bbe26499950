"""Secret redaction for logs, errors and the ledger: webhook codes, tokens, passwords."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# /rest/{user}/{code}/ — the webhook code is the secret.
_WEBHOOK = re.compile(r"(/rest/\d+/)([^/\s\"'?]+)")
# user:password@ in URLs.
_URL_CREDENTIALS = re.compile(r"(://[^/\s:@]+:)([^@\s/]+)(@)")
# Pairs whose key looks secret: key=value (query strings, form bodies, env lines), a quoted value after a colon
# ("key": "value" in JSON or a Python repr) and key:value without a space. Prose such as "password: environment
# variable ONEC_PASSWORD is not set" is not a pair; the secrets a config holds are masked anywhere as literals.
_SECRET_KEY_NAMES = (
    r"(?:password|passwd|pwd|secret|token|access_token|refresh_token|auth|client_secret|authorization)"
)
_PAIR = re.compile(
    r"(?i)(\b" + _SECRET_KEY_NAMES + r"\b[\"']?(?:\s*=\s*[\"']?|\s*:\s*[\"']|:(?=[^\s\"'])))([^\"'&\s,}]+)"
)
_BASIC = re.compile(r"(?i)(Basic|Bearer)\s+[A-Za-z0-9+/=._-]{6,}")

_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a literal secret (from config) so it is masked wherever it appears."""
    if value and len(value) >= 4:
        _registered.add(value)


def redact(text: str) -> str:
    """Mask every secret in a string."""
    if not text:
        return text
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _WEBHOOK.sub(lambda m: m.group(1) + MASK, text)
    text = _URL_CREDENTIALS.sub(lambda m: m.group(1) + MASK + m.group(3), text)
    text = _BASIC.sub(lambda m: m.group(1) + " " + MASK, text)
    return _PAIR.sub(lambda m: m.group(1) + MASK, text)


_SECRET_KEYS = re.compile(r"(?i)^(?:" + _SECRET_KEY_NAMES + r"|.*_(?:password|secret|token))$")


def redact_value(key: str, value: Any) -> Any:
    """Mask a value by its key, or recursively inside containers and strings."""
    if isinstance(key, str) and _SECRET_KEYS.match(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value("", v) for v in value]
    return value
