"""PHP request-parsing and JSON quirks that the Bitrix24 REST server exhibits, reproduced for the sandbox.

Sources: php-src ``main/php_variables.c`` (``php_register_variable_ex``) for ``parse_str`` and
Bitrix ``CRestUtil::getRequestData`` for the body rules (reference §1.3, emulator checklist items 2 and 15).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from email import policy
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Any
from urllib.parse import unquote_plus

__all__ = [
    "is_php_int_key",
    "merge_params",
    "parse_body",
    "parse_str",
    "php_array_to_python",
    "php_json",
]

# PHP's default max_input_nesting_level; deeper names are dropped whole.
_MAX_NESTING = 64
_INT_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")
_INT64_MAX = 2**63 - 1


def is_php_int_key(key: str) -> bool:
    """Tell whether PHP would store this string array key as an integer key."""
    return bool(_INT_KEY.match(key)) and -_INT64_MAX - 1 <= int(key) <= _INT64_MAX


def _next_index(container: Mapping[str, Any]) -> str:
    # PHP appends at (highest integer key + 1), never below 0.
    highest = -1
    for key in container:
        if is_php_int_key(key):
            highest = max(highest, int(key))
    return str(highest + 1)


def _mangle(name: str) -> str:
    # PHP turns ' ' and '.' into '_' in the top-level variable name only (not inside brackets).
    return name.replace(" ", "_").replace(".", "_")


def _split_name(name: str) -> tuple[str, list[str | None]] | None:
    """Split a decoded variable name into its base and bracket segments (None = ``[]``)."""
    name = name.lstrip(" ")
    bracket = name.find("[")
    if bracket == -1:
        base = _mangle(name)
        return (base, []) if base else None
    base = _mangle(name[:bracket])
    if not base:
        return None
    segments: list[str | None] = []
    pos = bracket
    while True:
        if len(segments) >= _MAX_NESTING:
            return None
        start = pos + 1
        probe = start + 1 if name[start : start + 1] == " " else start
        if name[probe : probe + 1] == "]":
            segments.append(None)
            close = probe
        else:
            close = name.find("]", probe)
            if close == -1:
                if not segments:
                    # An unterminated first bracket is not an index: PHP keeps it as a plain name.
                    rest = name[start:].replace(" ", "_").replace(".", "_").replace("[", "_")
                    return base + "_" + rest, []
                # Deeper unterminated bracket: PHP assigns at the current level and drops the rest.
                return base, segments
            segments.append(name[start:close])
        pos = close + 1
        if name[pos : pos + 1] != "[":
            # Anything after a closing bracket that is not another '[' is ignored by PHP.
            return base, segments


def _register(target: dict[str, Any], name: str, value: Any) -> None:
    """Store one variable the way ``php_register_variable_ex`` does."""
    split = _split_name(name)
    if split is None:
        return
    base, segments = split
    container = target
    key: str | None = base
    for segment in segments:
        if key is None:
            child: dict[str, Any] = {}
            container[_next_index(container)] = child
        else:
            existing = container.get(key)
            if isinstance(existing, dict):
                child = existing
            else:
                # A scalar already stored under this key is replaced by an array, as in PHP.
                child = {}
                container[key] = child
        container = child
        key = segment
    container[_next_index(container) if key is None else key] = value


def parse_str(query: str) -> dict[str, Any]:
    """Parse a query string with PHP ``parse_str`` semantics; PHP arrays become dicts with string keys."""
    result: dict[str, Any] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition("=")
        name = unquote_plus(raw_name, encoding="utf-8", errors="replace")
        value = unquote_plus(raw_value, encoding="utf-8", errors="replace")
        _register(result, name, value)
    return result


def php_array_to_python(value: Any) -> Any:
    """Turn dicts keyed exactly "0".."n-1" into lists, recursively (values in PHP ``foreach`` order)."""
    if isinstance(value, Mapping):
        converted = {str(k): php_array_to_python(v) for k, v in value.items()}
        if set(converted) == {str(i) for i in range(len(converted))}:
            return list(converted.values())
        return converted
    if isinstance(value, list | tuple):
        return [php_array_to_python(v) for v in value]
    return value


def _list_index(key: Any) -> int | None:
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, int):
        return key
    if isinstance(key, str) and is_php_int_key(key):
        return int(key)
    return None


def php_json(value: Any) -> Any:
    """Shape a value as PHP ``json_encode`` prints the equivalent PHP array: {} -> [], 0..n-1 maps -> lists."""
    if isinstance(value, Mapping):
        keys = list(value)
        if all(_list_index(k) == i for i, k in enumerate(keys)):
            return [php_json(value[k]) for k in keys]
        return {str(k): php_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [php_json(v) for v in value]
    return value


def merge_params(query: Mapping[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Merge query-string and body parameters; body keys replace query keys (PHP ``array_replace``)."""
    return {**query, **body}


def _reject_constant(name: str) -> Any:
    # PHP json_decode rejects NaN/Infinity, which Python's json module would accept.
    raise ValueError(name)


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(raw.decode("utf-8").strip(), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        return {}
    if isinstance(decoded, dict):
        return decoded
    if isinstance(decoded, list):
        return {str(i): v for i, v in enumerate(decoded)}
    return {}


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    head = b"Content-Type: " + content_type.encode("latin-1", errors="replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + raw)
    result: dict[str, Any] = {}
    if not message.is_multipart():
        return result
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None or part.get_filename() is not None:
            # File parts land in PHP's $_FILES, not in the parameters a REST method sees.
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        charset = part.get_content_charset() or "utf-8"
        try:
            text = data.decode(charset, errors="replace")
        except LookupError:
            text = data.decode("utf-8", errors="replace")
        _register(result, str(collapse_rfc2231_value(name)), text)
    return result


def parse_body(content_type: str | None, raw: bytes) -> dict[str, Any]:
    """Parse a POST body like Bitrix: JSON only for exactly ``application/json``, else PHP form rules."""
    full_type = content_type or ""
    # Bitrix strips parameters with preg_replace('/;.*$/') and compares case-sensitively.
    base_type = re.sub(r";.*$", "", full_type).strip()
    if base_type == "application/json":
        return _parse_json(raw)
    if base_type.lower() == "multipart/form-data":
        return _parse_multipart(full_type, raw)
    return parse_str(raw.decode("utf-8", errors="replace"))
