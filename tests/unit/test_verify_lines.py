"""verify's problems that name a mapping key get its line, as `check` gives it; anything else is left alone."""

from __future__ import annotations

from pathlib import Path

from connector.verify.lines import with_lines
from connector.verify.report import Item

YAML = "flow: orders\nfields:\n  TITLE:\n    source: Number\n  COMMENTS: {source: Комментарий}\n"


def test_a_mapping_key_in_where_or_text_gets_its_line_and_nothing_else_changes(tmp_path: Path) -> None:
    (tmp_path / "orders.yaml").write_text(YAML, encoding="utf-8")
    path = tmp_path / "orders.yaml"
    items = [
        Item(False, "1C has no property 'X'", f"{path}: fields.COMMENTS"),
        Item(False, f"{path}: fields.TITLE: Bitrix24 deal has no field 'TITLE'"),
        Item(False, "the webhook lacks scope 'sale'", f"{path}"),  # no key: left as is
        Item(False, f"{path}: the webhook lacks scope 'sale'"),  # prose, not a key
        Item(False, "no such file", f"{tmp_path / 'other.yaml'}: fields.TITLE"),
        Item(True, f"{path}: fields.TITLE: fine"),  # ok lines are not problems
    ]
    got = [i.line() for i in with_lines(items, tmp_path)]
    assert got == [
        f"[FIX] {path}:5: fields.COMMENTS: 1C has no property 'X'",
        f"[FIX] {path}:3: fields.TITLE: Bitrix24 deal has no field 'TITLE'",
        f"[FIX] {path}: the webhook lacks scope 'sale'",
        f"[FIX] {path}: the webhook lacks scope 'sale'",
        f"[FIX] {tmp_path / 'other.yaml'}: fields.TITLE: no such file",
        f"[ok ] {path}: fields.TITLE: fine",
    ]
