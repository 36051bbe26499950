"""Side-flow links (payments of an order, tracked documents, to-dos) are written by `Ledger.commit` with the page's
outcomes, in their order, in the same transaction; nothing else in the money flow writes the ledger."""

from __future__ import annotations

from pathlib import Path

from connector.ledger import Ledger
from connector.records import LinkChange, Outcome


def test_link_changes_are_committed_with_the_outcomes_in_their_order(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite3")
    ledger.commit("money:payments", None, [], links=[LinkChange("money:payments", "doc:1", "?", parent="o1")])
    moved = (
        LinkChange("money:payments", "doc:1", None),  # an old announcement dropped…
        LinkChange("money:payments", "doc:1", "77", "h1", "o1"),  # …and the real payment linked, same commit
        LinkChange("money:todo", "o1", "5", "2026-03-15T10:00:00+03:00", "12"),
    )
    seen = (LinkChange("money:docs", "doc", "o1", "Document_X", version="AAA"),)
    ledger.commit("money", None, [Outcome("o1", "update", "applied", "12", "h", links=moved)], links=seen)
    assert ledger.children("money:payments", ["o1"])["o1"][0].target_id == "77"
    assert ledger.links("money:todo", ["o1"])["o1"].content_hash == "2026-03-15T10:00:00+03:00"
    doc = ledger.links("money:docs", ["doc"])["doc"]
    assert (doc.target_id, doc.content_hash, doc.source_version) == ("o1", "Document_X", "AAA")
    ledger.commit("money", None, [], links=[LinkChange("money:docs", "doc", None)])
    assert ledger.links("money:docs", ["doc"]) == {}
    ledger.close()
