"""`b24-1c explain deal ID FIELD`: what the connector wrote to one field of one deal, when, from which 1C records and
documents, and through which mapping rule. Pure: it reads history entries (the ledger's append-only `history`)
and the mappings, and returns plain values."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from connector.mapping.schema import Mapping


@dataclass
class Write:
    """One write of the field."""

    at: str
    flow: str
    action: str
    value: Any
    previous: Any
    source_key: str
    source_version: str | None
    mapping: str
    rule: str
    fact: str | None = None
    documents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rule_text(spec: Mapping | None, name: str) -> str:
    """The mapping rule that produces `name`, as the mapping file says now (compact YAML-like)."""
    if spec is None:
        return "(the flow's mapping is not loaded)"
    rule = spec.fields.get(name)
    if rule is None and spec.rows is not None:
        rule = spec.rows.fields.get(name)
    if rule is None:
        return f"not among the fields of the {spec.flow} mapping now (written by an older mapping?)"
    dumped = rule.model_dump(exclude_defaults=True, exclude_none=True)
    return f"fields.{name}: " + json.dumps(dumped, ensure_ascii=False, default=str)


def _documents(fields: dict[str, Any]) -> list[str]:
    """The 1C documents a money write was computed from (receipts and refunds), oldest first."""
    payments = fields.get("@payments")
    if not isinstance(payments, list):
        return []
    shown = []
    for p in sorted(payments, key=lambda p: str(p.get("date", ""))):
        kind = "refund" if p.get("refund") else f"{p.get('kind', 'payment')} receipt"
        shown.append(
            f"{kind} {p.get('number', '?')} of {str(p.get('date', '?'))[:10]}: {p.get('amount')} "
            f"(1C {p.get('document', '?')})"
        )
    return shown


def explain(entries: list[dict[str, Any]], mappings: dict[str, Mapping], name: str) -> list[Write]:
    """The writes of field `name` among `entries` (newest first), each with the value it replaced."""
    touching = [e for e in sorted(entries, key=lambda e: e["id"]) if name in (e.get("fields") or {})]
    writes: list[Write] = []
    previous: Any = None
    for e in touching:
        spec = mappings.get(e["flow"])
        fields = e["fields"]
        rule = spec.fields.get(name) if spec is not None else None
        source = rule.source if rule is not None else None
        facts = fields.get("@facts") if isinstance(fields.get("@facts"), dict) else None
        fact = f"{source} = {facts[source]}" if facts is not None and source in facts else None
        writes.append(
            Write(
                at=e["at"],
                flow=e["flow"],
                action=e["action"],
                value=fields[name],
                previous=previous,
                source_key=e["source_key"],
                source_version=e.get("source_version"),
                mapping=e.get("mapping") or "?",
                rule=rule_text(spec, name),
                fact=fact,
                documents=_documents(fields),
            )
        )
        previous = fields[name]
    return list(reversed(writes))


def lines(deal: str, name: str, writes: list[Write]) -> list[str]:
    """Readable lines, newest write first."""
    if not writes:
        return [f"deal {deal}: the connector never wrote {name} (b24-1c history {deal} lists what it wrote)"]
    out = [f"deal {deal}, field {name}: written {len(writes)} time(s), newest first"]
    for w in writes:
        was = "" if w.previous is None else f" (was {w.previous!r})"
        out.append(f"{w.at}  {w.value!r}{was}  by flow {w.flow} ({w.action})")
        out.append(
            f"    from 1C record {w.source_key}"
            + (f", version {w.source_version}" if w.source_version else "")
        )
        if w.fact:
            out.append(f"    computed fact {w.fact}")
        for doc in w.documents:
            out.append(f"    document {doc}")
        out.append(f"    mapping {w.mapping}: {w.rule}")
    return out
