"""Pure planning: mapped records + ledger links → create / update / skip, by content hash."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connector.ledger import Link
from connector.records import Action, Mapped, Outcome


def plan(records: Iterable[Mapped], links: Mapping[str, Link]) -> tuple[list[Action], list[Outcome]]:
    """Actions for mappable records, and failed outcomes for the ones that could not be mapped."""
    actions: list[Action] = []
    failed: list[Outcome] = []
    seen: set[str] = set()
    for record in records:
        if record.key in seen:  # the same record twice in one page (overlapping re-read): keep the first
            continue
        seen.add(record.key)
        link = links.get(record.key)
        if record.error is not None:
            failed.append(
                Outcome(
                    record.key,
                    "update" if link else "create",
                    "failed",
                    target_id=link.target_id if link else None,
                    version=record.version,
                    error=record.error,
                    label=record.label,
                    deferred=record.deferred,
                )
            )
        elif link is None:
            actions.append(Action("create", record))
        elif link.content_hash == record.hash:
            actions.append(Action("skip", record, link.target_id, "unchanged"))
        else:
            actions.append(Action("update", record, link.target_id))
    return actions, failed
