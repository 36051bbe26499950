"""The ledger's schema, as numbered migrations (each applied once, in its own transaction), and what a user must do
when the file cannot be used."""

from __future__ import annotations

import errno
from pathlib import Path

from connector.errors import ConfigError, ConnectorError, LedgerError

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
    (
        "typed child links and source state instead of sentinel strings in links",
        """
        CREATE TABLE child_links (
            flow TEXT NOT NULL, parent_key TEXT NOT NULL, kind TEXT NOT NULL, child_key TEXT NOT NULL,
            target_id TEXT NOT NULL, state TEXT, deadline TEXT, updated_at TEXT NOT NULL,
            PRIMARY KEY (flow, parent_key, kind, child_key));
        CREATE INDEX child_links_target ON child_links (flow, kind, target_id);
        CREATE TABLE source_state (
            flow TEXT NOT NULL, entity TEXT NOT NULL, key TEXT NOT NULL, version TEXT,
            pointers TEXT NOT NULL DEFAULT '[]', updated_at TEXT NOT NULL,
            PRIMARY KEY (flow, entity, key));
        INSERT INTO child_links
            SELECT substr(flow, 1, length(flow) - 9), parent, 'payment', source_key, target_id, content_hash, NULL,
                   updated_at
            FROM links WHERE flow LIKE '%:payments' AND parent IS NOT NULL AND target_id != '?';
        INSERT INTO child_links
            SELECT substr(flow, 1, length(flow) - 5), source_key, 'todo', 'due', target_id,
                   CASE WHEN content_hash IN ('done', 'unstamped') THEN content_hash ELSE 'open' END,
                   CASE WHEN content_hash IN ('done', 'unstamped') THEN NULL ELSE content_hash END, updated_at
            FROM links WHERE flow LIKE '%:todo' AND target_id NOT IN ('', '?', 'None');
        INSERT INTO child_links
            SELECT substr(flow, 1, length(flow) - 8), source_key, 'task', 'overdue', target_id, 'open', NULL,
                   updated_at
            FROM links WHERE flow LIKE '%:overdue' AND target_id NOT IN ('', '?', 'None');
        INSERT INTO source_state
            SELECT flow, 'order', source_key, content_hash, '[]', updated_at FROM links WHERE flow LIKE '%:due';
        INSERT INTO source_state
            SELECT flow, COALESCE(content_hash, ''), source_key, source_version,
                   CASE WHEN target_id IN ('', '-') THEN '[]' ELSE '["' || replace(target_id, ',', '","') || '"]' END,
                   updated_at
            FROM links WHERE flow LIKE '%:docs';
        DELETE FROM links WHERE flow LIKE '%:payments' OR flow LIKE '%:todo' OR flow LIKE '%:overdue'
            OR flow LIKE '%:due' OR flow LIKE '%:docs';
        DROP INDEX links_parent;
        ALTER TABLE links DROP COLUMN parent
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
