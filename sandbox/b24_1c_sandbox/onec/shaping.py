"""How one stored object becomes one OData JSON object: $select, $expand, presentations, navigation links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import EMPTY_REF, Infobase
from b24_1c_sandbox.onec.model import REF_TARGETS, EntityType
from b24_1c_sandbox.onec.posting import presentation
from b24_1c_sandbox.onec.query import Record

PRES = "____Presentation"


@dataclass
class View:
    """How the caller wants objects: select list, expand list, JSON metadata level, service root URL."""

    select: list[str] | None = None
    expand: list[str] | None = None
    meta: str = "minimalmetadata"  # nometadata | minimalmetadata | fullmetadata
    root: str = ""


def target_of(ib: Infobase, etype: EntityType | None, record: Record, nav: str) -> tuple[str, str] | None:
    """(entity set, ref) a navigation name points to in this record, or None for an empty/unknown reference."""
    if f"{nav}_Key" in record:
        target = (etype.refs.get(nav) if etype else None) or REF_TARGETS.get(nav)
        ref = record.get(f"{nav}_Key")
    elif isinstance(record.get(f"{nav}_Type"), str) and record[f"{nav}_Type"].startswith("StandardODATA."):
        target, ref = record[f"{nav}_Type"].removeprefix("StandardODATA."), record.get(nav)
    else:
        return None
    if not target or target not in ib.types or not ref or ref == EMPTY_REF:
        return None
    return target, str(ref)


def resolver(ib: Infobase, entity: str) -> Any:
    """The navigation callback query.py needs for `Контрагент/ИНН` and `cast(X,'Document_Y')/Поле`."""
    etype = ib.types.get(entity)

    def resolve(record: Record, nav: str) -> Record | None:
        found = target_of(ib, etype, record, nav)
        return ib.get(*found) if found else None

    return resolve


def filter_properties(ib: Infobase, entity: str) -> set[str]:
    """Names a $filter may start with: properties, tabular sections, navigation properties."""
    etype = ib.types[entity]
    return etype.property_names() | set(etype.refs)


def filter_types(etype: EntityType) -> dict[str, str]:
    """Edm types a $filter literal is checked against: header properties and `ТЧ/Колонка` of tabular sections."""
    types = dict(etype.properties)
    for table in etype.tables:
        types[f"{table.name}/Ref_Key"] = "Edm.Guid"
        types.update({f"{table.name}/{p}": edm for p, edm in table.properties})
    return types


def check_select(etype: EntityType, select: list[str]) -> None:
    """Unknown names in $select are refused with code 10."""
    names = etype.property_names() | {"Presentation"}
    for item in select:
        if item in ("*", "**", "*" + PRES):
            continue
        head, _, col = item.partition("/")
        base = head.removesuffix(PRES)
        tab = etype.table(head)
        if (base not in names and f"{base}_Key" not in names) or (
            col and (tab is None or col not in tab.property_names())
        ):
            raise ODataError(400, "10", f"Свойство не найдено: {item}")


def _presentation(ib: Infobase, etype: EntityType, record: Record, name: str) -> str:
    found = target_of(ib, etype, record, name)
    if found:
        target = ib.get(*found)
        return presentation(ib, found[0], target) if target else ""
    value = record.get(name)
    return "" if value is None else str(value)


def shape(ib: Infobase, entity: str, record: Record, view: View, depth: int = 0) -> dict[str, Any]:
    """The JSON object for one record under a view."""
    etype = ib.types[entity]
    tables = {t.name for t in etype.tables}
    select = view.select
    out: dict[str, Any] = {}
    if view.meta == "fullmetadata":
        key = f"{entity}(guid'{record['Ref_Key']}')"
        out.update(
            {"odata.type": f"StandardODATA.{entity}", "odata.id": view.root + key, "odata.editLink": key}
        )
    if select is None or "*" in select:
        out.update(record)
    else:
        everything_but_tables = "**" in select
        for name, value in record.items():
            if name in tables:
                cols = [s.split("/", 1)[1] for s in select if s.startswith(name + "/")]
                if name in select:
                    out[name] = value
                elif cols:
                    out[name] = [{c: row.get(c) for c in ["Ref_Key", "LineNumber", *cols]} for row in value]
            elif everything_but_tables or name in select:
                out[name] = value
    if select:
        wanted = [s.removesuffix(PRES) for s in select if s.endswith(PRES) and not s.startswith("*")]
        if "*" + PRES in select:
            wanted += [
                n.removesuffix("_Key") for n, _ in etype.properties if n.endswith("_Key") and n != "Ref_Key"
            ]
        for name in wanted:
            out[f"{name}{PRES}"] = _presentation(ib, etype, record, name)
        if "Presentation" in select:
            out["Presentation"] = presentation(ib, entity, record)
    for item in view.expand or []:
        nav, _, rest = item.partition("/")
        found = target_of(ib, etype, record, nav)
        target = ib.get(*found) if found else None
        inner = View(
            None,
            [rest] if rest and not rest.startswith(("Document_", "Catalog_")) else None,
            view.meta,
            view.root,
        )
        if rest.startswith(("Document_", "Catalog_")) and found and found[0] != rest:
            target = None  # `$expand=X/Document_Y` expands only values of that type
        shaped = shape(ib, found[0], target, inner, depth + 1) if found and target else None
        out[f"{nav}_Expanded" if f"{nav}_Type" in record else nav] = shaped
    if view.meta != "nometadata":
        for nav in etype.refs:
            ref = out.get(f"{nav}_Key")
            if ref and ref != EMPTY_REF:
                out[f"{nav}@navigationLinkUrl"] = f"{entity}(guid'{record['Ref_Key']}')/{nav}"
    return out


def check_expand(ib: Infobase, entity: str, expand: list[str]) -> list[str]:
    """Validate $expand: navigation properties or composites (`*` = all navigation properties)."""
    etype = ib.types[entity]
    out: list[str] = []
    composites = set(etype.composites())
    for item in expand:
        if item == "*":
            out += list(etype.refs)
            continue
        nav = item.split("/", 1)[0]
        if etype.table(nav) is not None:
            raise ODataError(400, "0", f"Раскрытие реквизитов табличной части не поддерживается: {item}")
        if nav not in etype.refs and nav not in composites:
            raise ODataError(400, "10", f"Свойство навигации не найдено: {item}")
        out.append(item)
    return out


def as_written(value: Any) -> Any:
    """Numbers as 1C writes them: an Edm.Double with no fraction is a JSON integer (`10000`, never `10000.0`)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e15 else value
    if isinstance(value, dict):
        return {k: as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_written(v) for v in value]
    return value
