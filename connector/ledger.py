"""The SQLite idempotency ledger: links, intents, cursors, runs, outcomes and dead letters.

Outcomes and the cursor they cover are committed in one transaction. WAL mode, so readers (`b24-1c failed`)
never block the writer. Secrets never reach it: errors are redacted before they are stored.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from connector.clock import Clock, SystemClock
from connector.records import Action, Outcome
from connector.redact import redact

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
]


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
    """One SQLite file per connector installation."""

    def __init__(self, path: Path | str, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.db = sqlite_utils.Database(self.conn)
        self.migrate()

    def close(self) -> None:
        self.conn.close()

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
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

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

    def forget(self, flow: str, keys: Iterable[str]) -> None:
        """Drop links whose source records are gone."""
        with self.transaction() as conn:
            conn.executemany("DELETE FROM links WHERE flow = ? AND source_key = ?", ((flow, k) for k in keys))

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

    def put_links(
        self, flow: str, rows: Iterable[tuple[str, str, str | None, str | None]], drop: Iterable[str] = ()
    ) -> None:
        """Write (key, target id, hash, parent) links and drop others, in one transaction (detail records)."""
        now = self._now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, "
                "updated_at, parent) VALUES (?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (flow, source_key) DO "
                "UPDATE SET target_id = excluded.target_id, content_hash = excluded.content_hash, "
                "updated_at = excluded.updated_at, parent = excluded.parent",
                ((flow, k, t, h, now, p) for k, t, h, p in rows),
            )
            conn.executemany("DELETE FROM links WHERE flow = ? AND source_key = ?", ((flow, k) for k in drop))

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
    ) -> None:
        """Record outcomes, links, intents, dead letters and (optionally) a named cursor in ONE transaction.

        `extra_links` are (flow, source key, target id) links of another flow that must exist exactly when these
        outcomes do (an order created from a deal is, for the 1C → Bitrix24 flow, already linked to that deal).
        """
        now = self._now()
        with self.transaction() as conn:
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
        """Source versions at which open dead letters failed: unchanged records are not retried by themselves."""
        sql = (
            "SELECT source_key, source_version FROM dead_letters WHERE flow = ? AND status = 'open' "
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
        """Row counts of every table, for `b24-1c status`."""
        return {
            t: int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
            for t in ("links", "intents", "cursors", "runs", "outcomes", "dead_letters")
        }
