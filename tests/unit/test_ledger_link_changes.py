"""Child links (an order's payments, to-do, task) and source state (tracked documents, watched orders) live in typed
tables, are written only by `Ledger.commit` with the page's outcomes, in their order, in the same transaction; a
ledger of an older schema has its sentinel rows in `links` moved over by the migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from connector.ledger import MIGRATIONS, Child, Ledger, State
from connector.records import ChildLink, LinkChange, Outcome, SourceState

DEADLINE = "2026-03-15T10:00:00+03:00"


def test_child_links_and_source_state_are_committed_with_the_outcomes_in_their_order(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    ledger.commit("money", None, [], links=[ChildLink("money", "o1", "payment", "doc:1", "70", "h0")])
    moved = (
        ChildLink("money", "o1", "payment", "doc:1", None),  # dropped…
        ChildLink("money", "o1", "payment", "doc:1", "77", "h1"),  # …and linked again, same commit
        ChildLink("money", "o1", "todo", "due", "5", "open", DEADLINE),
    )
    seen = (SourceState("money:docs", "Document_X", "doc", "AAA", ("o1", "o2")),)
    ledger.commit("money", None, [Outcome("o1", "update", "applied", "12", "h", links=moved)], links=seen)
    assert ledger.child_links("money", ["o1", "o9"]) == {
        "o1": [
            Child("o1", "payment", "doc:1", "77", "h1"),
            Child("o1", "todo", "due", "5", "open", DEADLINE),
        ],
        "o9": [],
    }
    assert ledger.source_state("money:docs", "Document_X", ["doc"]) == {
        "doc": State("doc", "AAA", ("o1", "o2"))
    }
    assert ledger.source_state("money:docs", "Document_Y", ["doc"]) == {}  # state is kept per entity set
    ledger.commit("money", None, [], links=[SourceState("money:docs", "Document_X", "doc", drop=True)])
    assert ledger.source_state("money:docs", "Document_X") == {}
    assert (
        ledger.links("money", ["o1"])["o1"].target_id == "12"
    )  # the outcome's own link, nothing else in links
    assert ledger.link_count("money") == 1
    ledger.close()


def test_a_failing_commit_leaves_no_child_link_and_no_source_state(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    bad = Outcome(
        "o1", "update", "applied", "12", "h", links=(ChildLink("money", "o1", "task", "overdue", "3"),)
    )
    with pytest.raises(TypeError):  # a cursor that cannot be stored fails the whole transaction
        ledger.commit(
            "money", None, [bad], ("money", object()), links=[SourceState("money:due", "order", "o1", "2026")]
        )
    assert ledger.child_links("money", ["o1"]) == {"o1": []}
    assert ledger.source_state("money:due", "order") == {}
    ledger.close()


def old_ledger(path: Path) -> None:
    """A ledger at schema 4 (the release before typed tables) holding every sentinel the money flow wrote."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for version, (name, sql) in enumerate(MIGRATIONS[:4], start=1):
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
        conn.execute("INSERT INTO migrations VALUES (?, ?, 'x')", (version, name))
    rows = [
        ("orders", "o1", "12", "h", "v1", None),
        ("money", "o1", "12", "hm", "v1", None),
        ("money:payments", "r1:1", "301", "ph", None, "o1"),
        ("money:payments", "r2:1", "?", None, None, "o1"),  # an announcement of an older release
        ("money:todo", "o1", "5", DEADLINE, None, "12"),
        ("money:todo", "o2", "6", "done", None, "13"),
        ("money:todo", "o3", "7", "unstamped", None, "14"),
        ("money:overdue", "o1", "9", "2026-03-20", None, "12"),
        ("money:due", "o1", "12", "2026-03-20", None, None),
        ("money:due", "o2", "-", "2026-03-19", None, None),
        ("money:docs", "d1", "o1,s:g1", "Document_ПоступлениеБезналичныхДенежныхСредств", "AAA", None),
        ("money:docs", "d2", "-", "Document_РеализацияТоваровУслуг", "BBB", None),
        ("invoices:docs", "d3", "o2", "Document_СчетНаОплатуКлиенту", "CCC", None),
    ]
    conn.executemany(
        "INSERT INTO links (flow, source_key, target_id, content_hash, source_version, updated_at, parent) "
        "VALUES (?, ?, ?, ?, ?, 'x', ?)",
        rows,
    )
    conn.commit()
    conn.close()


def test_the_migration_moves_sentinel_links_into_typed_tables(tmp_path: Path) -> None:
    old_ledger(tmp_path / "old.sqlite3")
    ledger = Ledger(tmp_path / "old.sqlite3")
    assert ledger.schema_version == len(MIGRATIONS)
    assert ledger.child_links("money", ["o1", "o2", "o3"]) == {
        "o1": [
            Child("o1", "payment", "r1:1", "301", "ph"),  # the "?" announcement is gone
            Child("o1", "task", "overdue", "9", "open"),
            Child("o1", "todo", "due", "5", "open", DEADLINE),
        ],
        "o2": [Child("o2", "todo", "due", "6", "done")],
        "o3": [Child("o3", "todo", "due", "7", "unstamped")],
    }
    assert ledger.source_state("money:due", "order") == {
        "o1": State("o1", "2026-03-20"),
        "o2": State("o2", "2026-03-19"),
    }
    receipts = ledger.source_state("money:docs", "Document_ПоступлениеБезналичныхДенежныхСредств")
    assert receipts == {"d1": State("d1", "AAA", ("o1", "s:g1"))}
    assert ledger.source_state("money:docs", "Document_РеализацияТоваровУслуг") == {
        "d2": State("d2", "BBB", ())
    }
    assert ledger.source_state("invoices:docs", "Document_СчетНаОплатуКлиенту")["d3"].pointers == ("o2",)
    flows = {r[0] for r in ledger.conn.execute("SELECT DISTINCT flow FROM links")}
    assert flows == {"orders", "money"}  # no sentinel rows left behind
    assert "parent" not in {r[1] for r in ledger.conn.execute("PRAGMA table_info(links)")}
    ledger.close()


def test_link_changes_still_upsert_and_drop_a_flows_links(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    ledger.commit("orders", None, [], links=[LinkChange("orders", "a", "1", "h", version="v")])
    assert ledger.links("orders", ["a"])["a"].content_hash == "h"
    ledger.commit("orders", None, [], links=[LinkChange("orders", "a", None)])
    assert ledger.links("orders", ["a"]) == {}
    ledger.close()


def test_retry_requeues_through_the_one_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    ledger.commit("orders", None, [Outcome("x", "create", "failed", error="boom")])
    commits: list[tuple[str, list[int]]] = []
    real = Ledger.commit

    def counted(self: Ledger, flow: str, *args: object, **kwargs: object) -> None:
        commits.append((flow, list(kwargs.get("requeue", ()))))  # type: ignore[call-overload]
        real(self, flow, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Ledger, "commit", counted)
    (letter,) = ledger.requeue("orders")
    assert commits == [("orders", [letter.id])] and ledger.requeued("orders") == ["x"]
    ledger.close()
