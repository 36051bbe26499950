"""What `b24-1c status` (and the daemon's status page) says per flow, in words an admin reads: last success, last
error, how far changes are read and how late that is, failed and waiting records, the next run, and whether a
daemon holds the ledger. Read only: the ledger through its public reads, the lock and the daemon's state file."""

from __future__ import annotations

import fcntl
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ALERTS_CURSOR = "alerts:state"  # where connector/alerts keeps the open alerts (its STATE_CURSOR)

RUNS_LOOKED_AT = 1000  # the newest runs read to find each flow's last success and last failure


@dataclass
class FlowStatus:
    """One flow, as status shows it."""

    flow: str
    schedule: str | None = None
    last_success: str | None = None
    last_success_kind: str | None = None
    last_success_summary: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    changes_read_to: str | None = None
    lag_seconds: float | None = None
    backfill: str | None = None
    failed: int = 0
    waiting: int = 0
    next_run: str | None = None
    reconcile: dict[str, Any] | None = (
        None  # the last `b24-1c reconcile` over this flow (connector/reconcile.py)
    )


@dataclass
class DaemonStatus:
    """Who holds the ledger: the daemon, another b24-1c process, or nobody."""

    holder: str  # "daemon" | "other" | "none"
    pid: int | None = None
    since: str | None = None
    note: str = ""


@dataclass
class Status:
    """The whole answer of `b24-1c status`."""

    ledger: str
    installation: str
    schema_version: int
    daemon: DaemonStatus
    flows: list[FlowStatus] = field(default_factory=list)
    pending_intents: int = 0
    alerts: dict[str, Any] = field(default_factory=dict)  # open alerts (connector/alerts): key → since, text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def lock_holder(ledger: Path) -> int | None:
    """The pid holding the ledger's lock, or None when nobody does. A shared lock is tried for an instant and
    released at once; it never blocks and is refused while any process holds the exclusive one."""
    lock = ledger.resolve().with_name(ledger.resolve().name + ".lock")
    try:
        fh = open(lock)  # noqa: SIM115 - closed below
    except OSError:
        return None
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    return None


def state_path(ledger: Path) -> Path:
    """The daemon's state file beside the (resolved) ledger: pid, and per flow last success, last error, next run."""
    ledger = ledger.resolve()
    return ledger.with_name(ledger.name + ".daemon.json")


def daemon_state(ledger: Path) -> dict[str, Any] | None:
    """The running daemon's `<ledger>.daemon.json`, if any (written by connector/daemon.py)."""
    try:
        data = json.loads(state_path(ledger).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def daemon_status(ledger: Path, state: dict[str, Any] | None) -> DaemonStatus:
    pid = lock_holder(ledger)
    if pid is not None and state is not None and state.get("pid") == pid:
        return DaemonStatus(
            "daemon", pid, state.get("started_at"), "the daemon (b24-1c run) holds the ledger"
        )
    if pid is not None:
        shown = pid if pid > 0 else None
        return DaemonStatus(
            "other", shown, None, "another b24-1c process holds the ledger (a backfill, sync, retry or setup)"
        )
    note = "no daemon is running"
    if state is not None:
        note += f" (pid {state.get('pid')} stopped without cleaning up; its last word was {state.get('written_at')})"
    return DaemonStatus("none", None, None, note)


def _summary(stats: Any) -> str:
    try:
        facts = json.loads(stats) if isinstance(stats, str) else dict(stats or {})
    except (TypeError, ValueError):
        return ""
    parts = [f"{facts[k]} {k}" for k in ("created", "updated", "failed", "deleted") if facts.get(k)]
    return ", ".join(parts) if parts else "nothing to change"


def _moment(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def flow_status(
    flow: str, ledger: Any, runs: list[dict[str, Any]], now: datetime, daemon: dict[str, Any] | None
) -> FlowStatus:
    """One flow's status from the ledger's runs, cursors and dead letters, and the daemon's state."""
    status = FlowStatus(flow)
    mine = [r for r in runs if r["flow"] == flow]
    ok = next((r for r in mine if r["status"] == "ok"), None)
    if ok is not None:
        status.last_success = ok["finished_at"] or ok["started_at"]
        status.last_success_kind = ok["kind"]
        status.last_success_summary = _summary(ok["stats"])
    bad = next((r for r in mine if r["status"] == "failed"), None)
    if bad is not None and (ok is None or bad["id"] > ok["id"]):
        status.last_error_at = bad["finished_at"] or bad["started_at"]
        status.last_error = f"the {bad['kind']} run stopped with an error (the daemon's log has the message)"
    if daemon is not None:
        mine_now = (daemon.get("flows") or {}).get(flow) or {}
        status.schedule = mine_now.get("schedule")
        status.next_run = mine_now.get("next_run")
        if mine_now.get("last_error") and (
            status.last_success is None or str(mine_now.get("last_error_at")) > str(status.last_success)
        ):
            status.last_error, status.last_error_at = mine_now["last_error"], mine_now.get("last_error_at")
    sync = ledger.cursor(f"{flow}:sync") or {}
    read_to = _moment(sync.get("last_cycle_at")) if isinstance(sync, dict) else None
    if read_to is not None:
        status.changes_read_to = read_to.isoformat(timespec="seconds")
        status.lag_seconds = max(0.0, (now - read_to).total_seconds())
    backfill = ledger.cursor(f"{flow}:backfill")
    if isinstance(backfill, dict):
        since = str((backfill.get("window") or {}).get("since") or "?")[:10]
        if backfill.get("done"):
            status.backfill = f"done, since {since}"
        else:
            page = backfill.get("page") or {}
            at = page.get("date") or page.get("id") or page.get("skip")
            status.backfill = (
                f"not finished (since {since}; stopped at {at}); rerun the same backfill to go on"
            )
    reconciled = ledger.cursor(f"{flow}:reconcile")
    status.reconcile = reconciled if isinstance(reconciled, dict) else None
    status.failed = len(ledger.dead_letters(flow, ("open", "requeued")))
    status.waiting = len(ledger.dead_letters(flow, ("waiting",)))
    return status


def collect(ledger: Any, ledger_path: Path, flows: list[str], installation: str, now: datetime) -> Status:
    """The status of every configured flow."""
    state = daemon_state(ledger_path)
    daemon = daemon_status(ledger_path, state)
    running = state if daemon.holder == "daemon" else None
    runs = ledger.last_runs(RUNS_LOOKED_AT)
    counts = ledger.counts()
    return Status(
        ledger=str(ledger_path),
        installation=installation,
        schema_version=int(ledger.schema_version),
        daemon=daemon,
        flows=[flow_status(f, ledger, runs, now, running) for f in flows],
        pending_intents=int(counts.get("pending intents", 0)),
        alerts=dict((ledger.cursor(ALERTS_CURSOR) or {}).get("open") or {}),
    )


def ago(seconds: float | None) -> str:
    """'4 min ago'-style words for a duration in seconds."""
    if seconds is None:
        return "never"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def reconcile_words(last: dict[str, Any] | None) -> str:
    """The last reconcile in a line: when, what it checked, the drift it found and what --repair left."""
    if not last:
        return "never (b24-1c reconcile compares 1C's money figures with the deals)"
    scope = f" dated from {last['since']}" if last.get("since") else ""
    text = f"{last.get('at')}: checked {last.get('checked', 0):,} orders{scope}, "
    drifted = int(last.get("drifted") or 0)
    if not drifted:
        return text + "no drift"
    reasons = ", ".join(f"{n} {r}" for r, n in (last.get("reasons") or {}).items())
    text += f"{drifted:,} drifted ({reasons})"
    repaired = last.get("repaired")
    if repaired is None:
        return text + "; not repaired (b24-1c reconcile --repair)"
    return text + f"; {repaired:,} repaired, {drifted - int(repaired):,} left"


def lines(status: Status, now: datetime) -> list[str]:
    """Readable lines for a terminal."""
    out = [
        f"ledger {status.ledger} (schema v{status.schema_version}); installation {status.installation}",
        f"daemon: {status.daemon.note}"
        + (f", pid {status.daemon.pid}" if status.daemon.pid else "")
        + (f", since {status.daemon.since}" if status.daemon.since else ""),
    ]
    if status.pending_intents:
        out.append(
            f"creates announced but not settled: {status.pending_intents} (the next run of their flow looks "
            "them up by key and finishes them)"
        )
    for key, alert in sorted(status.alerts.items()):
        out.append(f"alert {key} (open since {alert.get('since')}): {alert.get('text')}")
    for f in status.flows:
        shown = f.schedule if not f.schedule or f.schedule.startswith("cron") else f"every {f.schedule}"
        out.append(f.flow + (f" ({shown})" if shown else ""))
        if f.last_success:
            when = _moment(f.last_success)
            age = ago((now - when).total_seconds()) + " ago" if when else ""
            out.append(
                f"  last success:   {f.last_success} ({f.last_success_kind}, {age}): {f.last_success_summary}"
            )
        else:
            out.append("  last success:   never (run b24-1c backfill, then the daemon)")
        out.append(f"  last error:     {f'{f.last_error_at}: {f.last_error}' if f.last_error else 'none'}")
        if f.changes_read_to:
            out.append(f"  changes read:   up to {f.changes_read_to} (lag {ago(f.lag_seconds)})")
        else:
            out.append("  changes read:   no incremental cycle yet")
        out.append(f"  backfill:       {f.backfill or 'not run'}")
        waits = f"; waiting for another flow: {f.waiting}" if f.waiting else ""
        hint = f" (b24-1c failed --flow {f.flow})" if f.failed or f.waiting else ""
        out.append(f"  failed records: {f.failed}{waits}{hint}")
        if f.reconcile:
            out.append(f"  last reconcile: {reconcile_words(f.reconcile)}")
        if f.next_run:
            out.append(f"  next run:       {f.next_run}")
        else:
            out.append("  next run:       not scheduled (no daemon running)")
    return out
