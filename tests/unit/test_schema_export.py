"""The shipped JSON Schema of mappings is the one the code exports, and shipped files point at it."""

from __future__ import annotations

import json
from pathlib import Path

from connector.mapping.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code() -> None:
    shipped = json.loads((ROOT / "docs" / "mapping.schema.json").read_text(encoding="utf-8"))
    assert shipped == json_schema(), "run: b24-1c schema --output docs/mapping.schema.json"


def test_shipped_mappings_reference_the_schema() -> None:
    for path in (ROOT / "mappings").glob("*.yaml"):
        assert path.read_text(encoding="utf-8").startswith(
            "# yaml-language-server: $schema=../docs/mapping.schema.json"
        )
