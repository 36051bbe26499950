"""The mapping file format (mappings/*.yaml) as pydantic models; `b24-1c schema` exports it as JSON Schema."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.errors import ConfigError
from connector.yamlio import load_model

FieldType = Literal["string", "money", "number", "int", "date", "datetime", "bool"]
_LOOKUP = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[^.\s]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldRule(_Strict):
    """How one target field gets its value. Exactly one of source / format / const."""

    source: str | None = Field(None, description="source property, e.g. СуммаДокумента or Валюта_Key")
    format: str | None = Field(None, description="a format string over source properties: 'Заказ {Number}'")
    const: Any = Field(None, description="a fixed value")
    type: FieldType = "string"
    lookup: str | None = Field(None, description="lookup_name.Field: follow a reference through a lookup table")
    map: dict[str, Any] | None = Field(None, description="value map applied after lookup/type conversion")
    default: Any = Field(None, description="used when the value is empty")
    required: bool = False
    max_length: int | None = Field(None, ge=1)
    owner: Literal["onec", "bitrix24"] = Field("onec", description="the side that owns this field")

    @model_validator(mode="after")
    def _one_origin(self) -> FieldRule:
        origins = [n for n in ("source", "format", "const") if getattr(self, n) is not None]
        if len(origins) != 1:
            raise ValueError("give exactly one of source, format or const" +
                             (f" (got {', '.join(origins)})" if origins else ""))
        if self.lookup is not None and self.source is None:
            raise ValueError("lookup needs a source (the reference to follow)")
        if self.lookup is not None and not _LOOKUP.match(self.lookup):
            raise ValueError(f"lookup must be 'table.Field', got '{self.lookup}'")
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
        return []


class LookupTable(_Strict):
    """A 1C catalog read by reference, e.g. Catalog_Номенклатура for product names."""

    entity: str
    key: str = "Ref_Key"
    fields: list[str] = Field(min_length=1)


class SourceSpec(_Strict):
    """Where records come from."""

    system: Literal["onec"] = "onec"
    entity: str = Field(description="OData entity set, e.g. Document_ЗаказКлиента")
    key: str = "Ref_Key"
    version_field: str = "DataVersion"
    date_field: str = "Date"
    label: str = Field("{Number}", description="how a record is named in errors and reports")
    filter: dict[str, bool | int | str] = Field(default_factory=dict,
                                                description="equalities every record must meet")


class ExternalKey(_Strict):
    """The key we stamp on every object we create, so it can be found again after a lost reply."""

    originator_id: str = "1C"
    originator_field: str = "ORIGINATOR_ID"
    field: str = "ORIGIN_ID"


class TargetSpec(_Strict):
    """Where records go."""

    system: Literal["bitrix24"] = "bitrix24"
    entity: Literal["deal"] = "deal"
    external_key: ExternalKey = ExternalKey()


class RowsSpec(_Strict):
    """Child rows: a tabular section → product rows (replaced whole on every write)."""

    source: str = Field(description="tabular section, e.g. Товары")
    target: Literal["productrows"] = "productrows"
    fields: dict[str, FieldRule] = Field(min_length=1)


class UserField(_Strict):
    """A Bitrix24 user field the mapping writes; `b24-1c setup` creates it when missing."""

    type: Literal["string", "double", "date", "datetime", "boolean", "money", "integer"] = "string"
    label: str


class Mapping(_Strict):
    """One flow: source → target, field by field."""

    flow: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    source: SourceSpec
    target: TargetSpec = TargetSpec()
    lookups: dict[str, LookupTable] = Field(default_factory=dict)
    fields: dict[str, FieldRule] = Field(min_length=1)
    rows: RowsSpec | None = None
    user_fields: dict[str, UserField] = Field(default_factory=dict)

    @field_validator("user_fields")
    @classmethod
    def _uf_names(cls, value: dict[str, UserField]) -> dict[str, UserField]:
        for name in value:
            if not re.match(r"^UF_CRM_[A-Z0-9_]{1,43}$", name):
                raise ValueError(f"user field '{name}' must match UF_CRM_[A-Z0-9_] and be at most 50 characters")
        return value

    @model_validator(mode="after")
    def _lookups_exist(self) -> Mapping:
        rules = list(self.fields.items()) + (list(self.rows.fields.items()) if self.rows else [])
        for target, rule in rules:
            if rule.lookup:
                table, column = rule.lookup.split(".", 1)
                if table not in self.lookups:
                    known = ", ".join(self.lookups) or "none declared"
                    raise ValueError(f"field {target}: lookup table '{table}' is not declared in lookups ({known})")
                if column not in self.lookups[table].fields:
                    raise ValueError(f"field {target}: lookup '{rule.lookup}' reads {column}, which lookups."
                                     f"{table}.fields does not list ({', '.join(self.lookups[table].fields)})")
        for name in self.fields:
            if name.startswith("UF_CRM_") and name not in self.user_fields:
                raise ValueError(f"field {name} is a user field: declare it under user_fields (type, label) so "
                                 "`b24-1c setup` can create it")
        return self


def load_mapping(path: Path) -> Mapping:
    """Load and validate one mapping file."""
    return load_model(path, Mapping, interpolate_env=False)


def load_mappings(directory: Path, flows: list[str] | None = None) -> dict[str, Mapping]:
    """Every *.yaml in the folder, keyed by flow; all problems of all files reported at once."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: the mappings folder does not exist")
    found: dict[str, Mapping] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            mapping = load_mapping(path)
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
            continue
        if mapping.flow in found:
            problems.append(f"{path}: flow '{mapping.flow}' is defined twice")
        found[mapping.flow] = mapping
    for flow in flows or []:
        if flow not in found and not any(p.startswith(str(directory)) for p in problems):
            problems.append(f"{directory}: no mapping defines flow '{flow}' (found: {', '.join(found) or 'none'})")
    if problems:
        raise ConfigError(f"{directory}: {len(problems)} problem(s) in mappings", problems=problems)
    return found


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file, for editors."""
    schema = Mapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "b24-1c mapping"
    return schema
