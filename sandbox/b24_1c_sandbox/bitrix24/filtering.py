"""List filter, order and select engine for the sandbox's ``crm.*.list`` and ``crm.item.list``.

Behaviour follows reference §6.1 and checklist item 17. Choices where the portal's exact SQL is not known:

* strings compare case-insensitively (MySQL ``_ci`` collations); ``%`` is a case-insensitive substring,
  ``=%``/``%=`` a case-insensitive LIKE pattern where ``%`` is any run and ``_`` any one character;
* ``=`` with ``""``/None matches NULL and empty values (and 0 for numeric/link fields, where "no link"
  is stored as ``"0"``); ``=`` with a list behaves as ``@`` (IN); an empty IN list matches nothing;
* every negated operator is the exact complement of its positive form, so ``!=5`` also matches NULL;
* a record value that is a list (multiple field) matches when any element matches;
* ``date`` fields compare by calendar day in the portal offset (the first 10 characters of a record value,
  which Bitrix renders as shifted midnight), ``datetime`` fields by the instant at one-second granularity;
* integer-like filter values are truncated like PHP ``intval`` (``"12abc"`` -> 12, ``"x"`` -> 0);
* an unknown ``logic`` value is ignored (AND) on legacy lists and rejected in strict mode with
  ``INVALID_ARG_VALUE`` (the ORM throws "Unknown logic"; the portal's exact error text is not known).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "DEFAULT_PORTAL_OFFSET",
    "FIELD_TYPES",
    "FilterError",
    "apply_select",
    "compile_filter",
    "sort_records",
    "text_key",
]

DEFAULT_PORTAL_OFFSET = dt.timezone(dt.timedelta(hours=3))

FIELD_TYPES = frozenset(
    {
        "integer",
        "double",
        "string",
        "char",
        "date",
        "datetime",
        "boolean",
        "crm_status",
        "crm_company",
        "crm_contact",
        "user",
        "crm_currency",
        "crm_category",
        "enumeration",
    }
)
_NUMERIC = frozenset(
    {"integer", "double", "crm_company", "crm_contact", "user", "crm_category", "enumeration"}
)
_INTEGRAL = _NUMERIC - {"double"}
_NO_LIKE = frozenset({"crm_status", "crm_company", "crm_contact", "user"})

# Longest first, so "!=%" is not read as "!=" followed by a field named "%X".
_OPERATORS = ("!=%", "!%=", "!@", "!=", "!%", ">=", "<=", "=%", "%=", "!", ">", "<", "@", "%", "=")
_NEGATED = {"!": "=", "!=": "=", "!@": "@", "!%": "%", "!=%": "=%", "!%=": "=%"}
_POSITIVE_ALIASES = {"%=": "=%"}
_LIKE_OPERATORS = frozenset({"%", "=%"})

_NUMBER_PREFIX = re.compile(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")
_LOCAL_DATETIME = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?\Z")
_ISO_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT_KEY = re.compile(r"-?\d+\Z")

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]
_Matcher = Callable[[Any], bool]


class FilterError(Exception):
    """A filter/order the portal would reject; ``code`` and ``message`` form the REST error body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- value coercion -----------------------------------------------------------------------------------------


def _kind(field_type: str) -> str:
    if field_type in _NUMERIC:
        return "number"
    if field_type in ("date", "datetime", "boolean"):
        return field_type
    return "string"


def _to_number(value: Any, *, lenient: bool) -> Decimal | None:
    """Numeric value of a record (strict: None if not a number) or filter value (lenient: PHP intval/floatval)."""
    if value is None or isinstance(value, list | tuple | Mapping):
        return None
    if isinstance(value, bool):
        return Decimal(int(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | Decimal):
        number = Decimal(value) if isinstance(value, float) else value
        return number if number.is_finite() else None
    text = str(value)
    if text == "" and not lenient:
        return None
    match = _NUMBER_PREFIX.match(text)
    if match is None or (not lenient and match.end() != len(text.rstrip())):
        return Decimal(0) if lenient else None
    try:
        return Decimal(match.group(1))
    except InvalidOperation:  # pragma: no cover - the regex only admits valid literals
        return None


def _to_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _to_bool(value: Any) -> bool | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    text = str(value).strip().upper()
    if text in ("Y", "1", "TRUE"):
        return True
    if text in ("N", "0", "FALSE"):
        return False
    return None


def _to_datetime(value: Any, offset: dt.tzinfo) -> dt.datetime | None:
    """An aware datetime at whole seconds; naive inputs and bare dates are read in the portal offset."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if not text:
            return None
        local = _LOCAL_DATETIME.match(text)
        try:
            if local is not None:
                day, month, year, hour, minute, second = local.groups()
                parsed = dt.datetime(
                    int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
                )
            else:
                parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=offset)
    return parsed.replace(microsecond=0)


def _record_date(value: Any, offset: dt.tzinfo) -> dt.date | None:
    # Bitrix renders date fields as shifted midnight ("2024-08-30T02:00:00+02:00"): the day is the prefix.
    if isinstance(value, str) and _ISO_DATE_PREFIX.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return _filter_date(value, offset)


def _filter_date(value: Any, offset: dt.tzinfo) -> dt.date | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    parsed = _to_datetime(value, offset)
    return None if parsed is None else parsed.astimezone(offset).date()


def _coerce(value: Any, field_type: str, offset: dt.tzinfo, *, from_filter: bool) -> Any:
    """Comparable form of a value for a field type, or None for NULL / unreadable."""
    kind = _kind(field_type)
    if kind == "number":
        number = _to_number(value, lenient=from_filter)
        if number is not None and from_filter and field_type in _INTEGRAL:
            number = Decimal(int(number))
        return number
    if kind == "boolean":
        return _to_bool(value)
    if kind == "datetime":
        return _to_datetime(value, offset)
    if kind == "date":
        return _filter_date(value, offset) if from_filter else _record_date(value, offset)
    text = _to_text(value)
    return None if text is None else text.casefold()


def text_key(value: Any) -> str | None:
    """What equality on a string field compares, of a record's or a filter's value (case-folded text), or None
    for NULL: the key of an index on a string field (listindex.py)."""
    text = _to_text(value)
    return None if text is None else text.casefold()


def _is_empty(value: Any, field_type: str) -> bool:
    if value is None or value == "" or (isinstance(value, list | tuple) and not value):
        return True
    if _kind(field_type) == "number":
        number = _to_number(value, lenient=False)
        return number is not None and number == 0
    return False


def _like_regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern.casefold():
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


# -- compilation --------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, fields: Mapping[str, str], strict: bool, offset: dt.tzinfo) -> None:
        unknown = {t for t in fields.values() if t not in FIELD_TYPES}
        if unknown:
            raise ValueError(f"unknown field types: {sorted(unknown)}")
        self.lookup = {name.upper(): (name, field_type) for name, field_type in fields.items()}
        self.strict = strict
        self.offset = offset


def _split_operator(key: str) -> tuple[str, str]:
    for operator in _OPERATORS:
        if key.startswith(operator):
            return operator, key[len(operator) :]
    return "=", key


def _equality_matcher(value: Any, field_type: str, offset: dt.tzinfo) -> _Matcher:
    if value is None or value == "":
        return lambda record_value: _is_empty(record_value, field_type)
    wanted = _coerce(value, field_type, offset, from_filter=True)
    if wanted is None:
        return lambda record_value: False
    return lambda record_value: _coerce(record_value, field_type, offset, from_filter=False) == wanted


def _build_matcher(operator: str, value: Any, field_type: str, offset: dt.tzinfo) -> _Matcher:
    if operator in ("=", "@"):
        many = operator == "@" or isinstance(value, list | tuple | Mapping)
        candidates = _as_list(value) if many else [value]
        if len(candidates) > 4:  # an IN list: one coercion of the record value and a set lookup (an index)
            empties = any(c is None or c == "" for c in candidates)
            wanted = {
                w
                for c in candidates
                if not (c is None or c == "")
                for w in [_coerce(c, field_type, offset, from_filter=True)]
                if w is not None
            }
            return lambda record_value: (
                (empties and _is_empty(record_value, field_type))
                or (_coerce(record_value, field_type, offset, from_filter=False) in wanted)
            )
        matchers = [_equality_matcher(candidate, field_type, offset) for candidate in candidates]
        return lambda record_value: any(m(record_value) for m in matchers)
    if operator in _LIKE_OPERATORS:
        patterns: list[re.Pattern[str]] = []
        for candidate in _as_list(value):
            text = _to_text(candidate) or ""
            patterns.append(_like_regex(f"%{text}%" if operator == "%" else text))

        def like(record_value: Any) -> bool:
            text = _to_text(record_value)
            return text is not None and any(p.fullmatch(text.casefold()) for p in patterns)

        return like
    bounds = [_coerce(candidate, field_type, offset, from_filter=True) for candidate in _as_list(value)]
    bounds = [bound for bound in bounds if bound is not None]
    compare: Callable[[Any, Any], bool] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }[operator]

    def ordered(record_value: Any) -> bool:
        current = _coerce(record_value, field_type, offset, from_filter=False)
        return current is not None and any(compare(current, bound) for bound in bounds)

    return ordered


def _record_value(record: Record, field: str) -> Any:
    if field in record:
        return record[field]
    upper = field.upper()
    for key, value in record.items():
        if key.upper() == upper:
            return value
    return None


def _compile_condition(key: str, value: Any, ctx: _Context) -> Predicate | None:
    operator, name = _split_operator(key)
    entry = ctx.lookup.get(name.upper())
    if entry is None:
        if ctx.strict:
            raise FilterError("INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter")
        return None
    field, field_type = entry
    negate = operator in _NEGATED
    base = _NEGATED.get(operator, _POSITIVE_ALIASES.get(operator, operator))
    if base in _LIKE_OPERATORS and field_type in _NO_LIKE:
        # Real portals silently drop LIKE on status and link fields.
        return None
    matcher = _build_matcher(base, value, field_type, ctx.offset)

    def predicate(record: Record) -> bool:
        raw = _record_value(record, field)
        values = list(raw) if isinstance(raw, list | tuple) else [raw]
        hit = any(matcher(v) for v in values) if values else matcher(None)
        return hit != negate

    return predicate


def _is_group_key(key: str, value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple) and (
        bool(_INT_KEY.match(key)) or key.upper().startswith("__INNER_FILTER")
    )


def _compile_group(group: Mapping[str, Any], ctx: _Context) -> Predicate | None:
    logic = "AND"
    predicates: list[Predicate] = []
    for raw_key, value in group.items():
        key = str(raw_key)
        if key.upper() == "LOGIC":
            text = str(value).upper() if isinstance(value, str) else ""
            if text not in ("AND", "OR"):
                if ctx.strict:
                    raise FilterError("INVALID_ARG_VALUE", f"Invalid filter: unknown logic '{value}'")
                continue
            logic = text
            continue
        if _is_group_key(key, value):
            sub = _compile_group(_as_mapping(value), ctx)
        else:
            sub = _compile_condition(key, value, ctx)
        if sub is not None:
            predicates.append(sub)
    if not predicates:
        # Dropped conditions vanish from the SQL; an empty group must not turn an OR into "always true".
        return None
    if logic == "OR":
        return lambda record: any(p(record) for p in predicates)
    return lambda record: all(p(record) for p in predicates)


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    return {str(i): item for i, item in enumerate(value)}


def compile_filter(
    filter: Any,
    fields: Mapping[str, str],
    *,
    strict: bool,
    portal_offset: dt.tzinfo = DEFAULT_PORTAL_OFFSET,
) -> Predicate:
    """Compile a Bitrix list filter into a record predicate; ``strict`` is crm.item.list's unknown-field error."""
    if filter is None:
        # PHP handlers read the parameter with isset(), so an absent or null filter is "no filter".
        return lambda record: True
    if isinstance(filter, list | tuple):
        filter = _as_mapping(filter)
    if not isinstance(filter, Mapping):
        raise FilterError("", "Parameter 'filter' must be array.")
    predicate = _compile_group(filter, _Context(fields, strict, portal_offset))
    return predicate if predicate is not None else (lambda record: True)


# -- order and select ---------------------------------------------------------------------------------------


def _sort_key(value: Any, field_type: str, offset: dt.tzinfo) -> tuple[int, Any]:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    coerced = _coerce(value, field_type, offset, from_filter=False)
    # NULLs first ascending and last descending, as in MySQL.
    return (0, 0) if coerced is None else (1, coerced)


def sort_records(
    records: Iterable[Record],
    order: Any,
    fields: Mapping[str, str],
    *,
    portal_offset: dt.tzinfo = DEFAULT_PORTAL_OFFSET,
) -> list[Record]:
    """Sort records by a Bitrix ``order`` map (multi-key, typed, ASC/DESC); unknown fields are ignored."""
    result = list(records)
    if order is None:
        return result
    if isinstance(order, list | tuple):
        order = _as_mapping(order)
    if not isinstance(order, Mapping):
        raise FilterError("", "Parameter 'order' must be array.")
    ctx = _Context(fields, False, portal_offset)
    keys: list[tuple[str, str, bool]] = []
    for name, direction in order.items():
        text = direction.strip().upper() if isinstance(direction, str) else ""
        if text not in ("ASC", "DESC"):
            raise FilterError("ERROR_ARGUMENT", "Order direction should be one of {ASC|DESC}")
        entry = ctx.lookup.get(str(name).upper())
        if entry is not None:
            keys.append((entry[0], entry[1], text == "DESC"))
    # Stable sorts applied from the least significant key give a multi-key order.
    for field, field_type, descending in reversed(keys):
        result.sort(
            key=lambda r: _sort_key(_record_value(r, field), field_type, portal_offset), reverse=descending
        )
    return result


def apply_select(
    record: Record,
    select: Sequence[str] | None,
    standard: Sequence[str],
    *,
    always: Sequence[str] = ("ID",),
) -> dict[str, Any]:
    """Project a record by ``select``: ``*`` = standard non-UF fields, ``PREFIX*`` masks such as ``UF_*``."""
    items = ["*", "UF_*"] if not select else [select] if isinstance(select, str) else [str(s) for s in select]
    standard_names = {name.upper() for name in standard if not name.upper().startswith("UF_")}
    want_standard = False
    exact: set[str] = set()
    prefixes: list[str] = []
    for item in [*items, *always]:
        if item == "*":
            want_standard = True
        elif item.endswith("*"):
            prefixes.append(item[:-1].upper())
        else:
            exact.add(item.upper())
    selected: dict[str, Any] = {}
    for key, value in record.items():
        upper = key.upper()
        if (
            (want_standard and upper in standard_names)
            or upper in exact
            or any(upper.startswith(prefix) for prefix in prefixes)
        ):
            selected[key] = value
    return selected
