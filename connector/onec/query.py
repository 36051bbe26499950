"""Safe OData v3 filter building for 1C: user data becomes literals, never raw text."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

_NAME = re.compile(r"^[A-Za-zА-Яа-яЁё_][A-Za-zА-Яа-яЁё0-9_]*(/[A-Za-zА-Яа-яЁё_][A-Za-zА-Яа-яЁё0-9_]*)*$")
EMPTY_REF = "00000000-0000-0000-0000-000000000000"
EMPTY_DATE = "0001-01-01T00:00:00"
_DATE_FIELDS = ("Date", "Period")  # the platform's standard date fields; attributes are named …Дата…
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d)?)?\Z")


@dataclass(frozen=True)
class Guid:
    """A 1C reference (`guid'…'` literal)."""

    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", str(uuid.UUID(str(self.value))))


def name(field: str) -> str:
    """A property name or navigation path, validated so it cannot inject syntax."""
    if not _NAME.match(field):
        raise ValueError(f"not a valid OData property name: {field!r}")
    return field


def literal(value: object, tz: ZoneInfo) -> str:
    """An OData literal for a Python value; aware datetimes are shifted to the 1C server's zone."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError("NaN and infinity have no OData literal")
        return repr(value)
    if isinstance(value, Guid):
        return f"guid'{value.value}'"
    if isinstance(value, uuid.UUID):
        return f"guid'{value}'"
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(tz).replace(tzinfo=None)
        return f"datetime'{value.replace(microsecond=0).isoformat()}'"
    if isinstance(value, date):
        return f"datetime'{value.isoformat()}T00:00:00'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no OData literal for {type(value).__name__}")


def typed(field: str, value: object) -> object:
    """The value as 1C compares it with this property: a reference as guid'…', a date as datetime'…'.

    1C refuses `Контрагент_Key eq '<guid>'` and `Date ge '2020-01-01T00:00:00'` (400); values that come from YAML or
    from Bitrix24 are strings, so the property's name decides: `…_Key` is a reference, `Date`, `Period` and
    attributes named with `Дата` (ДатаОтгрузки, ЖелаемаяДатаОтгрузки) are dates (a naive date string is the 1C
    server's local time).
    """
    if not isinstance(value, str):
        return value
    leaf = field.rsplit("/", 1)[-1]
    if leaf.endswith("_Key"):
        try:
            return Guid(value)
        except ValueError:
            raise ValueError(f"{field} is a 1C reference: {value!r} is not a GUID") from None
    if (leaf in _DATE_FIELDS or "Дата" in leaf) and _ISO_DATE.match(value):
        return datetime.fromisoformat(value)
    return value


class F:
    """Filter expressions as strings built only from validated names and escaped literals."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def cmp(self, field: str, op: str, value: object) -> str:
        if op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise ValueError(f"unknown comparison {op!r}")
        return f"{name(field)} {op} {literal(typed(field, value), self.tz)}"

    def eq(self, field: str, value: object) -> str:
        return self.cmp(field, "eq", value)

    def ge(self, field: str, value: object) -> str:
        return self.cmp(field, "ge", value)

    def lt(self, field: str, value: object) -> str:
        return self.cmp(field, "lt", value)

    def cast_eq(self, field: str, ref: str, type_name: str) -> str:
        """Equality on a composite attribute, which needs cast() in 1C."""
        return f"{name(field)} eq cast({literal(Guid(ref), self.tz)}, {literal(name(type_name), self.tz)})"

    def any_of(self, field: str, values: list[object]) -> str:
        """`field eq a or field eq b ...` (1C has no `in`)."""
        if not values:
            raise ValueError("any_of needs at least one value")
        return " or ".join(self.eq(field, v) for v in values)

    @staticmethod
    def and_(*parts: str | None) -> str:
        kept = [p for p in parts if p]
        return " and ".join(f"({p})" if " or " in p else p for p in kept)


def parse_datetime(value: str | None, tz: ZoneInfo) -> datetime | None:
    """A 1C naive server-local datetime string as aware UTC; the empty date is None."""
    if not value or value.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(value).replace(tzinfo=tz)
