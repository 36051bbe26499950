"""The SQLite idempotency ledger: links, intents, cursors, runs, outcomes and dead letters.

Outcomes and the cursor they cover are committed in one transaction. WAL mode, so readers (`b24-1c failed`)
never block the writer. Secrets never reach it: errors are redacted before they are stored.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.clock import Clock, SystemClock
from connector.errors import ConfigError, ConnectorError, LedgerError
from connector.records import Action, LinkChange, Outcome
from connector.redact import redact


@dataclass(frozen=True)
class HistoryEntry:
    """One write, for the append-only history: which record, what was written to which object, by which mapping."""

    source_key: str
    source_version: str | None
    action: str
    target_id: str | None
    fields: dict[str, Any]
    mapping: str | None = None


BUSY_TIMEOUT = 30.0  # seconds a writer waits for another thread's transaction before giving up

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial",
        """
        CREATE TABLE links (
            flow TEXT NOT NULL, source_key TEXT NOT NULL, target_id TEXT NOT NULL,
            content_hash TEXT, source_version TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (flow, source_key));
        CREATE INDEX links_target ON links (flow, target_id);
        CREATE TABLE intents (
            id INTEGER PRIMARY KEY, flow TEXT NOT NULL, source_key TEXT NOT NULL, action TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE, status TEXT NOT NULL DEFAULT 'pending', run_id INTEGER,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE INDEX intents_pending ON intents (flow, status);
        CREATE TABLE cursors (flow TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY, flow TEXT NOT NULL, kind TEXT NOT NULL, started_at TEXT NOT NULL,
            finished_at TEXT, status TEXT NOT NULL DEFAULT 'running', stats TEXT);
        CREATE TABLE outcomes (
            id INTEGER PRIMARY KEY, run_id INTEGER, flow TEXT NOT NULL, source_key TEXT NOT NULL,
            action TEXT NOT NULL, status TEXT NOT NULL, target_id TEXT, message TEXT, at TEXT NOT NULL);
        CREATE INDEX outcomes_run ON outcomes (run_id);
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY, flow TEXT NOT NULL, source_key TEXT NOT NULL, label TEXT,
            reason TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT 'open',
            first_at TEXT NOT NULL, last_at TEXT NOT NULL);
        CREATE UNIQUE INDEX dead_open ON dead_letters (flow, source_key) WHERE status = 'open';
    """,
    ),
    (
        "dead letters remember the source version they failed at",
        """
        ALTER TABLE dead_letters ADD COLUMN source_version TEXT;
    """,
    ),
    (
        "links may belong to a parent record (payments of an order)",
        """
        ALTER TABLE links ADD COLUMN parent TEXT;
        CREATE INDEX links_parent ON links (flow, parent);
    """,
    ),
    (
        "an append-only history of what was written where, from which record, by which mapping",
        """
        CREATE TABLE history (
            id INTEGER PRIMARY KEY, at TEXT NOT NULL, run_id INTEGER, flow TEXT NOT NULL,
            source_key TEXT NOT NULL, source_version TEXT, action TEXT NOT NULL, target_id TEXT,
            fields TEXT NOT NULL, mapping TEXT);
        CREATE INDEX history_target ON history (flow, target_id);
        CREATE INDEX history_source ON history (flow, source_key);
    """,
    ),
]


def ledger_problem(path: Path, exc: BaseException) -> ConnectorError | None:
    """What a user must do when the ledger file cannot be used: a LedgerError (exit 5) for a damaged file, missing
    rights or a full disk, a ConfigError when ledger.path cannot name a file; None for anything else."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    lost = (
        "A lost ledger costs time, never duplicates: `b24-1c backfill` rebuilds the links from the external "
        "keys on both sides."
    )
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileExistsError | FileNotFoundError) or (
        not isinstance(exc, OSError) and path.is_dir()
    ):
        return ConfigError(
            f"ledger.path {path} cannot be a ledger file ({exc}): set ledger.path (or B24_1C_LEDGER) to a file "
            "name in a folder, e.g. /var/lib/b24-1c/ledger.sqlite3"
        )
    if name == "SQLITE_FULL" or code == errno.ENOSPC or "disk is full" in text:
        return LedgerError(
            f"the disk holding the ledger {path} is full ({exc}): free space there (or move the ledger and "
            "point ledger.path / B24_1C_LEDGER at it), then start again; the page being recorded was rolled "
            "back and is read again"
        )
    if (
        name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM"))
        or isinstance(exc, PermissionError)
        or code == errno.EROFS
        or "readonly database" in text
        or "unable to open database" in text
    ):
        return LedgerError(
            f"cannot write the ledger {path} ({exc}): the user running b24-1c must be able to write the file, "
            f"its -wal and -shm files and the folder {path.parent}; fix the permissions (chown/chmod, or a "
            "read-only mount), or point ledger.path / B24_1C_LEDGER at a writable place"
        )
    if (
        name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        or "not a database" in text
        or "malformed" in text
    ):
        return LedgerError(
            f"the ledger {path} is damaged or is not a SQLite database ({exc}): stop b24-1c, restore the file "
            "from a backup, or move it aside (with its -wal and -shm files) and run `b24-1c backfill`. "
            + lost
        )
    if name.startswith("SQLITE_IOERR") or "disk i/o error" in text or isinstance(exc, OSError):
        return LedgerError(
            f"the ledger {path} cannot be read or written ({exc}): check the disk and the folder, then start "
            "again; if the file is lost, restore it from a backup or run `b24-1c backfill`. " + lost
        )
    return None


@dataclass(frozen=True)
class Link:
    """A source record's counterpart on the target and what we last wrote there."""

    source_key: str
    target_id: str
    content_hash: str | None
    source_version: str | None


@dataclass(frozen=True)
class Intent:
    """A write we announced before making it; pending ones are recovered after a crash."""

    id: int
    flow: str
    source_key: str
    action: str
    idempotency_key: str


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed, with the reason, until it is retried or fixed."""

    id: int
    flow: str
    source_key: str
    label: str | None
    reason: str
    attempts: int
    status: str
    last_at: str


class Ledger:
    """One SQLite file per connector installation.

    Every thread gets its own connection, so flows that share the ledger (the daemon runs them in threads) never
    share a transaction: WAL lets readers go on beside the one writer, and a writer waits up to BUSY_TIMEOUT
    seconds for another thread's transaction (a page commit takes milliseconds). `:memory:` has one connection,
    and its transactions take turns.
    """

    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        self.memory = str(path) == ":memory:"
        self.path = Path(path) if self.memory else Path(path).resolve()
        self.clock = clock or SystemClock()
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._turns: AbstractContextManager[Any] = threading.RLock() if self.memory else nullcontext()
        try:
            if not self.memory:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.migrate()
        except (OSError, sqlite3.Error) as exc:
            self.close()
            problem = ledger_problem(self.path, exc)
            if problem is None:
                raise
            raise problem from exc
        except BaseException:
            self.close()
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn: sqlite3.Connection | None = self._opened[0] if self.memory and self._opened else None
        conn = conn or getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except sqlite3.Error as exc:
                problem = ledger_problem(self.path, exc)
                if problem is None:
                    raise
                raise problem from exc
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error:
            conn.close()
            raise
        with self._guard:
            self._opened.append(conn)
        return conn

    def close(self) -> None:
        """Close the connections of every thread."""
        with self._guard:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()

    def _now(self) -> str:
        return self.clock.now().isoformat(timespec="seconds")

    # -- schema -------------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the migrations this file has not seen yet, each in its own transaction."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in self.conn.execute("SELECT version FROM migrations")}
        for version, (name, sql) in enumerate(MIGRATIONS, start=1):
            if version in done:
                continue
            with self.transaction():
                for statement in filter(str.strip, sql.split(";")):
                    self.conn.execute(statement)
                self.conn.execute("INSERT INTO migrations VALUES (?, ?, ?)", (version, name, self._now()))

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(version), 0) FROM migrations").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on this thread's connection; a damaged file, missing rights or a full disk become
        a LedgerError naming the file and what to do (the transaction is rolled back)."""
        conn = self.conn
        with self._turns:
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                problem = ledger_problem(self.path, exc)
                if problem is None:
                    raise
                raise problem from exc

    # -- links --------------------------------------------------------------------------------------------------

    def _rows_in(self, sql: str, flow: str, values: Iterable[str]) -> Iterator[sqlite3.Row]:
        """Rows of `sql` (one `IN ({marks})` placeholder after `flow = ?`), 500 values per query."""
        values = list(values)
        for i in range(0, len(values), 500):
            part = values[i : i + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), (flow, *part))

    def links(self, flow: str, keys: Iterable[str]) -> dict[str, Link]:
        """Links for a page of source keys, in one query."""
        sql = (
            "SELECT source_key, target_id, content_hash, source_version FROM links "
            "WHERE flow = ? AND source_key IN ({marks})"
        )
        return {r[0]: Link(r[0], r[1], r[2], r[3]) for r in self._rows_in(sql, flow, keys)}

    def sources_for_targets(self, flow: str, target_ids: Iterable[str]) -> dict[str, str]:
        """Reverse links: {target id: source key} (a Bitrix24 company id → its 1C counterparty)."""
        sql = "SELECT target_id, source_key FROM links WHERE flow = ? AND target_id IN ({marks}) ORDER BY updated_at"
        return {r[0]: r[1] for r in self._rows_in(sql, flow, target_ids)}

    def keys(self, flow: str) -> Iterator[str]:
        """Every linked source key of a flow (for deletion scans), streamed."""
        for row in self.conn.execute(
            "SELECT source_key FROM links WHERE flow = ? ORDER BY source_key", (flow,)
        ):
            yield row[0]

    def children(self, flow: str, parents: Iterable[str]) -> dict[str, list[Link]]:
        """Links grouped by parent (the payments of each order)."""
        parents = list(parents)
        out: dict[str, list[Link]] = {p: [] for p in parents}
        sql = (
            "SELECT source_key, target_id, content_hash, source_version, parent FROM links "
            "WHERE flow = ? AND parent IN ({marks}) ORDER BY source_key"
        )
        for r in self._rows_in(sql, flow, parents):
            out[r[4]].append(Link(r[0], r[1], r[2], r[3]))
        return out

    def link_count(self, flow: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM links WHERE flow = ?", (flow,)).fetchone()[0])

    def versions(self, flow: str, keys: Iterable[str]) -> dict[str, str | None]:
        return {k: link.source_version for k, link in self.links(flow, keys).items()}

    # -- intents ------------------------------------------------------------------------------------------------

    def begin(self, flow: str, run_id: int | None, actions: Iterable[Action]) -> None:
        """Announce the creates of a page before they are sent (updates are idempotent by id)."""
        now = self._now()
        rows = [
            (flow, a.record.key, a.kind, f"{flow}:{a.record.key}", run_id, now, now)
            for a in actions
            if a.kind == "create"
        ]
        if not rows:
            return
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO intents (flow, source_key, action, idempotency_key, run_id, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO UPDATE SET status = 'pending', "
                "run_id = excluded.run_id, updated_at = excluded.updated_at",
                rows,
            )

    def pending(self, flow: str) -> list[Intent]:
        """Creates that were announced but whose outcome was never recorded."""
        return [
            Intent(r["id"], r["flow"], r["source_key"], r["action"], r["idempotency_key"])
            for r in self.conn.execute(
                "SELECT * FROM intents WHERE flow = ? AND status = 'pending' ORDER BY id", (flow,)
            )
        ]

    # -- the one commit per page --------------------------------------------------------------------------------

    def commit(
        self,
        flow: str,
        run_id: int | None,
        outcomes: Iterable[Outcome],
        cursor: tuple[str, Any] | None = None,
        extra_links: Iterable[tuple[str, str, str]] = (),
        links: Iterable[LinkChange] = (),
        history: Iterable[HistoryEntry] = (),
    ) -> None:
        """Record outcomes, links, intents, dead letters and (optionally) a named cursor in ONE transaction.

        `extra_links` are (flow, source key, target id) links of another flow that must exist exactly when these
        outcomes do (an order created from a deal is, for the 1C → Bitrix24 flow, already linked to that deal).
        `links` are what the source must remember once these outcomes are recorded (documents a tracker saw, the
        day an order was last looked at); each outcome's own `links` (its detail records) are written too.
        """
        now = self._now()
        outcomes = list(outcomes)
        with self.transaction() as conn:
            self._change_links(conn, [*links, *(link for o in outcomes for link in o.links)], now)
            conn.executemany(
                "INSERT INTO history (at, run_id, flow, source_key, source_version, action, target_id, fields, "
                "mapping) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        now,
                        run_id,
                        flow,
                        h.source_key,
                        h.source_version,
                        h.action,
                        h.target_id,
                        redact(json.dumps(h.fields, ensure_ascii=False, default=str, sort_keys=True)),
                        h.mapping,
                    )
                    for h in history
                ),
            )
            for other, key, target in extra_links:
                conn.execute(
                    "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, "
                    "updated_at) VALUES (?, ?, ?, NULL, NULL, ?) ON CONFLICT (flow, source_key) DO "
                    "UPDATE SET target_id = excluded.target_id, updated_at = excluded.updated_at",
                    (other, key, target, now),
                )
            for o in outcomes:
                error = redact(o.error) if o.error else None
                if o.status != "skipped" or o.error:
                    conn.execute(
                        "INSERT INTO outcomes (run_id, flow, source_key, action, status, target_id, message,"
                        " at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (run_id, flow, o.key, o.kind, o.status, o.target_id, error, now),
                    )
                if o.target_id is not None and o.status in ("applied", "failed"):
                    # A failed write that still created the object (e.g. rows rejected) keeps its link with no
                    # hash, so the next run updates it instead of creating it twice.
                    conn.execute(
                        "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, updated_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (flow, source_key) DO UPDATE SET "
                        "target_id = excluded.target_id, content_hash = excluded.content_hash, "
                        "source_version = excluded.source_version, updated_at = excluded.updated_at",
                        (
                            flow,
                            o.key,
                            o.target_id,
                            o.content_hash if o.status == "applied" else None,
                            o.version if o.status == "applied" else None,
                            now,
                        ),
                    )
                elif o.status == "skipped" and o.version is not None:
                    conn.execute(
                        "UPDATE links SET source_version = ? WHERE flow = ? AND source_key = ?",
                        (o.version, flow, o.key),
                    )
                if o.status in ("applied", "skipped"):
                    conn.execute(
                        "UPDATE intents SET status = 'applied', updated_at = ? WHERE idempotency_key = ?"
                        " AND status = 'pending'",
                        (now, f"{flow}:{o.key}"),
                    )
                    conn.execute(
                        "UPDATE dead_letters SET status = 'resolved', last_at = ? WHERE flow = ? AND "
                        "source_key = ? AND status IN ('open', 'requeued', 'waiting')",
                        (now, flow, o.key),
                    )
                else:
                    conn.execute(
                        "UPDATE intents SET status = 'failed', updated_at = ? WHERE idempotency_key = ?"
                        " AND status = 'pending'",
                        (now, f"{flow}:{o.key}"),
                    )
                    status = "waiting" if o.deferred else "open"
                    again = conn.execute(
                        "UPDATE dead_letters SET status = ?, reason = ?, attempts = attempts + 1, last_at = ?, "
                        "source_version = ? WHERE flow = ? AND source_key = ? AND status IN ('open', 'requeued', "
                        "'waiting')",
                        (status, error or "unknown error", now, o.version, flow, o.key),
                    ).rowcount
                    if again:
                        continue
                    conn.execute(
                        "INSERT INTO dead_letters (flow, source_key, label, reason, status, first_at, last_at, "
                        "source_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (flow, o.key, o.label, error or "unknown error", status, now, now, o.version),
                    )
            if cursor is not None:
                conn.execute(
                    "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (flow) DO UPDATE SET "
                    "value = excluded.value, updated_at = excluded.updated_at",
                    (cursor[0], json.dumps(cursor[1], ensure_ascii=False), now),
                )

    @staticmethod
    def _change_links(conn: sqlite3.Connection, changes: list[LinkChange], now: str) -> None:
        """Upsert or (target None) drop side-flow links, in their order, inside the caller's transaction."""
        for c in changes:
            if c.target_id is None:
                conn.execute("DELETE FROM links WHERE flow = ? AND source_key = ?", (c.flow, c.key))
                continue
            conn.execute(
                "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, updated_at, parent) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow, source_key) DO UPDATE SET "
                "target_id = excluded.target_id, content_hash = excluded.content_hash, "
                "source_version = excluded.source_version, updated_at = excluded.updated_at, "
                "parent = excluded.parent",
                (c.flow, c.key, c.target_id, c.content_hash, c.version, now, c.parent),
            )

    def history(
        self, flow: str | None = None, *, target_id: str | None = None, source_key: str | None = None
    ) -> list[dict[str, Any]]:
        """What was written, newest first: for one target object (a deal id) or one source record (a 1C ref)."""
        where, args = [], []
        for column, value in (("flow", flow), ("target_id", target_id), ("source_key", source_key)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = (
            "SELECT * FROM history" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC"
        )
        return [{**dict(r), "fields": json.loads(r["fields"])} for r in self.conn.execute(sql, args)]

    # -- cursors ------------------------------------------------------------------------------------------------

    def cursor(self, name: str) -> Any:
        row = self.conn.execute("SELECT value FROM cursors WHERE flow = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_cursor(self, name: str, value: Any) -> None:
        self.commit(name, None, [], (name, value))

    # -- runs ---------------------------------------------------------------------------------------------------

    def start_run(self, flow: str, kind: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO runs (flow, kind, started_at) VALUES (?, ?, ?)", (flow, kind, self._now())
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, status: str, stats: dict[str, Any]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, stats = ? WHERE id = ?",
                (self._now(), status, json.dumps(stats), run_id),
            )

    def last_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))]

    # -- dead letters -------------------------------------------------------------------------------------------

    def dead_letters(
        self, flow: str | None = None, status: str | tuple[str, ...] = "open"
    ) -> list[DeadLetter]:
        """Failed records; `waiting` ones await another flow's record and are retried every cycle."""
        statuses = (status,) if isinstance(status, str) else status
        marks = ",".join("?" * len(statuses))
        sql = (
            f"SELECT * FROM dead_letters WHERE status IN ({marks})"
            + (" AND flow = ?" if flow else "")
            + " ORDER BY id"
        )
        args: tuple[Any, ...] = (*statuses, flow) if flow else statuses
        return [
            DeadLetter(
                r["id"],
                r["flow"],
                r["source_key"],
                r["label"],
                r["reason"],
                r["attempts"],
                r["status"],
                r["last_at"],
            )
            for r in self.conn.execute(sql, args)
        ]

    def failed_versions(self, flow: str, keys: Iterable[str]) -> dict[str, str | None]:
        """Source versions at which dead letters failed: unchanged records are not retried by themselves (waiting
        ones are retried first in every cycle through `requeued`, so a scan of the same cycle leaves them alone)."""
        sql = (
            "SELECT source_key, source_version FROM dead_letters WHERE flow = ? AND status IN ('open', 'waiting') "
            "AND source_key IN ({marks})"
        )
        return {r[0]: r[1] for r in self._rows_in(sql, flow, keys)}

    def requeue(self, flow: str | None = None, ids: list[int] | None = None) -> list[DeadLetter]:
        """Mark open dead letters for retry; the next run of their flow re-reads them first."""
        letters = [d for d in self.dead_letters(flow) if not ids or d.id in ids]
        with self.transaction() as conn:
            for d in letters:
                conn.execute(
                    "UPDATE dead_letters SET status = 'requeued', last_at = ? WHERE id = ?",
                    (self._now(), d.id),
                )
        return letters

    def requeued(self, flow: str) -> list[str]:
        """Keys to process first in the next cycle: requeued by a human, or waiting for another flow."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT source_key FROM dead_letters WHERE flow = ? AND status IN ('requeued', 'waiting') ORDER BY id",
                (flow,),
            )
        ]

    def counts(self) -> dict[str, int]:
        """What `b24-1c status` shows: links, creates still pending (settled intents are history, not work), open
        failures, cursors, runs and recorded outcomes."""
        queries = {
            "links": "SELECT COUNT(*) FROM links",
            "pending intents": "SELECT COUNT(*) FROM intents WHERE status = 'pending'",
            "failed records": "SELECT COUNT(*) FROM dead_letters WHERE status IN ('open', 'requeued', 'waiting')",
            "cursors": "SELECT COUNT(*) FROM cursors",
            "runs": "SELECT COUNT(*) FROM runs",
            "outcomes": "SELECT COUNT(*) FROM outcomes",
        }
        return {name: int(self.conn.execute(sql).fetchone()[0]) for name, sql in queries.items()}
