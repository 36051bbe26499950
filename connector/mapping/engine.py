"""The pure mapping engine: one source record + lookup tables → target fields and rows, or a reason."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from connector.mapping.client import NEW_CLIENT, client_spec
from connector.mapping.conditions import first_match
from connector.mapping.schema import FieldRule, Mapping, owner_side
from connector.mapping.transforms import CONVERTERS, _parse_1c_datetime, is_empty, rounded
from connector.records import Mapped

Lookups = dict[str, dict[str, dict[str, Any]]]  # table -> ref -> row
LINKS = "@links"  # in Lookups: flow -> {source reference -> the other side's key}, as {"value": ...} rows
KOPECK = Decimal("0.01")
FACTS, PAYMENTS = "@facts", "@payments"  # target-side data of money flows, never written as fields
FACT_NAMES = (
    "amount",
    "paid_amount",
    "paid_percent",
    "balance",
    "overpaid",
    "fully_paid",
    "last_payment_date",
    "shipped_amount",
    "shipped_percent",
    "fully_shipped",
    "pay_due_date",
    "days_overdue",
    "invoiced",
    "contract_kind",
    "Статус",
)


class _FieldProblem(Exception):
    def __init__(self, message: str, deferred: bool = False) -> None:
        super().__init__(message)
        self.deferred = deferred


class _SafeFormatter(string.Formatter):
    """str.format restricted to plain names; dates are formatted as dates."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        if field_name not in kwargs:
            raise _FieldProblem(f"format refers to '{field_name}', which the record does not have")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec and "%" in format_spec and isinstance(value, str):
            try:
                value = _parse_1c_datetime(value)
            except ValueError:
                raise _FieldProblem(f"cannot format {value!r} as a date") from None
        if isinstance(value, str):
            value = value.strip()
        if isinstance(value, datetime):
            return value.strftime(format_spec) if format_spec else value.isoformat()
        return str(super().format_field(value, format_spec))


_FORMATTER = _SafeFormatter()


def _product(names: list[str], record: dict[str, Any]) -> Decimal:
    product = Decimal(1)
    for name in names:
        try:
            product *= Decimal(str(record.get(name)).strip())
        except (InvalidOperation, ValueError):
            raise _FieldProblem(f"{name} = {record.get(name)!r} is not a number") from None
    return product


def _section(rule: FieldRule, value: Any) -> list[str]:
    """The values of the picked rows' column (phones out of КонтактнаяИнформация)."""
    assert rule.section is not None
    if not isinstance(value, list):
        raise _FieldProblem(f"{rule.source} is not a tabular section (got {type(value).__name__})")
    picked = [
        row.get(rule.section.column)
        for row in value
        if isinstance(row, dict) and all(str(row.get(k)) == v for k, v in rule.section.where.items())
    ]
    return [str(v).strip() for v in picked if not is_empty(v)]


def _value(rule: FieldRule, record: dict[str, Any], lookups: Lookups, tz: ZoneInfo) -> Any:
    if rule.const is not None:
        return rule.const
    if rule.format is not None:
        return _FORMATTER.format(rule.format, **record)
    if rule.when is not None:
        matched, value = first_match(rule.when, record)
        return value if matched else rule.default
    if rule.multiply is not None:
        product = _product(rule.multiply, record)
        if rule.minus is not None:
            product -= _product(rule.minus, record)
        if rule.vat_at is not None:
            rate = record.get(rule.vat_at)
            percent = Decimal(0) if is_empty(rate) else _product([rule.vat_at], record)
            product = product * percent / (100 + percent)
        if rule.divide is not None:
            divisor = _product([rule.divide], record)
            if not divisor:
                raise _FieldProblem(f"{rule.divide} = {record.get(rule.divide)!r}: cannot divide by zero")
            product = product / divisor
        if rule.rate_of is not None:
            rest = _product([rule.rate_of], record) - product
            product = product * 100 / rest if rest else Decimal(0)
        if rule.minus is not None or rule.vat_at is not None or rule.divide is not None or rule.rate_of:
            product = product.quantize(KOPECK, ROUND_HALF_UP)
        value = str(product)
        try:
            if rule.round is not None:
                value = rounded(value, rule.round, rule.rounding)
            return CONVERTERS[rule.type](value, tz)
        except ValueError as exc:
            raise _FieldProblem(str(exc)) from None
    assert rule.source is not None
    if rule.source not in record and not rule.source.startswith("UF_"):
        raise _FieldProblem(f"the record has no property '{rule.source}'")
    value = record.get(rule.source)  # Bitrix24 leaves out user fields that were never set
    if rule.section is not None:
        return _section(rule, value) or None
    if rule.link is not None and str(value).strip() == "0":
        value = None  # Bitrix24 writes "0" for an empty id (COMPANY_ID, CONTACT_ID): nothing to wait for
    if rule.link is not None and not is_empty(value):
        table = lookups.get(f"{LINKS}:{rule.link}")
        if table is None:
            return (
                rule.default
            )  # the linked flow is not run by this installation: nothing to translate through
        linked = table.get(str(value))
        if linked is None and rule.default is not None:
            return rule.default  # an optional link: the default stands in until the other flow has the record
        if linked is None:
            raise _FieldProblem(
                f"{rule.source} = {value} is not synced yet by flow '{rule.link}' "
                "(retried on every cycle until it is)",
                deferred=True,
            )
        return linked["value"]
    if rule.lookup is not None and not is_empty(value):
        table_name, column = rule.lookup.split(".", 1)
        row = lookups.get(table_name, {}).get(str(value))
        if row is None:
            raise _FieldProblem(f"{rule.source} = {value} was not found in lookup '{table_name}'")
        value = row.get(column)
    if is_empty(value):
        return None
    try:
        if rule.round is not None:
            value = rounded(value, rule.round, rule.rounding)
        value = CONVERTERS[rule.type](value, tz)
    except ValueError as exc:
        raise _FieldProblem(str(exc)) from None
    if rule.map is not None:
        key = str(value)
        if key not in rule.map:
            # Never the default: a currency XYZ silently written as RUB is worse than a failed record.
            raise _FieldProblem(
                f"value {key!r} is not in the map ({', '.join(map(str, rule.map))}); add it to the mapping"
            )
        value = rule.map[key]
    return value


def _client(spec: Mapping, rule: FieldRule, record: dict[str, Any], lookups: Lookups, tz: ZoneInfo) -> Any:
    """The deal's 1C counterparty: the one its company is linked to, else a request to the target to find or make
    it from the company (or, without one, the contact); a deal with neither fails with the reason."""
    client = client_spec(spec.target)
    assert client is not None
    try:
        value = _value(rule, record, lookups, tz)
    except _FieldProblem as exc:
        if not exc.deferred:
            raise
        value = None  # not synced by the counterparties flow (yet): the target finds or makes it
    if not is_empty(value):
        return value
    for kind, name in (("company", client.company), ("contact", client.contact)):
        ref = str(record.get(name) or "").strip()
        if ref and ref != "0":
            return {NEW_CLIENT: {kind: ref}}
    raise _FieldProblem(
        f"the deal has neither a company ({client.company}) nor a contact ({client.contact}); 1C needs a "
        "counterparty for the order: set one on the deal"
    )


def _apply(
    spec: Mapping,
    rules: dict[str, FieldRule],
    record: dict[str, Any],
    lookups: Lookups,
    tz: ZoneInfo,
    where: str,
    problems: list[str],
    waits: list[bool] | None = None,
    creating: bool = True,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    client = client_spec(spec.target)
    for target, rule in rules.items():
        if owner_side(spec, rule) != spec.source.system:
            continue  # owned by the other side: this flow never writes it
        if rule.on == "create" and not creating:
            continue  # the target exists: create-only values are neither needed nor allowed to block it
        try:
            if client is not None and not where and target == client.field:
                value = _client(spec, rule, record, lookups, tz)
            else:
                value = _value(rule, record, lookups, tz)
        except _FieldProblem as exc:
            problems.append(f"{where}{target}: {exc}")
            if waits is not None:
                waits.append(exc.deferred)
            continue
        if rule.pick is not None and value not in (None, ""):
            found = re.search(rule.pick, str(value))
            value = (found.group(1) if found.groups() else found.group(0)) if found else None
        if value is None:
            value = rule.default
        if value is None and rule.required:
            src = rule.source or rule.format or "value"
            problems.append(f"{where}{target}: required, but {src} is empty")
            if waits is not None:
                waits.append(False)
            continue
        if rule.min is not None and isinstance(value, int | float) and value < rule.min:
            problems.append(f"{where}{target}: {value} is below the allowed minimum {rule.min:g}")
            if waits is not None:
                waits.append(False)
            continue
        if isinstance(value, str) and rule.max_length is not None and len(value) > rule.max_length:
            # The crm.deal.add and crm.company.add pages type TITLE and COMMENTS as plain `string` and document
            # no length; max_length is the mapping's bound, so a cut is never silent: noted, or the record fails.
            cut = f"{len(value)} characters, more than max_length {rule.max_length}"
            if rule.on_overflow == "fail":
                problems.append(f"{where}{target}: {cut} (on_overflow: fail); shorten it in the source")
                if waits is not None:
                    waits.append(False)
                continue
            value = value[: rule.max_length - 1] + "…"
            if notes is not None:
                notes.append(f"{where}{target}: {cut}, cut to {rule.max_length}")
        if value is None and rule.source is not None:
            value = ""  # the source is empty now: clear what an earlier write put there
        if value is not None:
            out[target] = value
    return out


def label_of(spec: Mapping, record: dict[str, Any]) -> str:
    """A human name for a record in errors: its label format, falling back to its key."""
    try:
        text = _FORMATTER.format(spec.source.label, **record)
    except (_FieldProblem, ValueError, KeyError, IndexError):
        text = ""
    key = record.get(spec.source.key, "?")
    return f"{spec.source.entity} {text.strip() or key} ({key})"


def map_record(
    spec: Mapping, record: dict[str, Any], lookups: Lookups, tz: ZoneInfo, creating: bool = True
) -> Mapped:
    """Map one record; every field problem is reported, none stops the others. With `creating` false (the target
    exists already) create-only rules are skipped."""
    key = record.get(spec.source.key)
    version = record.get(spec.source.version_field) if spec.source.version_field else None
    if record.get("@unsettled_version"):
        version = None  # too fresh to trust (see the Bitrix24 deal source)
    label = label_of(spec, record)
    if not isinstance(key, str) or is_empty(key):
        return Mapped(
            key=str(key),
            version=None,
            label=label,
            error=f"{label}: the record has an empty {spec.source.key}",
        )
    problems: list[str] = []
    waits: list[bool] = []
    notes: list[str] = []
    mapped = _apply(spec, spec.fields, record, lookups, tz, "", problems, waits, creating, notes)
    fields = {k: v for k, v in mapped.items() if spec.fields[k].on == "always"}
    on_create = {k: v for k, v in mapped.items() if spec.fields[k].on == "create"}
    rows: list[dict[str, Any]] | None = None
    if spec.rows is not None and (creating or spec.rows.on == "always"):
        section = record.get(spec.rows.source)
        if not isinstance(section, list):
            problems.append(
                f"{spec.rows.source}: expected the tabular section, the record has {type(section).__name__}"
            )
        else:
            rows = [
                _apply(
                    spec,
                    spec.rows.fields,
                    row,
                    lookups,
                    tz,
                    f"{spec.rows.source}[{i + 1}].",
                    problems,
                    waits,
                    notes=notes,
                )
                for i, row in enumerate(section)
                if isinstance(row, dict)
            ]
    if problems:
        # Only when every problem is a not-yet-synced reference is the record worth retrying by itself.
        deferred = bool(waits) and all(waits) and len(waits) == len(problems)
        return Mapped(
            key=key, version=version, label=label, error=f"{label}: " + "; ".join(problems), deferred=deferred
        )
    if spec.money is not None:
        # The target needs the order's facts (reminders, overdue rules) and its payment rows (detail records);
        # they are part of the content hash, so any change in 1C reaches the deal.
        fields[FACTS] = {k: record.get(k) for k in FACT_NAMES if k in record} | {
            "Number": record.get("Number")
        }
        fields[PAYMENTS] = record.get("payments") or []
    return Mapped(
        key=key,
        version=version,
        fields=fields,
        rows=rows,
        label=label,
        on_create=on_create,
        rows_on_create=spec.rows is not None and spec.rows.on == "create",
        notes=tuple(notes),
    )


def needed_refs(spec: Mapping, records: Iterable[dict[str, Any]]) -> dict[str, set[str]]:
    """Which references each lookup table (and each linked flow, as `@links:flow`) must resolve."""
    need: dict[str, set[str]] = {name: set() for name in spec.lookups}
    rules = list(spec.fields.values()) + (list(spec.rows.fields.values()) if spec.rows else [])
    need.update({f"{LINKS}:{r.link}": set() for r in rules if r.link is not None})
    sources: list[tuple[str | None, FieldRule]] = [(None, r) for r in spec.fields.values()]
    if spec.rows is not None:
        sources += [(spec.rows.source, r) for r in spec.rows.fields.values()]
    for record in records:
        for section, rule in sources:
            if rule.source is None or (rule.lookup is None and rule.link is None):
                continue
            table = rule.lookup.split(".", 1)[0] if rule.lookup else f"{LINKS}:{rule.link}"
            rows = record.get(section, []) if section else [record]
            for row in rows if isinstance(rows, list) else []:
                value = row.get(rule.source) if isinstance(row, dict) else None
                if isinstance(value, str | int) and not is_empty(value):
                    need[table].add(str(value))
    return need
