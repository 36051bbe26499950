"""The SQLite idempotency ledger: links, child links, source state, intents, cursors, runs, outcomes, dead letters
and history.

Nothing but `begin` (intents) and `commit` writes what a flow relies on: outcomes, links, child links, source state,
history and the cursor they cover are committed in one transaction, and the admin commands (`retry`, `reconcile
--repair`) go through the same `commit`. WAL mode, so readers (`b24-1c failed`)
never block the writer. Secrets never reach it: errors are redacted before they are stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from connector.clock import Clock, SystemClock
from connector.ledger.rows import Child, DeadLetter, HistoryEntry, Intent, Link, State
from connector.ledger.schema import MIGRATIONS, ledger_problem
from connector.ledger.writes import record_changes, record_history, record_outcome
from connector.records import Action, Change, Outcome

BUSY_TIMEOUT = 30.0  # seconds a writer waits for another thread's transaction before giving up


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

    def _rows_in(self, sql: str, flow: str, values: Iterable[str], *more: str) -> Iterator[sqlite3.Row]:
        """Rows of `sql` (one `IN ({marks})` placeholder after `flow = ?` and the `more` values), 500 per query."""
        values = list(values)
        for i in range(0, len(values), 500):
            part = values[i : i + 500]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), (flow, *more, *part))

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

    def child_links(self, flow: str, parents: Iterable[str]) -> dict[str, list[Child]]:
        """The objects made under each parent record (an order's payments, to-do, task), in one query per 500."""
        parents = list(parents)
        out: dict[str, list[Child]] = {p: [] for p in parents}
        sql = (
            "SELECT parent_key, kind, child_key, target_id, state, deadline FROM child_links "
            "WHERE flow = ? AND parent_key IN ({marks}) ORDER BY parent_key, kind, child_key"
        )
        for r in self._rows_in(sql, flow, parents):
            out[r[0]].append(Child(r[0], r[1], r[2], r[3], r[4], r[5]))
        return out

    def child_count(self, flow: str, kind: str) -> int:
        sql = "SELECT COUNT(*) FROM child_links WHERE flow = ? AND kind = ?"
        return int(self.conn.execute(sql, (flow, kind)).fetchone()[0])

    def source_state(self, flow: str, entity: str, keys: Iterable[str] | None = None) -> dict[str, State]:
        """What a source remembers about these keys of an entity (None: all of them, for deletion scans)."""
        if keys is None:
            rows: Iterable[sqlite3.Row] = self.conn.execute(
                "SELECT key, version, pointers FROM source_state WHERE flow = ? AND entity = ? ORDER BY key",
                (flow, entity),
            )
        else:
            sql = "SELECT key, version, pointers FROM source_state WHERE flow = ? AND entity = ? AND key IN ({marks})"
            rows = self._rows_in(sql, flow, keys, entity)
        return {r[0]: State(r[0], r[1], tuple(json.loads(r[2]))) for r in rows}

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
        links: Iterable[Change] = (),
        history: Iterable[HistoryEntry] = (),
        requeue: Iterable[int] = (),
    ) -> None:
        """Record outcomes, links, child links, source state, history, intents, dead letters and (optionally) a
        named cursor in ONE transaction.

        `extra_links` are (flow, source key, target id) links of another flow that must exist exactly when these
        outcomes do (an order created from a deal is, for the 1C → Bitrix24 flow, already linked to that deal).
        `links` are what the source must remember once these outcomes are recorded (documents a tracker saw, the
        day an order was last looked at) or an admin's link changes; each outcome's own `links` (its child links)
        are written too. `requeue` names dead letters a human sent back for another try (`b24-1c retry`).
        """
        now = self._now()
        outcomes = list(outcomes)
        with self.transaction() as conn:
            record_changes(conn, [*links, *(link for o in outcomes for link in o.links)], now)
            record_history(conn, flow, run_id, history, now)
            for other, key, target in extra_links:
                conn.execute(
                    "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, "
                    "updated_at) VALUES (?, ?, ?, NULL, NULL, ?) ON CONFLICT (flow, source_key) DO "
                    "UPDATE SET target_id = excluded.target_id, updated_at = excluded.updated_at",
                    (other, key, target, now),
                )
            for o in outcomes:
                record_outcome(conn, flow, run_id, o, now)
            conn.executemany(
                "UPDATE dead_letters SET status = 'requeued', last_at = ? WHERE id = ? AND status = 'open'",
                [(now, i) for i in requeue],
            )
            if cursor is not None:
                conn.execute(
                    "INSERT INTO cursors VALUES (?, ?, ?) ON CONFLICT (flow) DO UPDATE SET "
                    "value = excluded.value, updated_at = excluded.updated_at",
                    (cursor[0], json.dumps(cursor[1], ensure_ascii=False), now),
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

    def last_ok_start(self, flow: str, kind: str) -> str | None:
        """When the flow's latest run of this kind that ended ok started (ISO), or None."""
        row = self.conn.execute(
            "SELECT started_at FROM runs WHERE flow = ? AND kind = ? AND status = 'ok' ORDER BY id DESC LIMIT 1",
            (flow, kind),
        ).fetchone()
        return str(row[0]) if row else None

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
        """Mark open dead letters for retry (through `commit`); the next run of their flow re-reads them first."""
        letters = [d for d in self.dead_letters(flow) if not ids or d.id in ids]
        if letters:
            self.commit(flow or letters[0].flow, None, [], requeue=[d.id for d in letters])
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
        """What `b24-1c status` shows: links, child links, source state, creates still pending (settled intents are
        history, not work), open failures, cursors, runs and recorded outcomes."""
        queries = {
            "links": "SELECT COUNT(*) FROM links",
            "child links": "SELECT COUNT(*) FROM child_links",
            "source state": "SELECT COUNT(*) FROM source_state",
            "pending intents": "SELECT COUNT(*) FROM intents WHERE status = 'pending'",
            "failed records": "SELECT COUNT(*) FROM dead_letters WHERE status IN ('open', 'requeued', 'waiting')",
            "cursors": "SELECT COUNT(*) FROM cursors",
            "runs": "SELECT COUNT(*) FROM runs",
            "outcomes": "SELECT COUNT(*) FROM outcomes",
        }
        return {name: int(self.conn.execute(sql).fetchone()[0]) for name, sql in queries.items()}
