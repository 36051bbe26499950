"""Batch bookkeeping, pure: which commands the portal refused (and which depend on them), and filling
`$result[...]` references from results already held before sending the rest again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connector.bitrix24.encoding import normalize_php_map
from connector.bitrix24.replies import REFUSED_CODES, BatchReply

Commands = Mapping[str, tuple[str, Mapping[str, Any]]]


def parse_batch(body: Mapping[str, Any]) -> BatchReply:
    """The sections of a `batch` reply, PHP-JSON maps normalised, errors always as dicts."""
    sections = body.get("result") or {}
    if not isinstance(sections, dict):
        sections = {}
    errors = {
        k: v if isinstance(v, dict) else {"error": v}
        for k, v in normalize_php_map(sections.get("result_error")).items()
    }
    return BatchReply(
        result=normalize_php_map(sections.get("result")),
        errors=errors,
        total={k: int(v) for k, v in normalize_php_map(sections.get("result_total")).items()},
        next={k: int(v) for k, v in normalize_php_map(sections.get("result_next")).items()},
        time=normalize_php_map(sections.get("result_time")),
    )


def refused(todo: Commands, errors: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Commands the portal did not run for its limits, plus every command whose `$result[k]` points at one of
    them (it failed only for want of that value): all of these may be sent again."""
    out = {k for k, e in errors.items() if str(e.get("error", "")).upper() in REFUSED_CODES}
    grew = True
    while grew:
        dependants = {
            k
            for k, (_, p) in todo.items()
            if k not in out and any(f"$result[{r}]" in json.dumps(p, ensure_ascii=False) for r in out)
        }
        grew = bool(dependants)
        out |= dependants
    return out


def merge(todo: Commands, reply: BatchReply, into: BatchReply, resend: set[str]) -> None:
    """Add one attempt's results to `into`; errors of the commands to `resend` are left out."""
    for key in todo:
        if key in reply.result:
            into.result[key] = reply.result[key]
        for section, target in ((reply.total, into.total), (reply.next, into.next), (reply.time, into.time)):
            if key in section:
                target[key] = section[key]
    for key, error in reply.errors.items():
        if key not in resend:
            into.errors[key] = error


def resolve_refs(value: Any, results: Mapping[str, Any]) -> Any:
    """Fill `$result[key][path]` references from results we already hold (whole-value references only)."""
    if isinstance(value, str) and value.startswith("$result["):
        parts = [p for p in value[len("$result") :].replace("]", "").split("[") if p]
        if parts and parts[0] in results:
            node: Any = results[parts[0]]
            for part in parts[1:]:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return value
            return node
        return value
    if isinstance(value, Mapping):
        return {k: resolve_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_refs(v, results) for v in value]
    return value
