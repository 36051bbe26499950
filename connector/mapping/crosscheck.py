"""Checks across the keys of a mapping file, made on the file as written (not on the validated model).

They run even when other keys of the same file are invalid, so `b24-1c check` lists every problem of every file in
one run instead of revealing them one fix at a time. Each problem points at the line of the key at fault.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from connector.mapping.specs import OneCPackaging
from connector.yamlio import dotted, line_of

# The facts a money flow's records carry (connector/flows/facts.py computes them; a unit test keeps both equal).
MONEY_FACTS = (
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
    "payments",
)
# An invoice record carries its basis order's facts as order_<fact>, plus these two.
INVOICE_FACTS = (*(f"order_{f}" for f in MONEY_FACTS if f != "payments"), "order_found", "due_date")
# The stages every deal pipeline starts with (crm.status.entity.items, ENTITY_ID DEAL_STAGE); pipeline n prefixes
# them with "Cn:". Stages an administrator adds get UC_ ids; others must be declared under `stages:`.
DEAL_STAGES = (
    "NEW",
    "PREPARATION",
    "PREPAYMENT_INVOICE",
    "EXECUTING",
    "FINAL_INVOICE",
    "WON",
    "LOSE",
    "APOLOGY",
)
_CUSTOM_STAGE = re.compile(r"^UC_[A-Z0-9]+$")
_PIPELINE = re.compile(r"^(C\d+:)?(.*)$")
_FACT_LIKE = re.compile(
    r"^[a-z][a-z0-9_]*$"
)  # 1C properties are Cyrillic or CamelCase, Bitrix24 ones upper case

Path = tuple[Any, ...]


def _problem(root: Any, where: str, path: Path, message: str) -> str:
    line = line_of(root, path)
    return f"{where}:{line}: {dotted(path)}: {message}" if line else f"{where}: {dotted(path)}: {message}"


def _get(node: Any, *keys: Any) -> Any:
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def _did_you_mean(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def flow_of(root: Any) -> str | None:
    """The flow a mapping file names, if it names one."""
    flow = _get(root, "flow")
    return flow if isinstance(flow, str) else None


def _rules(root: Any) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """(path, rule) of every field rule, header and rows, that is a mapping."""
    for base in (("fields",), ("rows", "fields")):
        fields = _get(root, *base)
        if isinstance(fields, Mapping):
            for name, rule in fields.items():
                if isinstance(rule, Mapping):
                    yield (*base, name), rule


def file_problems(root: Any, where: str) -> list[str]:
    """Lookups, user fields, links and condition names of one mapping file."""
    found: list[tuple[Path, str]] = []
    found += _lookup_problems(root)
    found += _user_field_problems(root)
    found += _link_problems(root)
    found += _fact_problems(root)
    found += _unit_problems(root)
    return [_problem(root, where, path, message) for path, message in found]


def _unit_problems(root: Any) -> Iterator[tuple[Path, str]]:
    """A row unit's reference (`unit_of`, `packaging`) names the product's reference and row fields the rows
    section writes: the packaging's count, quantity and prices are rewritten in those fields."""
    refs = _get(root, "target", "refs")
    rows = _get(root, "rows", "fields")
    if not isinstance(refs, Mapping):
        return
    written = [str(n) for n in rows] if isinstance(rows, Mapping) else []
    for name, ref in refs.items():
        if not isinstance(ref, Mapping) or not isinstance(ref.get("unit_of"), str):
            continue
        base: Path = ("target", "refs", name)
        if ref["unit_of"] not in refs:
            yield (
                (*base, "unit_of"),
                f"'{ref['unit_of']}' is not one of target.refs (the product's reference)",
            )
        if written and name not in written:
            yield (
                base,
                f"a row unit's reference, but rows.fields has no '{name}'{_did_you_mean(name, written)}",
            )
        pack = ref.get("packaging")
        if not isinstance(pack, Mapping) or not written:
            continue
        for key in ("count", "quantity", "prices"):
            value = pack.get(key, OneCPackaging.model_fields[key].default)
            for field in value if isinstance(value, list) else [value]:
                if isinstance(field, str) and field not in written:
                    yield (
                        (*base, "packaging", key),
                        f"'{field}' is not a field of rows.fields, so the packaging cannot rewrite it"
                        f"{_did_you_mean(field, written)}",
                    )


def _lookup_problems(root: Any) -> Iterator[tuple[Path, str]]:
    tables = _get(root, "lookups")
    tables = tables if isinstance(tables, Mapping) else {}
    for path, rule in _rules(root):
        lookup = rule.get("lookup")
        if not isinstance(lookup, str) or "." not in lookup:
            continue  # the rule's own validation reports the shape
        table, column = lookup.split(".", 1)
        if table not in tables:
            known = ", ".join(tables) or "none declared"
            yield (
                path,
                f"lookup table '{table}' is not declared in lookups ({known}){_did_you_mean(table, list(tables))}",
            )
            continue
        columns = _get(tables, table, "fields")
        if isinstance(columns, list) and column not in columns:
            listed = ", ".join(str(c) for c in columns)
            yield (
                path,
                f"lookup '{lookup}' reads {column}, which lookups.{table}.fields does not list ({listed})",
            )


def _user_field_problems(root: Any) -> Iterator[tuple[Path, str]]:
    if _get(root, "target", "system") not in (None, "bitrix24"):
        return
    declared = _get(root, "user_fields")
    declared = declared if isinstance(declared, Mapping) else {}
    fields = _get(root, "fields")
    for name in fields if isinstance(fields, Mapping) else ():
        if isinstance(name, str) and name.startswith("UF_CRM_") and name not in declared:
            yield (
                ("fields", name),
                "a user field: declare it under user_fields (type, label) so `b24-1c setup` can create it",
            )


def _link_problems(root: Any) -> Iterator[tuple[Path, str]]:
    flow = flow_of(root)
    for path, rule in _rules(root):
        if flow is not None and rule.get("link") == flow:
            yield (
                (*path, "link"),
                f"links to its own flow '{flow}': link translates a reference through another flow's records "
                "(counterparties, managers, orders); to copy the value, leave link out",
            )


def _facts(root: Any) -> tuple[str, tuple[str, ...]] | None:
    """(kind, the fact names its records carry) for flows whose records carry computed facts."""
    if isinstance(_get(root, "money"), Mapping):
        return "money", (*MONEY_FACTS, "contract_kind")  # money.contract: the source adds it
    if _get(root, "target", "entity") == "smart_invoice" and _get(root, "source", "system") in (None, "onec"):
        return "invoice", INVOICE_FACTS
    return None


def _conditions(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """(path of the field key, name) of every field a condition reads, nested any/all included."""
    if not isinstance(node, Mapping):
        return
    if isinstance(node.get("field"), str):
        yield (*path, "field"), node["field"]
    for group in ("any", "all"):
        items = node.get(group)
        for i, sub in enumerate(items if isinstance(items, list) else []):
            yield from _conditions(sub, (*path, group, i))


def _fact_problems(root: Any) -> Iterator[tuple[Path, str]]:
    """A fact name (lower case, like paid_percent) that the flow's records do not carry: a typo the offline check
    can see, since facts are computed by the connector and never read from 1C."""
    kind = _facts(root)
    if kind is None:
        return
    label, facts = kind
    names: list[tuple[Path, str]] = []
    for path, rule in _rules(root):
        if isinstance(rule.get("source"), str):
            names.append(((*path, "source"), rule["source"]))
        branches = rule.get("when")
        for i, branch in enumerate(branches if isinstance(branches, list) else []):
            names.extend(_conditions(_get(branch, "if"), (*path, "when", i, "if")))
    names.extend(
        _conditions(_get(root, "money", "reminder", "close_when"), ("money", "reminder", "close_when"))
    )
    for path, name in names:
        if _FACT_LIKE.match(name) and name not in facts:
            yield (
                path,
                f"'{name}' is not a fact of {label} records{_did_you_mean(name, facts)} (facts: {', '.join(facts)})",
            )


def declared_stages(root: Any) -> set[str]:
    """Stage ids a mapping declares under `stages:` (`b24-1c setup` creates them)."""
    stages = _get(root, "stages")
    return {str(s) for s in stages} if isinstance(stages, Mapping) else set()


def stage_problems(root: Any, where: str, declared: set[str]) -> list[str]:
    """Deal stage ids in a Bitrix24 source filter or in STAGE_ID rules that no pipeline has unless declared."""
    found: list[tuple[Path, str]] = []
    if _get(root, "source", "system") == "bitrix24":
        wanted = _get(root, "source", "filter", "STAGE_ID")
        items = wanted if isinstance(wanted, list) else [wanted] if isinstance(wanted, str) else []
        for i, stage in enumerate(items):
            path: Path = ("source", "filter", "STAGE_ID") + ((i,) if isinstance(wanted, list) else ())
            found.append((path, str(stage)))
    deal_target = _get(root, "target", "system") in (None, "bitrix24") and _get(root, "target", "entity") in (
        None,
        "deal",
    )
    branches = _get(root, "fields", "STAGE_ID", "when") if deal_target else None
    for i, branch in enumerate(branches if isinstance(branches, list) else []):
        then = _get(branch, "then")
        stage = _get(then, "stage") if isinstance(then, Mapping) else then
        if isinstance(stage, str):
            found.append((("fields", "STAGE_ID", "when", i, "then"), stage))
    out = []
    for path, stage in found:
        if stage in declared:
            continue
        prefix, bare = _PIPELINE.match(stage).groups()  # type: ignore[union-attr]  # the pattern matches anything
        if bare in DEAL_STAGES or _CUSTOM_STAGE.match(bare):
            continue
        choices = [f"{prefix or ''}{s}" for s in DEAL_STAGES] + sorted(declared)
        out.append(
            _problem(
                root,
                where,
                path,
                f"unknown deal stage '{stage}'{_did_you_mean(stage, choices)} (a pipeline's own stages are "
                f"{', '.join(DEAL_STAGES)}, prefixed Cn: in pipeline n, and UC_… ids added by hand; declare any "
                "other under stages:)",
            )
        )
    return out
