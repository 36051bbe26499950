"""Value conversions named by `type:` in mappings; each raises ValueError with a readable reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE_PREFIX = "0001-01-01"


def is_empty(value: Any) -> bool:
    """1C's empty values: None, "", the zero GUID, the empty date, whitespace padding."""
    if value is None:
        return True
    if isinstance(value, str):
        v = value.strip()
        return v == "" or v == EMPTY_REF or v.startswith(EMPTY_DATE_PREFIX)
    return False


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        d = Decimal(str(value).strip().replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation:
        raise ValueError(f"expected a number, got {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"expected a finite number, got {value!r}")
    if abs(d) >= Decimal("1e15"):
        raise ValueError(f"number {value!r} is out of range")
    return d


def rounded(value: Any, places: int, mode: str = "half_up") -> str:
    """A number rounded to `places` decimals, half up or down (towards zero), as text for the converters."""
    step = Decimal(1).scaleb(-places)
    return str(_decimal(value).quantize(step, rounding=ROUND_DOWN if mode == "down" else ROUND_HALF_UP))


def to_money(value: Any, tz: ZoneInfo) -> str:
    return str(_decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def to_number(value: Any, tz: ZoneInfo) -> str:
    d = _decimal(value).normalize()
    return format(d, "f")


def to_int(value: Any, tz: ZoneInfo) -> int:
    d = _decimal(value)
    if d != d.to_integral_value():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(d)


def _parse_1c_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a date like 2024-11-05T14:02:11, got {value!r}") from None


def to_date(value: Any, tz: ZoneInfo) -> str:
    return _parse_1c_datetime(value).date().isoformat()


def to_datetime(value: Any, tz: ZoneInfo) -> str:
    dt = _parse_1c_datetime(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.isoformat(timespec="seconds")


def to_float(value: Any, tz: ZoneInfo) -> float:
    """A JSON number (1C's Edm.Double)."""
    return float(_decimal(value))


def to_onec_datetime(value: Any, tz: ZoneInfo) -> str:
    """Naive local time of the 1C server, as 1C stores dates."""
    dt = _parse_1c_datetime(value)
    if dt.tzinfo is not None:
        dt = dt.astimezone(tz).replace(tzinfo=None)
    return dt.replace(microsecond=0).isoformat()


def to_onec_date(value: Any, tz: ZoneInfo) -> str:
    """A date at 1C's midnight. Bitrix24 date fields come as shifted midnights: only the first 10 characters count."""
    text = str(value).strip()
    day = text[:10] if len(text) >= 10 and text[4] == "-" else to_date(value, tz)
    return f"{day}T00:00:00"


def to_bool(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    text = str(value).strip().lower()
    if text in ("true", "1", "y", "yes", "да"):
        return "Y"
    if text in ("false", "0", "n", "no", "нет", ""):
        return "N"
    raise ValueError(f"expected a boolean, got {value!r}")


def to_string(value: Any, tz: ZoneInfo) -> str:
    return str(value).strip()


def to_flag(value: Any, tz: ZoneInfo) -> bool:
    """A JSON boolean (1C's Edm.Boolean)."""
    return to_bool(value, tz) == "Y"


CONVERTERS: dict[str, Callable[[Any, ZoneInfo], Any]] = {
    "string": to_string,
    "money": to_money,
    "number": to_number,
    "int": to_int,
    "date": to_date,
    "datetime": to_datetime,
    "bool": to_bool,
    "float": to_float,
    "onec_datetime": to_onec_datetime,
    "onec_date": to_onec_date,
    "flag": to_flag,
}
