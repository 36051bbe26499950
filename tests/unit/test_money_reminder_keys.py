"""Which to-do on a deal is ours (pure): stamped with our installation and `<order>:due`, else an unstamped one with
our title; its mark is what the ledger would hold, so the rules move or close it instead of adding a twin."""

from __future__ import annotations

from typing import Any

from connector.flows.money.reminders import found_todo, task_xml_id, todo_origin

INST = "1C-abcdef01"
DEADLINE = "2026-03-20T10:00:00+03:00"
TITLE = "Ожидается оплата по заказу ЦБ-1"


def row(id_: int, **kw: Any) -> dict[str, Any]:
    base = {"ID": str(id_), "ORIGINATOR_ID": None, "ORIGIN_ID": None, "SUBJECT": TITLE, "COMPLETED": "N"}
    return {**base, "DEADLINE": "2026-03-20T07:00:00+00:00", **kw}


def test_keys() -> None:
    assert todo_origin("o") == "o:due" and task_xml_id(INST, "o") == f"{INST}:o:overdue"


def test_ours_wins_over_an_unstamped_twin_and_keeps_the_wanted_mark() -> None:
    rows = [row(3), row(5, ORIGINATOR_ID=INST, ORIGIN_ID="o:due")]
    hit = found_todo(rows, INST, "o", TITLE, DEADLINE)
    assert hit is not None and (hit.child.target_id, hit.child.state, hit.child.deadline, hit.stamp) == (
        "5",
        "open",
        DEADLINE,
        False,
    )


def test_an_unstamped_to_do_with_our_title_is_adopted_the_oldest_first() -> None:
    hit = found_todo([row(9), row(4), row(2, SUBJECT="Позвонить")], INST, "o", TITLE, DEADLINE)
    assert hit is not None and (hit.child.target_id, hit.stamp) == ("4", True)


def test_stamped_by_anyone_else_or_for_anything_else_is_never_taken() -> None:
    rows = [
        row(1, ORIGINATOR_ID="1C-other", ORIGIN_ID="o:due"),
        row(2, ORIGINATOR_ID=INST, ORIGIN_ID="p:due"),
        row(3, ORIGIN_ID="o:due"),
        row(4, SUBJECT="Ожидается оплата по заказу ЦБ-2"),
    ]
    assert found_todo(rows, INST, "o", TITLE, DEADLINE) is None


def test_the_mark_makes_the_rules_move_or_close_only_what_differs() -> None:
    ours = {"ORIGINATOR_ID": INST, "ORIGIN_ID": "o:due"}
    moved = found_todo([row(1, DEADLINE="2026-03-25T10:00:00+03:00", **ours)], INST, "o", TITLE, DEADLINE)
    assert moved is not None and moved.child.deadline == "2026-03-25T10:00:00+03:00"  # differs: a move
    to_close = found_todo([row(1, **ours)], INST, "o", TITLE, None)  # paid: no deadline wanted
    assert to_close is not None and to_close.child.state == "open"  # open: the rules close it
    closed = found_todo([row(1, COMPLETED="Y", **ours)], INST, "o", TITLE, None)
    assert closed is not None and (closed.child.state, closed.child.deadline) == (
        "done",
        None,
    )  # nothing to write
    done_by_hand = found_todo([row(1, COMPLETED="Y", **ours)], INST, "o", TITLE, DEADLINE)
    assert done_by_hand is not None and (done_by_hand.child.state, done_by_hand.child.deadline) == (
        "done",
        DEADLINE,
    )  # left as the manager left it
