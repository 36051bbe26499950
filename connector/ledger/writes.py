"""What one `Ledger.commit` writes, inside the caller's transaction: outcomes (with their links, intents and dead
letters), links of other flows, child links, source state, history entries, requeued dead letters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from connector.ledger.rows import HistoryEntry
from connector.records import Change, ChildLink, LinkChange, Outcome, SourceState
from connector.redact import redact


def record_changes(conn: sqlite3.Connection, changes: Iterable[Change], now: str) -> None:
    """Upsert or drop links, child links and source state, in their order."""
    for c in changes:
        if isinstance(c, ChildLink):
            _child(conn, c, now)
        elif isinstance(c, SourceState):
            _state(conn, c, now)
        else:
            _link(conn, c, now)


def _link(conn: sqlite3.Connection, c: LinkChange, now: str) -> None:
    if c.target_id is None:
        conn.execute("DELETE FROM links WHERE flow = ? AND source_key = ?", (c.flow, c.key))
        return
    conn.execute(
        "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (flow, source_key) DO UPDATE SET "
        "target_id = excluded.target_id, content_hash = excluded.content_hash, "
        "source_version = excluded.source_version, updated_at = excluded.updated_at",
        (c.flow, c.key, c.target_id, c.content_hash, c.version, now),
    )


def _child(conn: sqlite3.Connection, c: ChildLink, now: str) -> None:
    if c.target_id is None:
        conn.execute(
            "DELETE FROM child_links WHERE flow = ? AND parent_key = ? AND kind = ? AND child_key = ?",
            (c.flow, c.parent, c.kind, c.key),
        )
        return
    conn.execute(
        "INSERT INTO child_links (flow, parent_key, kind, child_key, target_id, state, deadline, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (flow, parent_key, kind, child_key) DO UPDATE SET "
        "target_id = excluded.target_id, state = excluded.state, deadline = excluded.deadline, "
        "updated_at = excluded.updated_at",
        (c.flow, c.parent, c.kind, c.key, c.target_id, c.state, c.deadline, now),
    )


def _state(conn: sqlite3.Connection, c: SourceState, now: str) -> None:
    if c.drop:
        conn.execute(
            "DELETE FROM source_state WHERE flow = ? AND entity = ? AND key = ?", (c.flow, c.entity, c.key)
        )
        return
    conn.execute(
        "INSERT INTO source_state (flow, entity, key, version, pointers, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (flow, entity, key) DO UPDATE SET version = excluded.version, pointers = excluded.pointers, "
        "updated_at = excluded.updated_at",
        (c.flow, c.entity, c.key, c.version, json.dumps(sorted(c.pointers), ensure_ascii=False), now),
    )


def record_history(
    conn: sqlite3.Connection, flow: str, run_id: int | None, history: Iterable[HistoryEntry], now: str
) -> None:
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


def record_outcome(conn: sqlite3.Connection, flow: str, run_id: int | None, o: Outcome, now: str) -> None:
    """An outcome, its own link, its intent and its dead letter."""
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
        applied = o.status == "applied"
        link = LinkChange(
            flow, o.key, o.target_id, o.content_hash if applied else None, o.version if applied else None
        )
        _link(conn, link, now)
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
        return
    conn.execute(
        "UPDATE intents SET status = 'failed', updated_at = ? WHERE idempotency_key = ? AND status = 'pending'",
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
        return
    conn.execute(
        "INSERT INTO dead_letters (flow, source_key, label, reason, status, first_at, last_at, "
        "source_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (flow, o.key, o.label, error or "unknown error", status, now, now, o.version),
    )
