"""GET semantics: collections with $filter/$orderby/$top/$skip/$inlinecount/allowedOnly, tabular-section sets,
register record sets and virtual tables (Balance, Turnovers, BalanceAndTurnovers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from b24_1c_sandbox.onec import registers
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.indexes import DATE_ORDER
from b24_1c_sandbox.onec.infobase import Infobase
from b24_1c_sandbox.onec.query import (
    Term,
    compile_filter,
    compile_parsed,
    index_terms,
    parse_orderby,
    sort_records,
)
from b24_1c_sandbox.onec.shaping import View, filter_properties, filter_types, resolver, shape

_PARAM_NAMES = ("Period", "StartPeriod", "EndPeriod", "Condition", "Dimensions", "AccountCondition")
_PARAM_SPLIT = re.compile(r",\s*(?=(?:" + "|".join(_PARAM_NAMES) + r")\s*=)")


@dataclass
class Paging:
    """Paging knobs: 1C's $inlinecount quirk, no nextLink unless asked, an optional page cap."""

    inlinecount_ignores_paging: bool = True
    next_link: bool = False
    max_page_size: int | None = None


@dataclass
class Result:
    """What a GET produced, before it is written as JSON or atom."""

    fragment: str  # what follows `$metadata#`
    rows: list[dict[str, Any]]
    entity: str | None = None  # the entity set for typed atom output
    count: int | None = None
    next_skip: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def int_option(options: dict[str, str], name: str) -> int | None:
    if name not in options:
        return None
    try:
        value = int(options[name])
    except ValueError:
        raise ODataError(400, "14", f"Ошибка разбора параметра запроса ${name}: '{options[name]}'") from None
    if value < 0:
        raise ODataError(400, "14", f"Недопустимое значение параметра ${name}: {value}")
    return value


def _filtered(
    rows: list[dict[str, Any]],
    text: str | None,
    props: set[str] | None,
    resolve: Callable[..., Any] | None,
    types: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    if not text:
        return rows
    predicate = compile_filter(text, properties=props, types=types)
    return [r for r in rows if predicate(r, resolve)]


def _page(
    rows: list[dict[str, Any]], options: dict[str, str], paging: Paging, resolve: Callable[..., Any] | None
) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """Order, count and cut a filtered list; returns (rows, inline count, skip of the next page)."""
    if options.get("orderby"):
        rows = sort_records(rows, parse_orderby(options["orderby"]), resolve)
    count = None
    skip, top = int_option(options, "skip") or 0, int_option(options, "top")
    inline = options.get("inlinecount", "none")
    if inline not in ("none", "allpages"):
        raise ODataError(400, "14", f"Неверное значение параметра $inlinecount: {inline}")
    if inline == "allpages":
        count = len(rows)
        if paging.inlinecount_ignores_paging:  # DOC §17.4.6.2: $inlinecount makes 1C ignore $top and $skip
            skip, top = 0, None
    rows = rows[skip:]
    if top is not None:
        rows = rows[:top]
    next_skip = None
    if paging.max_page_size is not None and len(rows) > paging.max_page_size:
        rows = rows[: paging.max_page_size]
        next_skip = skip + len(rows) if paging.next_link else None
    return rows, count, next_skip


def _compiled(
    ib: Infobase, entity: str, options: dict[str, str], resolve: Callable[..., Any]
) -> tuple[Callable[[dict[str, Any]], bool] | None, list[Term]]:
    """The $filter as a predicate on a record (None: no filter) and its conjuncts an index may serve."""
    text = options.get("filter")
    if not text:
        return None, []
    predicate, node = compile_parsed(
        text, properties=filter_properties(ib, entity), types=filter_types(ib.types[entity])
    )
    return (lambda r: predicate(r, resolve)), index_terms(node)


def _date_ordered(
    ib: Infobase,
    entity: str,
    options: dict[str, str],
    paging: Paging,
    keep: Callable[[dict[str, Any]], bool] | None,
    terms: list[Term],
) -> tuple[list[dict[str, Any]], int | None] | None:
    """A page from the document date index for `[$filter …]&$orderby=Date,Ref_Key[&$top][&$skip]`; None when the
    query has another order, asks for $inlinecount, or the index cannot serve it (the caller scans)."""
    if not options.get("orderby") or options.get("inlinecount", "none") != "none":
        return None
    if ib.types[entity].kind != "Document" or parse_orderby(options["orderby"]) != DATE_ORDER:
        return None
    skip, top = int_option(options, "skip") or 0, int_option(options, "top")
    rows = ib.indexes.date_window(entity, terms, keep, skip, top)
    if rows is None:
        return None
    next_skip = None
    if paging.max_page_size is not None and len(rows) > paging.max_page_size:
        rows = rows[: paging.max_page_size]
        next_skip = skip + len(rows) if paging.next_link else None
    return rows, next_skip


def collection(
    ib: Infobase, entity: str, options: dict[str, str], view: View, paging: Paging, rls: str | None
) -> Result:
    """GET <set>: filtered, row-level checked, ordered, paged, shaped; from an index where a real base has one
    (indexes.py), with the rows and order a scan gives."""
    resolve = resolver(ib, entity)
    keep, terms = _compiled(ib, entity, options, resolve)
    candidates = ib.indexes.candidates(entity, terms)
    if candidates is None and not rls:
        window = _date_ordered(ib, entity, options, paging, keep, terms)
        if window is not None:
            page, next_skip = window
            return Result(entity, [shape(ib, entity, r, view) for r in page], entity, None, next_skip)
    if keep is not None:
        rows = [r for r in (ib.scan(entity) if candidates is None else candidates) if keep(r)]
    else:
        rows = ib.all(entity) if candidates is None else candidates
    if rls:
        visible = compile_filter(rls)
        allowed = [r for r in rows if visible(r, resolve)]
        if len(allowed) != len(rows) and options.get("allowedonly", "").lower() != "true":
            raise ODataError(
                401, "20", f"Нарушение прав доступа: недостаточно прав на чтение данных {entity}"
            )
        rows = allowed
    page, count, next_skip = _page(rows, options, paging, resolve)
    return Result(entity, [shape(ib, entity, r, view) for r in page], entity, count, next_skip)


def count(ib: Infobase, entity: str, options: dict[str, str], rls: str | None) -> int:
    """GET <set>/$count honouring $filter (and allowedOnly)."""
    resolve = resolver(ib, entity)
    keep, terms = _compiled(ib, entity, options, resolve)
    candidates = ib.indexes.candidates(entity, terms)
    if candidates is None and any(t.name == "Date" for t in terms):  # a range of the document date index
        candidates = ib.indexes.date_window(entity, terms, None, 0, None)
    scanned = ib.scan(entity) if candidates is None else candidates
    if keep is not None:
        scanned = (r for r in scanned if keep(r))
    if rls:
        visible = compile_filter(rls)
        scanned = (r for r in scanned if visible(r, resolve))
    return sum(1 for _ in scanned)


def table_rows(ib: Infobase, owner: str, section: str) -> list[dict[str, Any]]:
    """All rows of one tabular section of all objects (`Document_X_Товары`)."""
    return [row for rec in ib.scan(owner) for row in rec.get(section, [])]


def _rows_of(ib: Infobase, owner: str, section: str, objects: list[Any]) -> list[dict[str, Any]]:
    """The section's rows of the given objects (records or refs), in that order."""
    out: list[dict[str, Any]] = []
    for obj in objects:
        rec = ib.get(owner, obj) if isinstance(obj, str) else obj
        out.extend(rec.get(section, []) if rec else [])
    return out


def table_set(
    ib: Infobase,
    owner: str,
    section: str,
    options: dict[str, str],
    paging: Paging,
    key: tuple[str, int] | None = None,
) -> Result:
    """GET Document_X_ТЧ or one row Document_X_ТЧ(Ref_Key=guid'…',LineNumber=n)."""
    etype = ib.types[owner]
    tab = etype.table(section)
    assert tab is not None
    name = f"{owner}_{section}"
    if key is not None:  # the section's table is clustered by its owner's reference
        found = [r for r in _rows_of(ib, owner, section, [key[0]]) if r["LineNumber"] == str(key[1])]
        if not found:
            raise ODataError(404, "9", "Экземпляр сущности не найден")
        return Result(f"{name}/@Element", found, None)
    types = {"Ref_Key": "Edm.Guid", **dict(tab.properties)}
    rows: list[dict[str, Any]] = []
    if options.get("filter"):
        predicate, node = compile_parsed(options["filter"], properties=tab.property_names(), types=types)
        terms = [t for t in index_terms(node) if t.name == "Ref_Key"]
        owners = ib.indexes.candidates(owner, terms)
        every = (
            (row for rec in ib.scan(owner) for row in rec.get(section, []))
            if owners is None
            else _rows_of(ib, owner, section, owners)
        )
        rows = [r for r in every if predicate(r, None)]
    else:
        rows = table_rows(ib, owner, section)
    page, cnt, next_skip = _page(rows, options, paging, None)
    select = options.get("select")
    if select and select not in ("*", "**"):
        cols = [c.strip() for c in select.split(",")]
        page = [{c: r.get(c) for c in cols if c in r} for r in page]
    return Result(name, page, None, cnt, next_skip)


def record_sets(ib: Infobase, register: str, flat: bool, options: dict[str, str], paging: Paging) -> Result:
    """`AccumulationRegister_X` (record sets by recorder) or `AccumulationRegister_X_RecordType` (records)."""
    reg = ib.config.registers[register]
    if flat:
        record = dict(reg.record_properties())
        if options.get("filter"):  # by Recorder: the records' clustered index; by a dimension: its index
            predicate, node = compile_parsed(options["filter"], properties=set(record), types=record)
            found = ib.indexes.register_records(register, index_terms(node))
            rows = [r for r in (ib.scan_records(register) if found is None else found) if predicate(r, None)]
        else:
            rows = ib.records(register)
        page, cnt, next_skip = _page(rows, options, paging, None)
        return Result(f"{register}_RecordType", page, None, cnt, next_skip)
    sets = [
        {
            "Recorder": recs[0]["Recorder"],
            "Recorder_Type": recs[0]["Recorder_Type"],
            "RecordSet": [
                {k: v for k, v in r.items() if k not in ("Recorder", "Recorder_Type")} for r in recs
            ],
        }
        for recs in ib.movements[register].values()
        if recs
    ]
    page, cnt, next_skip = _page(_filtered(sets, options.get("filter"), None, None), options, paging, None)
    return Result(register, page, None, cnt, next_skip)


def _params(text: str, options: dict[str, str]) -> dict[str, str]:
    """Virtual-table parameters, from `(Period=datetime'…',Condition='…')` or from the query string."""
    params: dict[str, str] = {}
    for part in _PARAM_SPLIT.split(text.strip()) if text.strip() else []:
        name, sep, value = part.partition("=")
        if not sep or name.strip() not in _PARAM_NAMES:
            raise ODataError(400, "14", f"Ошибка разбора параметров виртуальной таблицы: {part}")
        params[name.strip()] = value.strip()
    for name in _PARAM_NAMES:
        if name.lower() in options and name not in params:
            params[name] = options[name.lower()]
    out = {}
    for name, value in params.items():
        if value.startswith("datetime'") and value.endswith("'"):
            value = value[9:-1]
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
            # DOC writes nested quotes undoubled (`guid'…'`); the OData-standard doubled form works too.
            value = value.replace("''", "'")
        out[name] = value
    return out


def virtual(
    ib: Infobase, register: str, function: str, args: str, options: dict[str, str], paging: Paging
) -> Result:
    """`/Balance(…)`, `/Turnovers(…)`, `/BalanceAndTurnovers(…)` of an accumulation register."""
    p = _params(args, options)
    dims = [d.strip() for d in p["Dimensions"].split(",")] if p.get("Dimensions") else None
    if function == "Balance":
        rows = registers.balance(ib, register, p.get("Period"), p.get("Condition"), dims)
    elif function in ("Turnovers", "BalanceAndTurnovers"):
        rows = registers.turnovers(
            ib,
            register,
            p.get("StartPeriod"),
            p.get("EndPeriod"),
            p.get("Condition"),
            dims,
            with_balance=function == "BalanceAndTurnovers",
        )
    else:
        raise ODataError(400, "11", f"Метод не найден: {function}")
    rows = _filtered(rows, options.get("filter"), None, None)
    page, cnt, next_skip = _page(rows, options, paging, None)
    suffix = "Turnover" if function == "Turnovers" else function
    return Result(f"{register}_{suffix}", page, None, cnt, next_skip)
