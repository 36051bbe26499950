"""Batch references (``$result[key][path...]``) substituted into a parsed sub-command, as Bitrix does.

This mirrors ``CRestUtil::processBatchElement``/``processBatchStructure`` (reference §4.1, checklist item 13):

* the reference regex is ``\\$(result|next|total|time|error)([^\\s]*)`` (case-insensitive, greedy up to
  whitespace), and the path is every ``[segment]`` inside the match;
* the walk uses PHP ``isset``: it stops at the deepest existing non-null node, so a missing command key
  stops at the whole section (``$result[nokey]`` on its own yields every result so far);
* a value that is exactly one reference gets the raw node; an embedded reference is replaced only when the
  node is a string or a number (PHP ``is_numeric``: booleans, null, arrays leave the text unchanged).

Parameter values are walked recursively; keys are left alone (PHP's key pass has no prefix list, so it only
touches keys starting with ``$``, which Bitrix parameters never do).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["php_number_string", "substitute"]

_MISSING = object()
_PATH_SEGMENT = re.compile(r"\[([^\]]+)\]")
_INT_KEY = re.compile(r"(?:0|-?[1-9][0-9]*)\Z")


def php_number_string(value: int | float) -> str:
    """Render a number as PHP's ``(string)`` cast does (floats with precision 14, ``1.0E+20``)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers in PHP's is_numeric sense")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = format(value, ".14G")
    if "E" not in text:
        return text
    mantissa, exponent = text.split("E")
    if "." not in mantissa:
        mantissa += ".0"
    power = int(exponent)
    return f"{mantissa}E{'+' if power >= 0 else '-'}{abs(power)}"


def _isset_index(node: Any, segment: str) -> Any:
    """Return ``node[segment]`` if PHP's ``isset`` would be true for it, else ``_MISSING``."""
    is_int = bool(_INT_KEY.match(segment))
    found: Any = _MISSING
    if isinstance(node, Mapping):
        if segment in node:
            found = node[segment]
        elif is_int and int(segment) in node:
            found = node[int(segment)]
    elif isinstance(node, list | tuple):
        if is_int and 0 <= int(segment) < len(node):
            found = node[int(segment)]
    elif isinstance(node, str) and is_int and -len(node) <= int(segment) < len(node):
        # PHP string offsets: isset("394"[0]) is true and yields "3".
        found = node[int(segment)]
    return _MISSING if found is None else found


def _resolve(section: str, path: list[str], accum: Mapping[str, Mapping[str, Any]]) -> Any:
    # A prefix matched in another letter case ($RESULT) names no accumulator: PHP gets null.
    node: Any = accum.get(section)
    for segment in path:
        child = _isset_index(node, segment)
        if child is _MISSING:
            break
        node = child
    return node


def _substitute_text(text: str, pattern: re.Pattern[str], accum: Mapping[str, Mapping[str, Any]]) -> Any:
    current: Any = text
    for match in pattern.finditer(text):
        path = _PATH_SEGMENT.findall(match.group(2))
        if not path:
            continue
        node = _resolve(match.group(1), path, accum)
        if isinstance(current, str) and match.group(0) == current:
            current = copy.deepcopy(node)
            continue
        if isinstance(node, int | float) and not isinstance(node, bool):
            node = php_number_string(node)
        if not isinstance(node, str) or not isinstance(current, str):
            continue
        current = current.replace(match.group(0), node)
    return current


def _walk(value: Any, pattern: re.Pattern[str], accum: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(value, str):
        return _substitute_text(value, pattern, accum)
    if isinstance(value, Mapping):
        return {key: _walk(item, pattern, accum) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, pattern, accum) for item in value]
    return value


def substitute(value: Any, accum: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace batch references in a parsed parameter tree using earlier sub-calls' accumulated output."""
    names = [name for name in accum if name]
    if not names:
        return value
    # PHP's \s is ASCII whitespace only.
    pattern = re.compile(
        r"\$(" + "|".join(re.escape(name) for name in names) + r")([^ \t\n\r\f\v]*)", re.IGNORECASE
    )
    return _walk(value, pattern, accum)
