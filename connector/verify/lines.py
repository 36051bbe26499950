"""Part of `b24-1c verify`: a problem that names a mapping file and key (`mappings/orders.yaml: fields.X: …`) gets
the key's line, `mappings/orders.yaml:37: fields.X: …`, as `check` gives it (connector.yamlio.line_of)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from connector.errors import ConfigError
from connector.verify.report import Item
from connector.yamlio import line_of, load_yaml

_KEYED = re.compile(r"^(?P<file>[^\s:]*?(?P<name>[^\s:/\\]+\.yaml)): (?P<key>[^\s:]+)(?=:|$)")


def with_lines(items: list[Item], mappings_dir: Path) -> list[Item]:
    """The items, each problem naming a key of a mapping file in `mappings_dir` given that key's line."""
    roots: dict[str, Any] = {}

    def located(text: str) -> str:
        found = _KEYED.match(text)
        if found is None or not (mappings_dir / found["name"]).is_file():
            return text
        name = found["name"]
        if name not in roots:
            try:
                roots[name] = load_yaml(mappings_dir / name)
            except ConfigError:
                roots[name] = None  # unreadable: the problem stays as it was
        path = tuple(int(p) if p.isdigit() else p for p in found["key"].split("."))
        line = line_of(roots[name], path) if roots[name] is not None else None
        return f"{text[: found.end('file')]}:{line}{text[found.end('file') :]}" if line else text

    out = []
    for item in items:
        if not item.ok and item.where:
            item = replace(item, where=located(item.where))
        elif not item.ok:
            item = replace(item, text=located(item.text))
        out.append(item)
    return out
