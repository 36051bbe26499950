"""Wire encoding for the Bitrix24 REST API: PHP bracket query strings, batch commands, PHP-JSON maps.

Batch references (``$result[c1][0][ID]``) are percent-encoded like any other value. The server parses
each ``cmd`` query with PHP ``parse_str`` first and substitutes references in the decoded parameter tree
afterwards (``CRestUtil::ParseBatchQuery`` -> ``processBatchStructure``), so encoding them is safe; it is
also what PHP's own ``http_build_query`` (used by the official PHP SDK) does. The sandbox's ``parse_str``
plus ``batchrefs.substitute`` follow the same order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote_plus

__all__ = ["batch_command", "http_build_query", "normalize_php_map", "scalar_to_wire"]


def _quote(text: str) -> str:
    return quote_plus(text, safe="")


def _key_text(key: Any, *, top: bool) -> str:
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise TypeError(f"query keys must be str or int, got {type(key).__name__}")
    text = str(key)
    # PHP decodes the whole name before splitting on brackets, so these keys cannot survive a round trip.
    if "[" in text or "]" in text:
        raise ValueError(f"query key {text!r} contains a bracket")
    if top and (not text.strip(" ") or " " in text or "." in text):
        # PHP drops empty top-level names and rewrites ' ' and '.' in them to '_'.
        raise ValueError(f"top-level query key {text!r} would be mangled by PHP")
    if not top and text in ("", " "):
        # An empty (or single-space) nested key reads back as "[]", i.e. an append.
        raise ValueError(f"query key {text!r} would be read back as an auto-index")
    return _quote(text)


def _number_text(value: float | Decimal) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot send a non-finite number: {value!r}")
        text = repr(value)
        return text if "e" not in text and "E" not in text else format(Decimal(text), "f")
    if not value.is_finite():
        raise ValueError(f"cannot send a non-finite number: {value!r}")
    return format(value, "f")


def scalar_to_wire(value: Any) -> str:
    """Render one scalar parameter value as Bitrix expects it (True -> "Y", None -> "")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        # Bitrix stores whole seconds; a fraction would only confuse strtotime-based filters.
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot encode a {type(value).__name__} as a query value")


def _flatten(prefix: str, value: Any, out: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}[{_key_text(key, top=False)}]", item, out)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out)
    else:
        out.append(f"{prefix}={_quote(scalar_to_wire(value))}")


def http_build_query(params: Mapping[str, Any]) -> str:
    """Build a PHP-style query string: ``filter[%3EID]=5&select[0]=ID``; empty dicts/lists are omitted."""
    pairs: list[str] = []
    for key, value in params.items():
        _flatten(_key_text(key, top=True), value, pairs)
    return "&".join(pairs)


def batch_command(method: str, params: Mapping[str, Any]) -> str:
    """Build one ``batch`` ``cmd`` entry, ``method?query``; references are encoded like other values."""
    if not method or any(ch in method for ch in "?# \t\r\n"):
        raise ValueError(f"invalid method name for a batch command: {method!r}")
    query = http_build_query(params)
    return f"{method}?{query}" if query else method


def normalize_php_map(value: Any) -> dict[str, Any]:
    """Accept a PHP-JSON map in any shape (``[]``, a list, a dict, or absent) and return a dict."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list | tuple):
        return {str(i): v for i, v in enumerate(value)}
    raise TypeError(f"expected a JSON object or array, got {type(value).__name__}")
