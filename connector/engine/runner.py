"""One run of one flow: poll → map → plan → apply → record, page by page, exactly once.

Every create is announced in the ledger (an intent) before it is sent. When a reply is lost, or after a crash,
the objects are looked up by their external key and linked or created; never blindly created again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from itertools import chain, pairwise
from typing import Any
from zoneinfo import ZoneInfo

from connector.bitrix24.rides import Rides
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

# RunReport lives in report.py; importers of it here keep working
__all__ = ["FlowRunner", "RunReport", "hand_over", "may_read_ahead"]

log = get_logger(__name__)

Progress = Callable[[int], None]
DEFAULT_FULL_SCAN = "1h"
SETTLE = timedelta(minutes=2)  # a Bitrix24 window reaches this far before the last cycle began
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text: str) -> int:
    text = text.strip()
    return int(text[:-1].strip()) * _UNITS[text[-1]]


def may_read_ahead(before: Mapping, after: Mapping) -> bool:
    """Whether flow `after`'s head start (its first page, its own links, the lookup of its unlinked records on its
    target) may be read while flow `before` still writes: `before` writes neither what `after` reads from its
    source nor the kind of object `after` looks up, nor `after`'s links (`also_link`); flows whose targets write
    more than their entity (money, rollups, fans) are never read ahead of or after."""
    if any(m.money is not None or m.rollups is not None or m.fans is not None for m in (before, after)):
        return False
    if before.target.also_link == after.flow:
        return False
    writes = (before.target.system, before.target.entity)
    return writes not in {
        (after.source.system, after.source.entity),
        (after.target.system, after.target.entity),
    } and not (before.target.system == "onec" and after.source.system == "onec")


def hand_over(runs: Sequence[tuple[FlowRunner, datetime | None, datetime | None]], restart: bool) -> None:
    """Before a real backfill of these flows, in this order (each with its window): each flow's head start runs
    while the flow before it writes its last page, where `may_read_ahead` allows it."""
    for (before, _, _), (after, start, end) in pairwise(runs):
        if not (isinstance(before, FlowRunner) and isinstance(after, FlowRunner)):
            continue  # a flow run some other way
        if start is not None and may_read_ahead(before.spec, after.spec):
            before.then = partial(after.head_start, start, end, restart=restart)


@dataclass
class HeadStart:
    """A flow's first backfill page read before the flow runs (`FlowRunner.head_start`): the window it was read
    for, the rest of the pages, the page, and the unlinked keys looked up on the target with what was found."""

    start: tuple[datetime, datetime | None, Any]
    pages: Iterator[Any]
    first: Any
    asked: set[str]
    found: dict[str, str]


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
        # The next flow's head start, run once this flow's backfill pages are all read (set by the backfill
        # command), and this flow's own, read while the flow before it was written.
        self.then: Callable[[], None] | None = None
        self._head: HeadStart | None = None

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
        cursor_name, window, saved, same_window, cursor = self._window(since, until, restart)
        head, self._head = self._head, None
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
            first: Any = None
            prefound: tuple[set[str], dict[str, str]] | None = None
            if head is not None and not dry_run and head.start == (since, until, cursor):
                pages: Iterator[Any] = chain([head.first] if head.first is not None else [], head.pages)
                first, prefound = head.first, (head.asked, head.found)
            else:
                pages = iter(self.source.pages(since.astimezone(self.tz), until, cursor))
            # The next page is read and planned (reads only) while this one is written: see _plan_page. Its
            # Bitrix24 reads ride in this page's last write batch when it has room (bitrix24/rides.py); once every
            # page is read, the next flow's first page is read the same way when it may be (`then`, head_start).
            rides = None if dry_run else self._rides()
            after = None if dry_run else self._then(rides)
            planned_pages = (
                (p, self._plan_ahead(p.records, rides, dry_run, prefound if p is first else None))
                for p in pages
            )
            # Pages are written from here to the loop's end: a planner's read waits for a write batch with room, or
            # for the loop to wait for the planner (then it goes alone: `Rides.idle`).
            with rides.writing() if rides is not None else nullcontext():
                waiting = rides.idle if rides is not None else None
                fed = rides.fed if rides is not None else None
                for page, planned in read_ahead(planned_pages, after=after, waiting=waiting, fed=fed):
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

    def _rides(self) -> Rides | None:
        """Where this flow's planner reads meet its write batches: the target's Bitrix24 client's (None when the
        target does not write to Bitrix24)."""
        rides = getattr(getattr(self.target, "client", None), "rides", None)
        return rides if isinstance(rides, Rides) else None

    def _plan_ahead(
        self,
        records: list[dict[str, Any]],
        rides: Rides | None,
        dry_run: bool,
        prefound: tuple[set[str], dict[str, str]] | None = None,
    ) -> PagePlan:
        """A backfill's page planned in the read-ahead thread (and, in a real run, prepared when the target says
        `prepare_ahead`); its Bitrix24 reads offered to the page being written."""
        with rides.planning() if rides is not None else nullcontext():
            return self._plan_page(records, prepare=not dry_run, prefound=prefound)

    def _window(
        self, since: datetime, until: datetime | None, restart: bool
    ) -> tuple[str, dict[str, Any], Any, bool, Any]:
        """(cursor name, window, saved cursor, whether it is this window's, the page to resume from)."""
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
        return cursor_name, window, saved, same_window, cursor

    def _then(self, rides: Rides | None) -> Callable[[], None] | None:
        """What the read-ahead thread does once this flow's pages are all read: the next flow's head start (set by
        the backfill command as `then`), its Bitrix24 reads offered to this flow's last writes."""
        then, self.then = self.then, None
        if then is None:
            return None

        def run() -> None:
            try:
                with rides.planning() if rides is not None else nullcontext():
                    then()
            except Exception as exc:  # the next flow reads its first page itself, and reports what fails then
                log.warning(
                    "the next flow's first page could not be read ahead", flow=self.flow, error=str(exc)
                )

        return run

    def head_start(self, since: datetime, until: datetime | None, *, restart: bool = False) -> None:
        """Read this flow's first backfill page, and look its unlinked records up on the target, before the flow
        runs: called in the read-ahead thread of the flow before it while that flow's last page is written (the
        backfill command does so only when this flow's reads cannot depend on that flow's writes: `may_read_ahead`).
        Nothing is read when this flow has creates announced by a run that died (its recovery comes first) or its
        window is done. `backfill` with the same window uses what was read; its mapping and plan are its own."""
        self._head = None
        _, _, saved, same_window, cursor = self._window(since, until, restart)
        if same_window and isinstance(saved, dict) and saved.get("done"):
            return
        if self.ledger.pending(self.flow):
            return
        pages = iter(self.source.pages(since.astimezone(self.tz), until, cursor))
        first = next(pages, None)
        asked: set[str] = set()
        found: dict[str, str] = {}
        finds = getattr(self.target, "finds_in_prepare", False)
        if first is not None and first.records and self.spec.target.lookup_before_create and not finds:
            keys = [str(r.get(self.spec.source.key)) for r in first.records]
            linked = self.ledger.links(self.flow, keys)
            unlinked = [k for k in dict.fromkeys(keys) if k not in linked]
            if unlinked:
                found = self.target.find(unlinked)
                asked = set(unlinked)
        self._head = HeadStart((since, until, cursor), pages, first, asked, found)

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
        outcomes = self._apply(actions, planned.ahead)
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

    def _apply(self, actions: list[Action], ahead: tuple[list[Action], Any] | None = None) -> list[Outcome]:
        target = self.target
        if isinstance(target, Planned):  # prepare → rules → execute, with the run's one `today`
            today = self.today()
            return apply_settled(target, actions, self.flow, lambda a: apply_planned(target, a, today, ahead))
        return apply_settled(target, actions, self.flow)
