"""The ledger: migrations, intents, links, dead letters, and outcomes + cursor in one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from connector.ledger import MIGRATIONS, Ledger
from connector.records import Action, Mapped, Outcome


def mapped(key: str, title: str = "t") -> Mapped:
    return Mapped(key=key, version="v1", fields={"TITLE": title}, label=f"order {key}")


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "state" / "ledger.sqlite3")


def test_migrations_run_once_and_wal_is_on(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    first = Ledger(path)
    latest = len(MIGRATIONS)
    assert first.schema_version == latest
    first.close()
    again = Ledger(path)
    assert again.schema_version == latest
    assert again.conn.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == latest
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_old_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT "
        "NOT NULL);" + MIGRATIONS[0][1] + ";INSERT INTO migrations VALUES (1, 'initial', 'x');"
        "INSERT INTO dead_letters (flow, source_key, reason, first_at, last_at) VALUES "
        "('orders', 'k', 'r', 'x', 'x');"
    )
    conn.commit()
    conn.close()
    ledger = Ledger(path)
    assert ledger.schema_version == len(MIGRATIONS)
    assert ledger.dead_letters("orders")[0].reason == "r"  # data kept
    ledger.commit("orders", None, [Outcome("k", "create", "failed", version="v9", error="again")])
    assert ledger.failed_versions("orders", ["k"]) == {"k": "v9"}


def test_create_is_pending_until_its_outcome_is_committed(ledger: Ledger) -> None:
    ledger.begin("orders", None, [Action("create", mapped("a")), Action("update", mapped("b"), "9")])
    assert [i.source_key for i in ledger.pending("orders")] == ["a"]  # updates are idempotent: no intent
    ledger.commit("orders", None, [Outcome("a", "create", "applied", "101", "h1", "v1")])
    assert ledger.pending("orders") == []
    link = ledger.links("orders", ["a"])["a"]
    assert (link.target_id, link.content_hash, link.source_version) == ("101", "h1", "v1")


def test_outcomes_and_cursor_commit_together_or_not_at_all(ledger: Ledger) -> None:
    ledger.begin("orders", None, [Action("create", mapped("a"))])
    unserialisable = object()
    with pytest.raises(TypeError):
        ledger.commit(
            "orders",
            None,
            [Outcome("a", "create", "applied", "101", "h", "v")],
            ("orders:backfill", unserialisable),
        )
    assert ledger.links("orders", ["a"]) == {}
    assert [i.source_key for i in ledger.pending("orders")] == ["a"]
    assert ledger.cursor("orders:backfill") is None
    ledger.commit(
        "orders", None, [Outcome("a", "create", "applied", "101", "h", "v")], ("orders:backfill", {"p": 1})
    )
    assert ledger.cursor("orders:backfill") == {"p": 1}
    assert "a" in ledger.links("orders", ["a"])


def test_failure_becomes_a_dead_letter_and_retry_cycle(ledger: Ledger) -> None:
    ledger.commit(
        "orders", 1, [Outcome("x", "create", "failed", error="Цена: expected a number", label="ЦБ-1")]
    )
    letters = ledger.dead_letters("orders")
    assert [(d.source_key, d.reason, d.attempts) for d in letters] == [("x", "Цена: expected a number", 1)]
    ledger.commit("orders", 2, [Outcome("x", "create", "failed", error="again", label="ЦБ-1")])
    assert ledger.dead_letters("orders")[0].attempts == 2
    assert [d.source_key for d in ledger.requeue("orders")] == ["x"]
    assert ledger.requeued("orders") == ["x"] and ledger.dead_letters("orders") == []
    ledger.commit("orders", 3, [Outcome("x", "create", "failed", error="third", label="ЦБ-1")])
    reopened = ledger.dead_letters("orders")
    assert len(reopened) == 1 and reopened[0].attempts == 3 and reopened[0].reason == "third"
    ledger.commit("orders", 4, [Outcome("x", "create", "applied", "5", "h", "v")])
    assert ledger.dead_letters("orders") == [] and ledger.requeued("orders") == []


def test_partial_write_keeps_the_link_without_hash(ledger: Ledger) -> None:
    """A deal created whose rows failed must be updated next time, never created again."""
    ledger.commit("orders", None, [Outcome("a", "create", "failed", "77", error="product rows: bad")])
    link = ledger.links("orders", ["a"])["a"]
    assert link.target_id == "77" and link.content_hash is None
    assert len(ledger.dead_letters("orders")) == 1


def test_errors_are_redacted_before_storage(ledger: Ledger) -> None:
    ledger.commit(
        "orders",
        None,
        [Outcome("a", "create", "failed", error="POST https://p/rest/1/secretcode42/batch: 500")],
    )
    raw = ledger.conn.execute("SELECT reason FROM dead_letters").fetchone()[0]
    raw2 = ledger.conn.execute("SELECT message FROM outcomes").fetchone()[0]
    assert "secretcode42" not in raw and "secretcode42" not in raw2


def test_runs_and_counts(ledger: Ledger) -> None:
    run = ledger.start_run("orders", "backfill")
    ledger.finish_run(run, "ok", {"created": 3})
    assert ledger.last_runs(1)[0]["status"] == "ok"
    assert ledger.counts()["runs"] == 1


def test_a_second_writer_waits_instead_of_corrupting(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    a, b = Ledger(path), Ledger(path)
    a.conn.execute("BEGIN IMMEDIATE")
    b.conn.execute("PRAGMA busy_timeout = 50")
    with pytest.raises(sqlite3.OperationalError):
        b.commit("orders", None, [Outcome("z", "create", "applied", "1", "h", "v")])
    a.conn.execute("ROLLBACK")
    b.commit("orders", None, [Outcome("z", "create", "applied", "1", "h", "v")])
    assert "z" in a.links("orders", ["z"])
