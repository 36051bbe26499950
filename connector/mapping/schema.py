"""The mapping file format (mappings/*.yaml) as pydantic models; `b24-1c schema` exports it as JSON Schema."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from connector.errors import ConfigError
from connector.mapping.client import NewClient
from connector.mapping.crosscheck import declared_stages, file_problems, flow_of, stage_problems
from connector.mapping.fans import FanSpec
from connector.mapping.fields import FieldRule, FieldType
from connector.mapping.rollups import RollupSpec
from connector.mapping.specs import (
    ConstValue,
    ExternalKey,
    MoneySpec,
    OneCDefault,
    OneCDerive,
    OneCKey,
    OneCRef,
    StageSpec,
    Strict,
)
from connector.yamlio import load_yaml, model_from

MatchRule = Literal["inn_kpp", "external_key", "phone", "email"]


def _id_text(value: Any) -> Any:
    """A Bitrix24 id written bare in YAML (3) is the same id as quoted ("3")."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


UserId = Annotated[
    str,
    BeforeValidator(_id_text),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}]}),
]


class LookupTable(Strict):
    """A 1C catalog read by reference, e.g. Catalog_Номенклатура for product names."""

    entity: str
    key: str = "Ref_Key"
    fields: list[str] = Field(min_length=1)


class ChangeDetection(Strict):
    """How incremental cycles find changed 1C records (1C has no change feed)."""

    lookback_days: int | None = Field(
        None, ge=1, le=3650, description="re-read documents dated this recently (default: sync.lookback_days)"
    )
    full_scan_every: str | None = Field(
        None,
        pattern=r"^\d+\s*[smhd]$",
        description="also compare every record's DataVersion this often "
        "(catches edits of old documents and deletions), e.g. 6h; 1C sources scan hourly when it is not set",
    )
    exchange_plan: str | None = Field(
        None, description="ExchangePlan_X: read changes with SelectChanges instead"
    )
    node: str | None = Field(None, description="the exchange plan node's Code")
    on_delete: Literal["ignore", "forget"] = Field(
        "ignore",
        description="what to do when a source record "
        "disappears: keep the target as it is, "
        "or also drop the ledger link",
    )


class SourceSpec(Strict):
    """Where records come from."""

    system: Literal["onec", "bitrix24"] = "onec"
    entity: str = Field(
        description="1C entity set (Document_ЗаказКлиента, Catalog_Контрагенты) or a Bitrix24 "
        "entity (deal, company, user)"
    )
    key: str = "Ref_Key"
    version_field: str | None = "DataVersion"
    date_field: str | None = Field(
        "Date", description="documents: the business date used for windows; catalogs: null"
    )
    label: str = Field("{Number}", description="how a record is named in errors and reports")
    filter: dict[str, bool | int | str | list[str]] = Field(
        default_factory=dict,
        description="conditions every record must meet (1C: equalities; Bitrix24: a list filter)",
    )
    select: list[str] | None = Field(None, description="Bitrix24: fields to read")
    changes: ChangeDetection = ChangeDetection()


class TargetSpec(Strict):
    """Where records go."""

    system: Literal["bitrix24", "onec"] = "bitrix24"
    entity: str = Field("deal", description="deal | company | user (Bitrix24), or a 1C entity set")
    external_key: ExternalKey = ExternalKey()
    onec_key: OneCKey = OneCKey()
    via: Literal["odata", "soap"] = Field(
        "odata", description="1C: write through OData or the CrmExchange SOAP service"
    )
    post: bool = Field(False, description="1C documents: post after writing")
    match: list[MatchRule] = Field(
        default_factory=lambda: list[MatchRule](["inn_kpp", "external_key"]),
        description="companies: how an existing one is recognised, in order, before creating",
    )
    write_back: dict[str, str | ConstValue] = Field(
        default_factory=dict,
        description="Bitrix24 → 1C: deal fields to set from the created 1C object (field → 1C "
        "property, or {const: value})",
    )
    lookup_before_create: bool = Field(
        True,
        description="look every page's creates up by the external key first "
        "(one query a page): no twin even if the ledger lost a "
        "link, e.g. restored from an old backup",
    )
    also_link: str | None = Field(
        None,
        description="record the created object in this flow's ledger too (so the"
        " reverse flow updates it instead of creating a twin)",
    )
    refs: dict[str, OneCRef] = Field(
        default_factory=dict,
        description="1C: fields (header or rows) whose mapped value is looked up to a Ref_Key",
    )
    derive: dict[str, OneCDerive] = Field(
        default_factory=dict, description="1C: fields read from the object another field refers to"
    )
    defaults: dict[str, OneCDefault | str | int | float | bool] = Field(
        default_factory=dict, description="1C: values every created object gets (refs found by attributes)"
    )
    client: NewClient | None = Field(
        None,
        description="1C: make the deal's client in 1C (counterparty, УТ/КА partner) when it has none there "
        "yet, instead of waiting for the counterparties flow",
    )


class RowsSpec(Strict):
    """Child rows: a tabular section → product rows (replaced whole on every write)."""

    source: str = Field(description="tabular section (Товары) or, from Bitrix24, PRODUCT_ROWS")
    target: str = Field(
        "productrows", description="Bitrix24: productrows; 1C: the tabular section, e.g. Товары"
    )
    on: Literal["always", "create"] = Field("always", description="create: rows are written only on create")
    fields: dict[str, FieldRule] = Field(min_length=1)


class UserField(Strict):
    """A Bitrix24 user field the mapping writes; `b24-1c setup` creates it when missing."""

    type: Literal["string", "double", "date", "datetime", "boolean", "money", "integer"] = "string"
    label: str
    read_only: bool = Field(
        False,
        description="created with EDIT_IN_LIST=N: users cannot edit it in the deal card, the connector still writes "
        "it (crm.deal.userfield.add; not every field type honours it)",
    )


class Mapping(Strict):
    """One flow: source → target, field by field."""

    flow: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    source: SourceSpec
    target: TargetSpec = TargetSpec()
    table: dict[str, UserId] = Field(
        default_factory=dict,
        description='managers: fixed pairs source key → target id that win over matching (3 or "3")',
    )
    lookups: dict[str, LookupTable] = Field(default_factory=dict)
    fields: dict[str, FieldRule] = Field(min_length=1)
    rows: RowsSpec | None = None
    user_fields: dict[str, UserField] = Field(default_factory=dict)
    money: MoneySpec | None = Field(None, description="this flow brings an order's money facts onto its deal")
    rollups: RollupSpec | None = Field(
        None, description="this flow brings a client's totals onto its company"
    )
    fans: FanSpec | None = Field(
        None, description="this flow flags deals of different dealers for one customer"
    )
    stages: dict[str, StageSpec] = Field(
        default_factory=dict, description="deal stages (C1:PAID …) created by `b24-1c setup` when missing"
    )

    def referenced_stages(self) -> set[str]:
        """Stage ids the mapping refers to: stage rules, and source filters on STAGE_ID."""
        found: set[str] = set(self.stages)
        rule = self.fields.get("STAGE_ID")
        for branch in (rule.when or []) if rule else []:
            then = branch.then.get("stage") if isinstance(branch.then, dict) else branch.then
            if then:
                found.add(str(then))
        stage_filter = self.source.filter.get("STAGE_ID") if self.source.system == "bitrix24" else None
        if isinstance(stage_filter, list):
            found.update(stage_filter)
        elif isinstance(stage_filter, str):
            found.add(stage_filter)
        return found

    @model_validator(mode="after")
    def _contract_lookup(self) -> Mapping:
        contract = self.money.contract if self.money is not None else None
        if contract is not None:
            table, column = contract.kind.split(".", 1)
            if table not in self.lookups or column not in self.lookups[table].fields:
                raise ValueError(
                    f"money.contract.kind '{contract.kind}': declare lookups: {{{table}: {{entity: "
                    f"Catalog_ДоговорыКонтрагентов, fields: [{column}]}}}}"
                )
        return self

    @field_validator("user_fields")
    @classmethod
    def _uf_names(cls, value: dict[str, UserField]) -> dict[str, UserField]:
        for name in value:
            if not re.match(r"^UF_CRM_[A-Z0-9_]{1,43}$", name):
                raise ValueError(
                    f"user field '{name}' must match UF_CRM_[A-Z0-9_] and be at most 50 characters"
                )
        return value


def load_mapping(path: Path) -> Mapping:
    """Load and validate one mapping file; every problem of the file is reported at once."""
    return _checked(path, load_yaml(path))


def _checked(path: Path, root: Any) -> Mapping:
    """The mapping in a parsed file, or a ConfigError listing every problem of the file."""
    problems: list[str] = []
    mapping: Mapping | None = None
    try:
        mapping = model_from(root, str(path), Mapping, interpolate_env=False)
    except ConfigError as exc:
        if not exc.problems:
            raise  # not a mapping of keys: nothing more can be checked
        problems.extend(exc.problems)
    problems.extend(file_problems(root, str(path)))
    if problems or mapping is None:
        raise ConfigError(f"{path}: {len(problems)} problem(s)", problems=problems)
    return mapping


def owner_side(spec: Mapping, rule: FieldRule) -> str:
    """Which system owns a field: declared, else the flow's source system."""
    return rule.owner or spec.source.system


def load_mappings(directory: Path, flows: list[str] | None = None) -> dict[str, Mapping]:
    """Every *.yaml in the folder, keyed by flow; all problems of all files reported at once."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: the mappings folder does not exist")
    found: dict[str, Mapping] = {}
    broken: set[str] = set()  # flows whose file has problems: references to them are not reported again
    roots: list[tuple[Path, Any]] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        root = None
        try:
            root = load_yaml(path)
            mapping = _checked(path, root)
        except ConfigError as exc:
            problems.extend(exc.problems or [exc.message])
            broken.add(flow_of(root) or _flow_in_text(path) or path.stem)
            roots.append((path, root))
            continue
        if mapping.flow in found:
            problems.append(f"{path}: flow '{mapping.flow}' is defined twice")
        found[mapping.flow] = mapping
        roots.append((path, root))
    declared = set().union(*(declared_stages(root) for _, root in roots))
    for path, root in roots:
        problems.extend(stage_problems(root, str(path), declared))
    known = set(found) | broken
    defined = f"the mappings define: {', '.join(sorted(known)) or 'none'}"
    for flow in flows or []:
        if flow not in known:
            problems.append(f"{directory}: no mapping defines flow '{flow}'{_close(flow, known)} ({defined})")
    for mapping in found.values():
        rules = list(mapping.fields.items()) + (list(mapping.rows.fields.items()) if mapping.rows else [])
        for target, rule in rules:
            if rule.link is not None and rule.link not in known:
                problems.append(
                    f"{directory}: flow {mapping.flow}, field {target}: link to unknown flow "
                    f"'{rule.link}'{_close(rule.link, known)} ({defined})"
                )
        if mapping.money is not None and mapping.money.attach_to not in known:
            problems.append(
                f"{directory}: flow {mapping.flow}: money.attach_to names unknown flow "
                f"'{mapping.money.attach_to}'{_close(mapping.money.attach_to, known)} ({defined})"
            )
        also = mapping.target.also_link
        if also is not None and also not in known:
            problems.append(
                f"{directory}: flow {mapping.flow}: also_link names unknown flow '{also}'{_close(also, known)} "
                f"({defined})"
            )
    if problems:
        raise ConfigError(f"{directory}: {len(problems)} problem(s) in mappings", problems=problems)
    return found


def _flow_in_text(path: Path) -> str | None:
    """The `flow:` line of a file that is not valid YAML, so the flow it means is not called unknown elsewhere."""
    try:
        found = re.search(
            r"(?m)^flow:\s*[\"']?([a-z][a-z0-9_]*)", path.read_text(encoding="utf-8", errors="replace")
        )
    except OSError:
        return None
    return found.group(1) if found else None


def _close(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a mapping file, for editors."""
    schema = Mapping.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "b24-1c mapping"
    return schema


__all__ = [
    "ExternalKey",
    "FieldRule",
    "FieldType",
    "LookupTable",
    "Mapping",
    "MatchRule",
    "MoneySpec",
    "OneCDefault",
    "OneCKey",
    "OneCRef",
    "RowsSpec",
    "SourceSpec",
    "TargetSpec",
    "json_schema",
    "load_mapping",
    "load_mappings",
    "owner_side",
]
