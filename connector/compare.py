"""Is a target's current value already what we would write? Pure comparisons across the two systems' spellings.

Used before writing to an object we did not create in this run (found by its external key after a lost ledger or a
lost reply, or adopted): equal content is linked and skipped, never written again. Also used by the dry-run diff.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

_TRUE = {"y", "yes", "true", "1"}
_FALSE = {"n", "no", "false", "0"}
MONEY_TOLERANCE = 0.005


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _is_bool_word(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in {"y", "n", "yes", "no", "true", "false"}


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _as_moment(value: Any) -> datetime | None:
    text = str(value).strip()
    if len(text) < 19 or not text[:4].isdigit():
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def same_value(current: Any, wanted: Any) -> bool:
    """Whether `current` (as the target returns it) already equals `wanted` (as we would write it)."""
    if wanted is None or wanted == "":
        return current is None or current == "" or current == []
    if current is None:
        return False
    if (
        isinstance(wanted, bool)
        or isinstance(current, bool)
        or _is_bool_word(wanted)
        or _is_bool_word(current)
    ):
        return _as_bool(current) == _as_bool(wanted)  # Y/N written, "1"/"0" read back (boolean user fields)
    a, b = _as_number(current), _as_number(wanted)
    if a is not None and b is not None:
        return abs(a - b) <= MONEY_TOLERANCE
    text_now, text_want = str(current).strip(), str(wanted).strip()
    if len(text_want) == 10 and text_want[:4].isdigit() and text_want[4] == "-":
        return text_now[:10] == text_want  # a date against a date-time: the day is what we write
    m_now, m_want = _as_moment(text_now), _as_moment(text_want)
    if m_now is not None and m_want is not None:
        if (m_now.tzinfo is None) != (m_want.tzinfo is None):
            return m_now.replace(tzinfo=None) == m_want.replace(tzinfo=None)
        return m_now == m_want
    return text_now == text_want


# Bitrix24 reads an empty link back as "0" (legacy crm.deal/company/contact get and list: COMPANY_ID "0",
# MOVED_BY_ID "0"; crm.item: companyId 0): for these fields 0 means none.
ZERO_IS_NONE = frozenset(
    {
        "COMPANY_ID",
        "CONTACT_ID",
        "LEAD_ID",
        "QUOTE_ID",
        "MOVED_BY_ID",
        "companyId",
        "contactId",
        "mycompanyId",
        "leadId",
        "quoteId",
        "movedBy",
    }
)


def read_value(name: str, value: Any) -> Any:
    """A field as read from Bitrix24 with its empty spellings made None ("0" for an empty link)."""
    if name in ZERO_IS_NONE and str(value).strip() in ("0", ""):
        return None
    return value


def changed_fields(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The wanted fields whose current value differs (names starting with "@" are engine notes, not fields)."""
    return {
        k: v
        for k, v in wanted.items()
        if not k.startswith("@") and not same_value(read_value(k, current.get(k)), v)
    }


def same_rows(current: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> bool:
    """Child rows in the same order with the same values for every field we write."""
    if len(current) != len(wanted):
        return False
    return all(not changed_fields(now, want) for now, want in zip(current, wanted, strict=True))
