"""One field rule of a mapping file: where a target field's value comes from and how it is converted."""

from __future__ import annotations

import re
import string
from typing import Any, Literal

from pydantic import Field, model_validator

from connector.mapping.conditions import WhenRule
from connector.mapping.specs import Strict

FieldType = Literal[
    "string",
    "money",
    "number",
    "int",
    "date",
    "datetime",
    "bool",
    "float",
    "onec_datetime",
    "onec_date",
    "flag",
]
_LOOKUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[^.\s]+$")


class SectionPick(Strict):
    """Rows of a tabular section picked by their attributes, and the column that gives the values."""

    where: dict[str, str] = Field(min_length=1, description="attribute → value every picked row has")
    column: str = Field(description="the column whose values are taken, e.g. Представление")


class FieldRule(Strict):
    """How one target field gets its value. Exactly one of source / format / const."""

    source: str | None = Field(None, description="source property, e.g. СуммаДокумента or Валюта_Key")
    format: str | None = Field(None, description="a format string over source properties: 'Заказ {Number}'")
    const: Any = Field(None, description="a fixed value")
    multiply: list[str] | None = Field(
        None, min_length=1, description="the product of these source properties (price × quantity)"
    )
    type: FieldType = "string"
    lookup: str | None = Field(
        None, description="lookup_name.Field: follow a reference through a lookup table"
    )
    map: dict[str, Any] | None = Field(
        None,
        description="value map applied after lookup/type conversion; a value missing from it fails the record "
        "(add it to the map), it never falls back to the default",
    )
    default: Any = Field(None, description="used when the value is empty")
    required: bool = False
    max_length: int | None = Field(None, ge=1)
    on_overflow: Literal["cut", "fail"] = Field(
        "cut",
        description="a text longer than max_length: `cut` it (with a warning naming the record and field, in the "
        "log and the run's report) or `fail` the record",
    )
    min: float | None = Field(
        None, description="the smallest number allowed (e.g. 0 for prices): a smaller one fails the record"
    )
    owner: Literal["onec", "bitrix24"] | None = Field(
        None,
        description="the side that owns this field (default: "
        "the flow's source side); the other side "
        "never overwrites it",
    )
    link: str | None = Field(
        None,
        description="flow whose ledger translates this reference (e.g. counterparties:"
        " Контрагент_Key → COMPANY_ID, or COMPANY_ID → Контрагент_Key)",
    )
    when: list[WhenRule] | None = Field(
        None, description="ordered rules over source properties; the first whose `if` holds gives the value"
    )
    on: Literal["always", "create"] = Field(
        "always",
        description="create: written only when the target object "
        "is created (initial content, immutable fields)",
    )
    pick: str | None = Field(
        None,
        description="a regular expression the value must match (its first group, if "
        "any, is the value); no match means empty: e.g. '^C_(\\d+)$' takes"
        " contacts out of a counterparty link",
    )
    section: SectionPick | None = Field(
        None,
        description="the source is a tabular section: the values of one column in the rows picked by kind, as a "
        "list (КонтактнаяИнформация rows with Тип = Телефон → PHONE)",
    )
    minus: list[str] | None = Field(
        None,
        min_length=1,
        description="with multiply: subtract the product of these properties, to kopecks (a row's discount: "
        "multiply [PRICE_BRUTTO, QUANTITY], minus [PRICE, QUANTITY])",
    )
    round: int | None = Field(
        None,
        ge=0,
        le=6,
        description="round the number to this many decimals before `type` converts it (round: 0 with type: int "
        "writes a whole number); only the written value is rounded, stage rules see the source's own",
    )
    rounding: Literal["half_up", "down"] = Field(
        "half_up", description="with round: half_up (99.5 → 100) or down (99.6 → 99: never shows 100 % early)"
    )
    vat_at: str | None = Field(
        None,
        description="with multiply: the VAT contained in the product at the rate (percent) this property holds, "
        "to kopecks; an empty rate is no VAT (TAX_RATE of a deal's row)",
    )
    divide: str | None = Field(
        None,
        description="with multiply: divide by this property, to kopecks (a unit's final price: multiply "
        "[СуммаСНДС], divide Количество); zero or empty fails the record",
    )
    rate_of: str | None = Field(
        None,
        description="with multiply: the product as a percent of (this property − the product): a row's VAT rate "
        "from its VAT and its amount with VAT (multiply [СуммаНДС], rate_of СуммаСНДС, round 0 → 20); nothing "
        "left (a free row) gives 0",
    )

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        origins = [
            n for n in ("source", "format", "const", "when", "multiply") if getattr(self, n) is not None
        ]
        if len(origins) != 1:
            raise ValueError(
                "give exactly one of source, format, const, when or multiply"
                + (f" (got {', '.join(origins)})" if origins else "")
            )
        if (
            self.minus is not None or self.vat_at is not None or self.divide or self.rate_of
        ) and not self.multiply:
            raise ValueError("minus and vat_at work on multiply, so do divide and rate_of: give multiply too")
        if self.section is not None and self.source is None:
            raise ValueError("section needs a source (the tabular section, e.g. КонтактнаяИнформация)")
        if self.lookup is not None and self.source is None:
            raise ValueError("lookup needs a source (the reference to follow)")
        if self.link is not None and self.source is None:
            raise ValueError("link needs a source (the reference to translate)")
        if self.link is not None and self.lookup is not None:
            raise ValueError("use either link (another flow's records) or lookup (a 1C catalog), not both")
        if self.lookup is not None and not _LOOKUP.match(self.lookup):
            raise ValueError(f"lookup must be 'table.Field', got '{self.lookup}'")
        if self.pick is not None:
            try:
                re.compile(self.pick)
            except re.error as exc:
                raise ValueError(f"pick is not a valid regular expression: {exc}") from None
        if self.format is not None:
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(self.format) if f is not None]
            except ValueError as exc:
                raise ValueError(f"bad format string: {exc}") from None
            for n in names:
                if not n or not re.match(r"^[^\W\d][\w]*$", n):
                    raise ValueError(f"format fields must be plain property names, got '{{{n}}}'")
        return self

    def source_names(self) -> list[str]:
        if self.source is not None:
            return [self.source]
        if self.format is not None:
            return [f for _, f, _, _ in string.Formatter().parse(self.format) if f]
        if self.when is not None:
            return sorted({f for rule in self.when for f in rule.if_.fields()})
        extra = [n for n in (self.vat_at, self.divide, self.rate_of) if n]
        return [*(self.multiply or []), *(self.minus or []), *extra]
