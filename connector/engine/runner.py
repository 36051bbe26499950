"""One run of one flow: poll → map → plan → apply → record, page by page, exactly once.

Every create is announced in the ledger (an intent) before it is sent. When a reply is lost, or after a crash,
the objects are looked up by their external key and linked or created; never blindly created again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.clock import Clock
from connector.crashpoints import crash_point
from connector.engine.planner import plan
from connector.engine.protocols import Source, Target
from connector.errors import OutcomeUnknown
from connector.ledger import HistoryEntry, Ledger, Link
from connector.logs import get_logger
from connector.mapping.engine import LINKS, Lookups, map_record, needed_refs
from connector.mapping.schema import Mapping
from connector.records import Action, LinkChange, Outcome, content_hash

log = get_logger(__name__)

Progress = Callable[[int], None]
MAX_RECOVERY_ROUNDS = 5
DEFAULT_FULL_SCAN = "1h"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class RunReport:
    """What one run did."""

    flow: str
    kind: str
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    recovered: int = 0
    deleted: int = 0
    pages: int = 0
    stopped: bool = False
    dry_run: bool = False
    seconds: float = 0.0
    planned: list[Action] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, outcomes: Iterable[Outcome]) -> None:
        for o in outcomes:
            if o.status == "failed":
                self.failed += 1
                if len(self.errors) < 20 and o.error:
                    self.errors.append(o.error)
            elif o.status == "skipped" or o.kind == "skip":
                self.skipped += 1
            elif o.kind == "create":
                self.created += 1
            else:
                self.updated += 1

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("planned", "errors")}


def _seconds(text: str) -> int:
    text = text.strip()
    return int(text[:-1].strip()) * _UNITS[text[-1]]


class FlowRunner:
    """Runs one mapping's flow from its source to its target, recording everything in the ledger."""

    def __init__(
        self,
        spec: Mapping,
        source: Source,
        target: Target,
        ledger: Ledger,
        clock: Clock,
        tz: ZoneInfo,
        stop: threading.Event | None = None,
        mappings: dict[str, Mapping] | None = None,
        active: list[str] | None = None,
    ) -> None:
        self.spec = spec
        self.flow = spec.flow
        self.source = source
        self.target = target
        self.ledger = ledger
        self.clock = clock
        self.tz = tz
        self.stop = stop or threading.Event()
        self.mappings = mappings or {spec.flow: spec}
        self.active = set(active) if active is not None else None  # flows this installation runs
        # Which mapping wrote a value: the file and a fingerprint of its content at the time (for `history`).
        self.mapping_id = f"mappings/{spec.flow}.yaml@{content_hash(spec.model_dump(mode='json'))[:12]}"

    @property
    def reader(self) -> Source:
        return self.source

    # -- entry points -------------------------------------------------------------------------------------------

    def backfill(
        self,
        since: datetime,
        until: datetime | None,
        *,
        dry_run: bool = False,
        restart: bool = False,
        progress: Progress | None = None,
    ) -> RunReport:
        """Every matching record dated in [since, until), resumable from the ledger's cursor."""
        report = RunReport(self.flow, "backfill", dry_run=dry_run)
        started = time.monotonic()
        cursor_name = f"{self.flow}:backfill"
        saved = None if restart else self.ledger.cursor(cursor_name)
        # The mapping is part of the window: a changed mapping reaches existing records on the next backfill
        # without --restart (each record's content hash covers what the mapping writes, so unchanged ones skip).
        window = {
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
            "mapping": content_hash(self.spec.model_dump(mode="json")),
        }
        same_window = isinstance(saved, dict) and saved.get("window") == window
        cursor = saved.get("page") if same_window and isinstance(saved, dict) else None
        if saved and not same_window:
            log.info("backfill window changed; starting from its beginning", flow=self.flow, **window)
        run_id = None if dry_run else self.ledger.start_run(self.flow, "backfill")
        status = "failed"
        try:
            if not dry_run:
                self.recover(run_id, report)
            if same_window and isinstance(saved, dict) and saved.get("done"):
                log.info("backfill already complete for this window; nothing to read", flow=self.flow)
                status = "ok"
                return report
            if cursor:
                log.info("resuming backfill", flow=self.flow, **{k: str(v) for k, v in cursor.items()})
            for page in self.source.pages(since.astimezone(self.tz), until, cursor):
                self._process(
                    page.records,
                    report,
                    run_id,
                    dry_run,
                    cursor=(cursor_name, {"window": window, "page": page.cursor, "done": False}),
                    state=page.state,
                )
                if progress:
                    progress(len(page.records))
                if self.stop.is_set():
                    report.stopped = True
                    log.info("stopping after a committed page", flow=self.flow)
                    break
            else:
                if not dry_run:
                    last = self.ledger.cursor(cursor_name) or {"window": window, "page": None}
                    self.ledger.set_cursor(cursor_name, {**last, "window": window, "done": True})
            status = "stopped" if report.stopped else "ok"
            return report
        finally:
            report.seconds = round(time.monotonic() - started, 3)
            if run_id is not None:
                self.ledger.finish_run(run_id, status, report.as_dict())

    def incremental(
        self, lookback_days: int, *, dry_run: bool = False, full_scan: bool | None = None
    ) -> RunReport:
        """One cycle: retried dead letters first, then records whose version changed (recent ones, or all of them
        on a full scan, which also notices records that disappeared)."""
        report = RunReport(self.flow, "sync", dry_run=dry_run)
        started = time.monotonic()
        run_id = None if dry_run else self.ledger.start_run(self.flow, "sync")
        status = "failed"
        try:
            if not dry_run:
                self.recover(run_id, report)
            requeued = self.ledger.requeued(self.flow)
            if requeued:
                self._process_keys(requeued, report, run_id, dry_run, requeued=True)
            full = self._full_scan_due() if full_scan is None else full_scan
            if self.spec.source.date_field is None:
                full = True  # catalogs have no date to window on: compare every version
            if self.spec.source.changes.exchange_plan:
                full = False  # 1C tells us what changed (deletions too); nothing to scan
            days = self.spec.source.changes.lookback_days or lookback_days
            since = None if full else self.clock.now() - timedelta(days=days)
            seen: set[str] | None = set() if full else None
            for pairs in self.source.versions(since):
                remember = tuple(getattr(pairs, "state", ()))  # for the source, recorded with these records
                keys = [k for k, _ in pairs]
                if seen is not None:
                    seen.update(keys)
                known = self.ledger.links(self.flow, keys)
                failed_at = self.ledger.failed_versions(self.flow, [k for k in keys if k not in known])
                changed = [
                    k
                    for k, v in pairs
                    if v is None
                    or (k in known and known[k].source_version != v)
                    or (k not in known and (k not in failed_at or failed_at[k] != v))
                ]
                if changed:
                    self._process_keys(changed, report, run_id, dry_run, state=remember)
                elif remember and not dry_run:
                    self.ledger.commit(self.flow, run_id, [], links=remember)
                if self.stop.is_set():
                    report.stopped = True
                    break
            if seen is not None and not report.stopped and not dry_run:
                self._handle_deleted(seen, report)
            gone = list(getattr(self.source, "deleted", []) or [])
            if gone and not dry_run:
                report.deleted += len(gone)
                if self.spec.source.changes.on_delete == "forget":
                    self.ledger.commit(
                        self.flow, None, [], links=[LinkChange(self.flow, k, None) for k in gone]
                    )
            if not dry_run and not report.stopped:
                state = self.ledger.cursor(f"{self.flow}:sync") or {}
                state["last_cycle_at"] = self.clock.now().isoformat()
                if full:
                    state["last_full_scan_at"] = self.clock.now().isoformat()
                self.ledger.set_cursor(f"{self.flow}:sync", state)
            status = "stopped" if report.stopped else "ok"
            return report
        finally:
            report.seconds = round(time.monotonic() - started, 3)
            if run_id is not None:
                self.ledger.finish_run(run_id, status, report.as_dict())

    def _full_scan_due(self) -> bool:
        every = self.spec.source.changes.full_scan_every
        if not every and self.spec.source.system == "onec":
            every = DEFAULT_FULL_SCAN  # 1C has no change feed: edits of old documents arrive only this way
        if not every:
            return False
        state = self.ledger.cursor(f"{self.flow}:sync") or {}
        last = state.get("last_full_scan_at")
        if not last:
            return True
        return (self.clock.now() - datetime.fromisoformat(last)).total_seconds() >= _seconds(every)

    def _handle_deleted(self, seen: set[str], report: RunReport) -> None:
        gone = [k for k in self.ledger.keys(self.flow) if k not in seen]
        if not gone:
            return
        report.deleted += len(gone)
        log.info(
            "source records gone (deleted, unposted or filtered out)",
            flow=self.flow,
            count=len(gone),
            action=self.spec.source.changes.on_delete,
        )
        if self.spec.source.changes.on_delete == "forget":
            self.ledger.commit(self.flow, None, [], links=[LinkChange(self.flow, k, None) for k in gone])

    # -- recovery -----------------------------------------------------------------------------------------------

    def recover(self, run_id: int | None, report: RunReport) -> None:
        """Settle creates announced by a run that died: link what exists on the target, create what does not."""
        pending = [i.source_key for i in self.ledger.pending(self.flow)]
        if not pending:
            return
        log.info("recovering announced creates", flow=self.flow, count=len(pending))
        records = {str(r[self.spec.source.key]): r for r in self.source.fetch(pending)}
        found = self.target.find(pending)
        closing = [
            Outcome(
                k,
                "create",
                "applied" if k in found else "skipped",
                found.get(k),
                label=f"{self.spec.source.entity} {k}",
            )
            for k in pending
            if k not in records
        ]
        if closing:
            self.ledger.commit(self.flow, run_id, closing)
        report.recovered += len(found)
        if records:
            self._process(list(records.values()), report, run_id, False, known=found)

    # -- one page -----------------------------------------------------------------------------------------------

    def _process_keys(
        self,
        keys: list[str],
        report: RunReport,
        run_id: int | None,
        dry_run: bool,
        requeued: bool = False,
        state: tuple[LinkChange, ...] = (),
    ) -> None:
        for i in range(0, len(keys), self.source.page_size):
            part = keys[i : i + self.source.page_size]
            last = state if i + self.source.page_size >= len(keys) else ()  # committed with the last page
            records = self.source.fetch(part)
            if requeued:
                gone = set(part) - {str(r[self.spec.source.key]) for r in records}
                if gone and not dry_run:  # no longer matches the source filter: nothing left to do
                    self.ledger.commit(self.flow, run_id, [Outcome(k, "skip", "skipped") for k in gone])
            if records:
                self._process(records, report, run_id, dry_run, state=last)
            elif last and not dry_run:
                self.ledger.commit(self.flow, run_id, [], links=last)

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

    def _process(
        self,
        records: list[dict[str, Any]],
        report: RunReport,
        run_id: int | None,
        dry_run: bool,
        cursor: tuple[str, Any] | None = None,
        known: dict[str, str] | None = None,
        state: tuple[LinkChange, ...] = (),
    ) -> None:
        report.read += len(records)
        report.pages += 1
        keys = [str(r.get(self.spec.source.key)) for r in records]
        links = self.ledger.links(self.flow, keys)
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
        if creates and self.spec.target.lookup_before_create and known is None:
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
        if dry_run:
            report.planned.extend(a for a in actions if a.kind != "skip")
            report.count(failed)
            report.skipped += sum(1 for a in actions if a.kind == "skip")
            return
        self.ledger.begin(self.flow, run_id, actions)
        crash_point("announced")
        outcomes = self._apply(actions)
        crash_point("written")
        outcomes.extend(unchanged)
        outcomes.extend(failed)
        extra: list[tuple[str, str, str]] = []
        if self.spec.target.also_link:
            # Created, updated, found or adopted: the other direction's flow gets the same link every time.
            extra = [
                (self.spec.target.also_link, o.target_id, o.key)
                for o in outcomes
                if o.status == "applied" and o.target_id
            ]
        self.ledger.commit(
            self.flow, run_id, outcomes, cursor, extra, links=state, history=self._history(actions, outcomes)
        )
        crash_point("page-committed")
        report.count(outcomes)

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

    # -- identity on the objects (docs/identity.md) ---------------------------------------------------------------

    def _counterpart(self) -> Mapping | None:
        """The other direction's flow of this one, declared by `also_link` on both sides (orders ⇄ deals_to_orders)."""
        other = self.mappings.get(self.spec.target.also_link or "")
        if other is None or other.target.also_link != self.flow:
            return None
        if self.active is not None and other.flow not in self.active:
            return None
        return other

    def _identities(self, records: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
        """({key: target id} that the records' own stamps name, {key: why} for records another installation owns).

        A record made by the other direction's flow carries that flow's key: a 1C order made from deal N carries
        `B24-N` in its key attribute (→ deal N); a deal made from (or written back by) a 1C order carries our
        installation in ORIGINATOR_ID and the order's key in ORIGIN_ID (→ that order, never a new one). Whatever the
        ledger says, such a record is linked, not created. A deal stamped by another installation is not ours."""
        other = self._counterpart()
        if other is None:
            return {}, {}
        key_field = self.spec.source.key
        stamped: dict[str, str] = {}
        foreign: dict[str, str] = {}
        if self.spec.source.system == "onec":
            marker = other.target.onec_key
            named: dict[str, str] = {}
            for r in records:
                value = str(r.get(marker.field) or "").strip()
                if value.startswith(marker.prefix) and value[len(marker.prefix) :].isdigit():
                    named[str(r[key_field])] = value[len(marker.prefix) :]
            if named:
                # Only a deal that exists and is ours (or unstamped: its write-back did not happen yet) is that
                # order's deal; a marker typed by hand or left by another tool names no deal of ours.
                owners = getattr(self.target, "owners", None)
                mine = set(owners(list(named.values()))) if owners is not None else set(named.values())
                stamped = {k: deal for k, deal in named.items() if deal in mine}
            return stamped, foreign
        ext = other.target.external_key
        legacy: dict[str, str] = {}
        for r in records:
            originator = str(r.get(ext.originator_field) or "").strip()
            origin = str(r.get(ext.field) or "").strip()
            key = str(r[key_field])
            if not originator:
                continue
            if originator == ext.originator_id and origin:
                stamped[key] = origin
            elif originator in ext.adopt and origin:
                legacy[key] = origin
            else:
                foreign[key] = (
                    f"carries {ext.originator_field}={originator}: another installation or system owns it"
                )
        if legacy:
            ours = set(self.target.exists(list(legacy.values()))) if hasattr(self.target, "exists") else set()
            for key, origin in legacy.items():
                if origin in ours:
                    stamped[key] = origin
                else:
                    foreign[key] = f"stamped {ext.field}={origin}, an object this 1C base does not hold"
        if foreign:
            log.info("records owned by another installation; left alone", flow=self.flow, count=len(foreign))
        return stamped, foreign

    def _already_there(
        self, actions: list[Action], links: dict[str, Link]
    ) -> tuple[list[Action], list[Outcome]]:
        """Updates of objects whose content we have not recorded (found by key, adopted, or stamped by the other
        direction) are compared with the target first; an object that already holds it is linked, not written."""
        same = getattr(self.target, "same", None)
        unverified = [
            a
            for a in actions
            if a.kind == "update" and (a.record.key not in links or links[a.record.key].content_hash is None)
        ]
        if same is None or not unverified:
            return actions, []
        equal = same(unverified)
        if not equal:
            return actions, []
        kept = [a for a in actions if not (a.kind == "update" and a.record.key in equal)]
        linked = [
            Outcome(
                a.record.key,
                "skip",
                "applied",
                a.target_id,
                a.record.hash,
                a.record.version,
                label=a.record.label,
            )
            for a in actions
            if a.kind == "update" and a.record.key in equal
        ]
        return kept, linked

    def _apply(self, actions: list[Action]) -> list[Outcome]:
        """Apply; if a reply is lost, find the unsettled creates by external key and apply those again as updates.

        Writes whose replies did arrive are kept, so each round sends only what is still unknown; the run gives up
        after MAX_RECOVERY_ROUNDS rounds in a row that settled nothing."""
        settled: list[Outcome] = []
        idle = 0
        while idle < MAX_RECOVERY_ROUNDS:
            try:
                return settled + self.target.apply(actions)
            except OutcomeUnknown as exc:
                done = {o.key for o in exc.settled}
                settled.extend(exc.settled)
                actions = [a for a in actions if a.record.key not in done]
                idle = 0 if done else idle + 1
                creates = [a.record.key for a in actions if a.kind == "create"]
                log.warning(
                    "a write's reply was lost; looking the records up by external key",
                    flow=self.flow,
                    error=str(exc),
                    creates=len(creates),
                )
                found = self.target.find(creates) if creates else {}
                actions = [
                    Action("update", a.record, found[a.record.key])
                    if a.kind == "create" and a.record.key in found
                    else a
                    for a in actions
                ]
        raise OutcomeUnknown(
            f"writes kept losing their replies in {MAX_RECOVERY_ROUNDS} recoveries in a row; "
            "the page will be recovered on the next run",
            flow=self.flow,
        )
