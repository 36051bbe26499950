"""A page of source records up to its actions, reading only: links, identities on the objects, lookups, mapping,
plan, the lookup before create, and what the target already holds; and the history entries of a written page.

`FlowRunner` (engine/runner.py) runs the pages; this part never writes, so a backfill can plan the next page while
the one before is written (engine/readahead.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from connector.crashpoints import crash_point
from connector.engine.identity import already_there, counterpart, identities
from connector.engine.planner import plan
from connector.engine.protocols import Source, Target
from connector.engine.steps import Planned
from connector.ledger import HistoryEntry, Ledger, Link
from connector.logs import get_logger
from connector.mapping.engine import LINKS, Lookups, map_record, needed_refs
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome

log = get_logger(__name__)


@dataclass
class PagePlan:
    """A page planned before anything is written: its keys, the ledger's links of them then, and its actions."""

    keys: list[str]
    ledger: dict[str, Link]
    actions: list[Action]
    unchanged: list[Outcome]
    failed: list[Outcome]
    # A target that prepares ahead (`prepare_ahead`): its first chunk's non-skip actions and what `prepare` read for
    # them, while the page before was written (its reads ride in that page's last write batch: bitrix24/rides.py).
    ahead: tuple[list[Action], Any] | None = None


class PagePlanning:
    """The reading half of a flow's run (the runner holds these attributes)."""

    spec: Mapping
    flow: str
    source: Source
    target: Target
    ledger: Ledger
    tz: ZoneInfo
    stop: threading.Event
    mappings: dict[str, Mapping]
    active: set[str] | None
    mapping_id: str
    today: Callable[[], date]

    def _links(self, need: dict[str, set[str]]) -> Lookups:
        """References into other flows, translated through their ledger links (either direction)."""
        out: Lookups = {}
        for name, refs in need.items():
            if not name.startswith(LINKS):
                continue
            other = name.split(":", 1)[1]
            if self.active is not None and other not in self.active:
                continue  # a flow this installation does not run: links to it stay empty
            if not refs:
                out[name] = {}
                continue
            linked = self.mappings.get(other)
            if linked is not None and linked.source.system == self.spec.source.system:
                pairs = {k: link.target_id for k, link in self.ledger.links(other, refs).items()}
            else:
                pairs = self.ledger.sources_for_targets(other, refs)
            out[name] = {k: {"value": v} for k, v in pairs.items()}
        return out

    def _plan_page(
        self,
        records: list[dict[str, Any]],
        known: dict[str, str] | None = None,
        *,
        prepare: bool = False,
        prefound: tuple[set[str], dict[str, str]] | None = None,
    ) -> PagePlan:
        """A page up to its actions, reading only: links, identities, lookups, mapping, plan, the lookup before
        create (unless `prefound` holds it: (keys asked, found)), and with `prepare` the target's own reads of its
        first chunk when it says `prepare_ahead`. A backfill runs it one page ahead, while the page before is
        written: nothing here writes, and the records of a page are not those of the page before (`_process` plans
        again if that changed)."""
        keys = [str(r.get(self.spec.source.key)) for r in records]
        links = self.ledger.links(self.flow, keys)
        ledger = dict(links)
        for key, target in (known or {}).items():
            links.setdefault(key, Link(key, target, None, None))
        stamped, foreign = self._identities(records)
        for key, target in stamped.items():  # the keys on the object win over the ledger's memory
            link = links.get(key)
            if link is None or link.target_id != target:
                links[key] = Link(key, target, None, None)
        if foreign:
            records = [r for r in records if str(r.get(self.spec.source.key)) not in foreign]
        need = needed_refs(self.spec, records)
        lookups = {**self.source.lookups(need), **self._links(need)}
        mapped = [
            map_record(self.spec, r, lookups, self.tz, creating=str(r.get(self.spec.source.key)) not in links)
            for r in records
        ]
        actions, failed = plan(mapped, links)
        creates = [a.record.key for a in actions if a.kind == "create"]
        # A target that looks its creates up by key in its own first read round says so (`finds_in_prepare`): asking
        # here would cost a request of its own.
        finds = getattr(self.target, "finds_in_prepare", False)
        if creates and self.spec.target.lookup_before_create and known is None and not finds:
            if prefound is not None and set(creates) <= prefound[0]:  # looked up by the head start already
                found = {k: prefound[1][k] for k in creates if k in prefound[1]}
            else:
                found = self.target.find(creates)
            crash_point("lookup")
            if found:
                log.info(
                    "objects already on the target, linked instead of created",
                    flow=self.flow,
                    count=len(found),
                )
                actions = [
                    Action("update", a.record, found[a.record.key])
                    if a.kind == "create" and a.record.key in found
                    else a
                    for a in actions
                ]
        actions, unchanged = self._already_there(actions, links)
        ahead = self._prepare_ahead(actions) if prepare else None
        return PagePlan(keys, ledger, actions, unchanged, failed, ahead)

    def _prepare_ahead(self, actions: list[Action]) -> tuple[list[Action], Any] | None:
        """The target's reads for the page's first chunk, done now (a target says `prepare_ahead` when what it
        reads for a page's records does not depend on the writes of the page before: other records, other objects).
        """
        target = self.target
        if not getattr(target, "prepare_ahead", False) or not isinstance(target, Planned):
            return None
        live = [a for a in actions if a.kind != "skip"]
        if not live:
            return None
        part = live[: int(getattr(target, "chunk", 0) or 0) or len(live)]
        return part, target.prepare(part, self.today())

    def _history(self, actions: list[Action], outcomes: list[Outcome]) -> list[HistoryEntry]:
        """The append-only history of this page: every create or update that reached the target."""
        by_key = {a.record.key: a for a in actions}
        out = []
        for o in outcomes:
            action = by_key.get(o.key)
            if action is None or o.status != "applied" or o.kind not in ("create", "update"):
                continue
            rec = action.record
            fields = rec.create_fields() if o.kind == "create" else dict(rec.fields)
            if rec.rows is not None and (o.kind == "create" or not rec.rows_on_create):
                fields["@rows"] = rec.rows
            out.append(HistoryEntry(o.key, rec.version, o.kind, o.target_id, fields, self.mapping_id))
        return out

    # -- identity on the objects (docs/identity.md) and settling lost replies --------------------------------------

    def _counterpart(self) -> Mapping | None:
        return counterpart(self.spec, self.mappings, self.active)

    def _identities(self, records: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        return identities(self.spec, self._counterpart(), self.target, records)

    def _already_there(
        self, actions: list[Action], links: dict[str, Link]
    ) -> tuple[list[Action], list[Outcome]]:
        return already_there(self.target, actions, links)
