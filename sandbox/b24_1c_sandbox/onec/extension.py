"""Customized bases: custom attributes and tabular sections declared in a profile extension file (YAML).

A real УТ is rarely left as shipped: a configuration change or an extension adds attributes (`ДополнительныйСтатус`,
`ИмяРасширения_Поле` — an extension's own objects carry its name prefix) and tabular sections. 1C publishes them
like any other (DOC §17.4.3: $metadata, reads, writes), so the emulator does too, once they are declared:

    Document_ЗаказКлиента:
      attributes:
        ДополнительныйСтатус: string        # string | number | integer | boolean | date | <entity set>
        Монтажник: Catalog_Пользователи     # a reference: Монтажник_Key (Edm.Guid) and a navigation property
      tables:
        Монтаж:
          Работа: string
          Стоимость: number

Start the emulator with `B24_1C_ONEC_EXTENSION=<file>` (or pass `extension=` to `Infobase`). Properties a body
sends that the object does not have are ignored, as DOC §17.4.13.1 says 1C does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from b24_1c_sandbox.onec.model import Profile, Props, table

ENV = "B24_1C_ONEC_EXTENSION"
TYPES = {
    "string": "Edm.String",
    "number": "Edm.Double",
    "integer": "Edm.Int64",
    "boolean": "Edm.Boolean",
    "date": "Edm.DateTime",
}
_NAME = re.compile(r"^[A-Za-zА-Яа-яЁё_][A-Za-zА-Яа-яЁё0-9_]*$")
_KINDS = ("Catalog_", "Document_", "ChartOfCharacteristicTypes_", "ExchangePlan_")


class ExtensionError(ValueError):
    """A profile extension file the emulator cannot apply; the message names file, line and key."""


def _where(path: Path, node: Any, key: str) -> str:
    line = getattr(getattr(node, "lc", None), "key", lambda _k: None)(key)
    return f"{path}:{line[0] + 1}" if line else str(path)


def _props(
    path: Path, node: Any, owner: str, profile: Profile, taken: set[str]
) -> tuple[Props, dict[str, str]]:
    if not isinstance(node, dict):
        raise ExtensionError(f"{path}: {owner}: expected a mapping of name: type")
    props: Props = []
    refs: dict[str, str] = {}
    for name, kind in node.items():
        where = f"{_where(path, node, name)}: {owner}.{name}"
        if not isinstance(name, str) or not _NAME.match(name) or name.endswith(("_Key", "_Type")):
            raise ExtensionError(
                f"{where}: not a 1C attribute name (letters, digits, _; no _Key/_Type suffix)"
            )
        stored = f"{name}_Key" if str(kind).startswith(_KINDS) else name
        if name in taken or stored in taken:
            raise ExtensionError(f"{where}: the object already has {name}")
        taken.add(stored)
        if kind in TYPES:
            props.append((name, TYPES[kind]))
        elif isinstance(kind, str) and kind.startswith(_KINDS):
            props.append((stored, "Edm.Guid"))
            if kind in profile.types:
                refs[name] = kind
        else:
            known = ", ".join([*TYPES, "<entity set such as Catalog_Контрагенты>"])
            raise ExtensionError(f"{where}: unknown type {kind!r} (known: {known})")
    return props, refs


def apply(profile: Profile, path: Path) -> None:
    """Add the file's attributes and tabular sections to the profile's entity types (in place)."""
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise ExtensionError(f"{path}: cannot read the 1C profile extension: {exc}") from None
    if not isinstance(data, dict):
        raise ExtensionError(f"{path}: expected entity sets (Document_ЗаказКлиента: ...) at the top level")
    for entity, spec in data.items():
        etype = profile.types.get(entity)
        if etype is None:
            close = [n for n in profile.types if n.split("_", 1)[-1][:5] == str(entity).split("_", 1)[-1][:5]]
            hint = f"; similar: {', '.join(close[:5])}" if close else ""
            raise ExtensionError(f"{_where(path, data, entity)}: the profile has no {entity}{hint}")
        if not isinstance(spec, dict) or set(spec) - {"attributes", "tables"}:
            raise ExtensionError(
                f"{_where(path, data, entity)}: {entity}: expected 'attributes' and/or 'tables'"
            )
        taken = etype.property_names()
        props, refs = _props(path, spec.get("attributes") or {}, entity, profile, taken)
        etype.properties.extend(props)
        etype.refs.update(refs)
        for name, columns in (spec.get("tables") or {}).items():
            where = f"{_where(path, spec['tables'], name)}: {entity}.tables.{name}"
            if not isinstance(name, str) or not _NAME.match(name) or name in taken:
                raise ExtensionError(f"{where}: not a new tabular section name")
            taken.add(name)
            cols, _ = _props(path, columns, f"{entity}.{name}", profile, {"Ref_Key", "LineNumber"})
            etype.tables.append(table(name, cols))


def from_environment(profile: Profile) -> None:
    """Apply the extension file named by B24_1C_ONEC_EXTENSION, if any."""
    name = os.environ.get(ENV, "").strip()
    if name:
        apply(profile, Path(name))
