"""Declarative conditions for rules (`when:` values, stage rules, pipeline choice): data, never eval."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Op = Literal["eq", "ne", "gt", "ge", "lt", "le", "in", "not_in", "empty", "not_empty", "contains"]


class Condition(BaseModel):
    """`{field: paid_percent, ge: 100}`; several keys in one condition must all hold; `any`/`all` nest."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    field: str | None = None
    eq: Any = None
    ne: Any = None
    gt: Any = None
    ge: Any = None
    lt: Any = None
    le: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None
    empty: bool | None = None
    contains: str | None = None
    any: list[Condition] | None = None
    all: list[Condition] | None = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        ops = [
            n
            for n in ("eq", "ne", "gt", "ge", "lt", "le", "in_", "not_in", "empty", "contains")
            if getattr(self, n) is not None
        ]
        groups = [n for n in ("any", "all") if getattr(self, n) is not None]
        if groups and (ops or self.field):
            raise ValueError("a condition is either a group (any / all) or a field test, not both")
        if not groups:
            if not self.field:
                raise ValueError(
                    "a condition needs field: and a test (eq, ne, gt, ge, lt, le, in, not_in, empty, "
                    "contains), or any: / all:"
                )
            if not ops:
                raise ValueError(
                    f"condition on {self.field}: add a test (eq, ne, gt, ge, lt, le, in, not_in, "
                    "empty, contains)"
                )
        return self

    def fields(self) -> set[str]:
        """Every field this condition reads."""
        out = {self.field} if self.field else set()
        for sub in (self.any or []) + (self.all or []):
            out |= sub.fields()
        return out


def _num(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None  # NaN cannot be compared: a rule over it does not hold


def _cmp(left: Any, right: Any) -> int | None:
    a, b = _num(left), _num(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if left is None or right is None:
        return None
    sa, sb = str(left), str(right)
    return (sa > sb) - (sa < sb)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) == bool(right) and type(left) is type(right)
    c = _cmp(left, right)
    return c == 0 if c is not None else left == right


def holds(cond: Condition, values: dict[str, Any]) -> bool:
    """Whether the condition holds for these (mapped or computed) values."""
    if cond.any is not None:
        return any(holds(c, values) for c in cond.any)
    if cond.all is not None:
        return all(holds(c, values) for c in cond.all)
    assert cond.field is not None
    value = values.get(cond.field)
    checks: list[bool] = []
    if cond.eq is not None:
        checks.append(_equal(value, cond.eq))
    if cond.ne is not None:
        checks.append(not _equal(value, cond.ne))
    for op, want in (("gt", 1), ("ge", 0), ("lt", -1), ("le", 0)):
        bound = getattr(cond, op)
        if bound is None:
            continue
        c = _cmp(value, bound)
        if c is None:
            checks.append(False)
        elif op in ("gt", "lt"):
            checks.append(c == want)
        else:
            checks.append(c == 0 or c == (1 if op == "ge" else -1))
    if cond.in_ is not None:
        checks.append(any(_equal(value, v) for v in cond.in_))
    if cond.not_in is not None:
        checks.append(not any(_equal(value, v) for v in cond.not_in))
    if cond.empty is not None:
        is_empty = value in (None, "", [], 0, "0") or (isinstance(value, str) and not value.strip())
        checks.append(is_empty == cond.empty)
    if cond.contains is not None:
        checks.append(isinstance(value, str) and cond.contains.lower() in value.lower())
    return all(checks)


class WhenRule(BaseModel):
    """One branch of a rule list: `{if: <condition>, then: <value>}`; the first that holds wins."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    if_: Condition = Field(alias="if")
    then: Any


def first_match(rules: list[WhenRule], values: dict[str, Any]) -> tuple[bool, Any]:
    """(matched, value) of the first rule whose condition holds."""
    for rule in rules:
        if holds(rule.if_, values):
            return True, rule.then
    return False, None
