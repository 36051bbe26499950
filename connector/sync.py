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

from connector.bitrix24.deals import DealWriter
from connector.clock import Clock
from connector.errors import OutcomeUnknown
from connector.ledger import Ledger, Link
from connector.logs import get_logger
from connector.mapping.engine import map_record, needed_refs
from connector.mapping.schema import Mapping
from connector.onec.reader import SourceReader
from connector.planner import plan
from connector.records import Action, Outcome

log = get_logger(__name__)

Progress = Callable[[int], None]
MAX_RECOVERY_ROUNDS = 5


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
            elif o.status == "skipped":
                self.skipped += 1
            elif o.kind == "create":
                self.created += 1
            else:
                self.updated += 1

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("planned", "errors")}


class FlowRunner:
    """Runs one mapping's flow against its reader and writer, recording everything in the ledger."""

    def __init__(self, spec: Mapping, reader: SourceReader, writer: DealWriter, ledger: Ledger, clock: Clock,
                 tz: ZoneInfo, stop: threading.Event | None = None) -> None:
        self.spec = spec
        self.flow = spec.flow
        self.reader = reader
        self.writer = writer
        self.ledger = ledger
        self.clock = clock
        self.tz = tz
        self.stop = stop or threading.Event()

    # -- entry points -------------------------------------------------------------------------------------------

    def backfill(self, since: datetime, until: datetime | None, *, dry_run: bool = False, restart: bool = False,
                 progress: Progress | None = None) -> RunReport:
        """Every matching record dated in [since, until), resumable from the ledger's cursor."""
        report = RunReport(self.flow, "backfill", dry_run=dry_run)
        started = time.monotonic()
        cursor_name = f"{self.flow}:backfill"
        saved = None if restart else self.ledger.cursor(cursor_name)
        window = {"since": since.isoformat(), "until": until.isoformat() if until else None}
        same_window = isinstance(saved, dict) and saved.get("window") == window
        cursor = saved.get("page") if same_window and isinstance(saved, dict) else None
        if saved and not same_window:
            log.info("backfill window changed; starting from its beginning", flow=self.flow, **window)
        run_id = None if dry_run else self.ledger.start_run(self.flow, "backfill")
        status = "failed"
        try:
            if not dry_run:
                self.recover(run_id, report)
            if saved and saved.get("done") and saved.get("window") == window:
                log.info("backfill already complete for this window; nothing to read", flow=self.flow)
                status = "ok"
                return report
            if cursor:
                log.info("resuming backfill", flow=self.flow, date=cursor["date"], skip=cursor["skip"])
            for page in self.reader.pages(since.astimezone(self.tz), until, cursor):
                self._process(page.records, report, run_id, dry_run,
                              cursor=(cursor_name, {"window": window, "page": page.cursor, "done": False}))
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

    def incremental(self, lookback_days: int, *, dry_run: bool = False) -> RunReport:
        """One cycle: retried dead letters first, then records dated within the lookback whose version changed."""
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
            since = self.clock.now() - timedelta(days=lookback_days)
            for rows in self.reader.versions_since(since.astimezone(self.tz)):
                known = self.ledger.links(self.flow, [r[self.spec.source.key] for r in rows])
                changed = [r[self.spec.source.key] for r in rows
                           if r[self.spec.source.key] not in known
                           or known[r[self.spec.source.key]].source_version != r.get(self.spec.source.version_field)]
                if changed:
                    self._process_keys(changed, report, run_id, dry_run)
                if self.stop.is_set():
                    report.stopped = True
                    break
            if not dry_run:
                self.ledger.set_cursor(f"{self.flow}:sync", {"last_cycle_at": self.clock.now().isoformat()})
            status = "stopped" if report.stopped else "ok"
            return report
        finally:
            report.seconds = round(time.monotonic() - started, 3)
            if run_id is not None:
                self.ledger.finish_run(run_id, status, report.as_dict())

    # -- recovery -----------------------------------------------------------------------------------------------

    def recover(self, run_id: int | None, report: RunReport) -> None:
        """Settle creates announced by a run that died: link what exists on the target, create what does not."""
        pending = [i.source_key for i in self.ledger.pending(self.flow)]
        if not pending:
            return
        log.info("recovering announced creates", flow=self.flow, count=len(pending))
        records = {r[self.spec.source.key]: r for r in self.reader.fetch(pending)}
        found = self.writer.find(pending)
        closing = [Outcome(k, "create", "applied" if k in found else "skipped", found.get(k),
                           label=f"{self.spec.source.entity} {k}") for k in pending if k not in records]
        if closing:
            self.ledger.commit(self.flow, run_id, closing)
        report.recovered += len(found)
        if records:
            self._process(list(records.values()), report, run_id, False, known=found)

    # -- one page -----------------------------------------------------------------------------------------------

    def _process_keys(self, keys: list[str], report: RunReport, run_id: int | None, dry_run: bool,
                      requeued: bool = False) -> None:
        for i in range(0, len(keys), self.reader.page_size):
            part = keys[i : i + self.reader.page_size]
            records = self.reader.fetch(part)
            if requeued:
                gone = set(part) - {r[self.spec.source.key] for r in records}
                if gone and not dry_run:  # no longer matches the source filter: nothing left to do
                    self.ledger.commit(self.flow, run_id, [Outcome(k, "skip", "skipped") for k in gone])
            self._process(records, report, run_id, dry_run)

    def _process(self, records: list[dict[str, Any]], report: RunReport, run_id: int | None, dry_run: bool,
                 cursor: tuple[str, Any] | None = None, known: dict[str, str] | None = None) -> None:
        report.read += len(records)
        report.pages += 1
        keys = [str(r.get(self.spec.source.key)) for r in records]
        links = self.ledger.links(self.flow, keys)
        for key, target in (known or {}).items():
            links.setdefault(key, Link(key, target, None, None))
        lookups = self.reader.lookups(needed_refs(self.spec, records))
        mapped = [map_record(self.spec, r, lookups, self.tz) for r in records]
        actions, failed = plan(mapped, links)
        if dry_run:
            report.planned.extend(a for a in actions if a.kind != "skip")
            report.count(failed)
            report.skipped += sum(1 for a in actions if a.kind == "skip")
            return
        self.ledger.begin(self.flow, run_id, actions)
        outcomes = self._apply(actions)
        outcomes.extend(failed)
        self.ledger.commit(self.flow, run_id, outcomes, cursor)
        report.count(outcomes)

    def _apply(self, actions: list[Action]) -> list[Outcome]:
        """Apply; if a reply is lost, find the creates by external key and apply again as updates."""
        for _ in range(MAX_RECOVERY_ROUNDS):
            try:
                return self.writer.apply(actions)
            except OutcomeUnknown as exc:
                creates = [a.record.key for a in actions if a.kind == "create"]
                log.warning("a write's reply was lost; looking the records up by external key", flow=self.flow,
                            error=str(exc), creates=len(creates))
                found = self.writer.find(creates) if creates else {}
                actions = [Action("update", a.record, found[a.record.key]) if a.kind == "create"
                           and a.record.key in found else a for a in actions]
        raise OutcomeUnknown(f"writes kept losing their replies after {MAX_RECOVERY_ROUNDS} recoveries; "
                             "the page will be recovered on the next run", flow=self.flow)
