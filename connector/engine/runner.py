"""One run of one flow: poll → map → plan → apply → record, page by page, exactly once.

Every create is announced in the ledger (an intent) before it is sent. When a reply is lost, or after a crash,
the objects are looked up by their external key and linked or created; never blindly created again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.clock import BusinessDay, Clock
from connector.crashpoints import crash_point
from connector.engine.page import PagePlan, PagePlanning
from connector.engine.planned import apply_planned, preview
from connector.engine.protocols import Source, Target
from connector.engine.readahead import read_ahead
from connector.engine.report import RunReport
from connector.engine.settle import apply_settled
from connector.engine.steps import Planned
from connector.ledger import Ledger
from connector.logs import get_logger
from connector.mapping.schema import Mapping
from connector.records import Action, Change, LinkChange, Outcome, content_hash

__all__ = ["FlowRunner", "RunReport"]  # RunReport lives in report.py; importers of it here keep working

log = get_logger(__name__)

Progress = Callable[[int], None]
DEFAULT_FULL_SCAN = "1h"
SETTLE = timedelta(minutes=2)  # a Bitrix24 window reaches this far before the last cycle began
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    text = text.strip()
    return int(text[:-1].strip()) * _UNITS[text[-1]]


class FlowRunner(PagePlanning):
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
        today: Callable[[], date] | None = None,
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
        # The run's one business date (1C server time), shared with the source and the target that app.py built.
        self.today = today or BusinessDay(clock, tz)
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
            pages = self.source.pages(since.astimezone(self.tz), until, cursor)
            # The next page is read and planned (reads only) while this one is written: see _plan_page.
            for page, planned in read_ahead((p, self._plan_page(p.records)) for p in pages):
                self._process(
                    page.records,
                    report,
                    run_id,
                    dry_run,
                    cursor=(cursor_name, {"window": window, "page": page.cursor, "done": False}),
                    state=page.state,
                    planned=planned,
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
        cycle_at = self.clock.now()
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
            plan = getattr(self.source, "plan", None)
            if self.spec.source.changes.exchange_plan or (plan is not None and plan()):
                full = False  # 1C tells us what changed (deletions too); nothing to scan
            if hasattr(self.source, "acknowledge"):  # a dry run leaves 1C's change registrations in place
                self.source.acknowledge = not dry_run
            days = self.spec.source.changes.lookback_days or lookback_days
            since = None if full else self.clock.now() - timedelta(days=days)
            if since is not None and self.spec.source.system == "bitrix24":
                # Bitrix24's DATE_MODIFY is a modification time: what changed since the last complete cycle began
                # (or the last backfill, which read every deal) is all there is to see; SETTLE covers clock skew.
                synced = self.ledger.cursor(f"{self.flow}:sync") or {}
                backfilled = self.ledger.last_ok_start(self.flow, "backfill")
                begun = synced.get("last_cycle_started_at") or backfilled
                if begun:
                    since = max(since, datetime.fromisoformat(begun) - SETTLE)
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
                state["last_cycle_started_at"] = cycle_at.isoformat()
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
        # A completed backfill read every record: it counts as the first full scan.
        last = state.get("last_full_scan_at") or self.ledger.last_ok_start(self.flow, "backfill")
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
        state: tuple[Change, ...] = (),
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

    def _process(
        self,
        records: list[dict[str, Any]],
        report: RunReport,
        run_id: int | None,
        dry_run: bool,
        cursor: tuple[str, Any] | None = None,
        known: dict[str, str] | None = None,
        state: tuple[Change, ...] = (),
        planned: PagePlan | None = None,
    ) -> None:
        report.read += len(records)
        report.pages += 1
        if planned is not None and self.ledger.links(self.flow, planned.keys) != planned.ledger:
            planned = None  # a page written since linked one of these records (it moved pages): plan it again
        planned = planned or self._plan_page(records, known)
        actions, unchanged, failed = planned.actions, planned.unchanged, planned.failed
        report.warn(actions)  # a value the mapping cut: logged and listed, never silent
        if dry_run:
            live = [a for a in actions if a.kind != "skip"]
            report.planned.extend(live)
            if live and isinstance(self.target, Planned):  # prepare (reads) + rules (pure): the steps, unsent
                plans, notes = preview(self.target, live, self.today())
                report.plans.extend(plans)
                report.notes.extend(notes)
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

    def _apply(self, actions: list[Action]) -> list[Outcome]:
        target = self.target
        if isinstance(target, Planned):  # prepare → rules → execute, with the run's one `today`
            today = self.today()
            return apply_settled(target, actions, self.flow, lambda a: apply_planned(target, a, today))
        return apply_settled(target, actions, self.flow)
