"""The admin guide's list of 1C objects to publish over OData, generated from the shipped mappings.

python -m connector.docs_gen            # rewrite docs/onec-objects.md
python -m connector.docs_gen --check    # exit 1 when the committed file is out of date

Per shipped mapping set (mappings/ for УТ 11.5 and 11.4, mappings/bp30/ for БП 3.0) and per flow: the objects the
flow reads or writes (connector.verify.requirements.onec_entities, the same list `b24-1c verify` checks online),
each with the mapping key that names it, its kind in the 1C publication dialog, and whether the 1C contract
(connector/contracts/onec.yaml) lists it for that profile.
"""

from __future__ import annotations

import sys
from pathlib import Path

from connector.contracts.onec import load_onec
from connector.mapping.schema import Mapping, load_mapping
from connector.verify.requirements import flow_kind, onec_entities

DOC = Path("docs/onec-objects.md")
# (folder of a shipped mapping set, the contract profiles it is for, title)
SETS = (
    ("mappings", ("ut11.5", "ut11.4"), "УТ 11.5 / УТ 11.4 (`mappings/`)"),
    ("mappings/bp30", ("bp3.0",), "БП 3.0 (`mappings/bp30/`)"),
)
_KINDS = {
    "Catalog_": "Справочники (Catalogs)",
    "Document_": "Документы (Documents)",
    "InformationRegister_": "Регистры сведений (Information registers)",
    "AccumulationRegister_": "Регистры накопления (Accumulation registers)",
    "ChartOfCharacteristicTypes_": "Планы видов характеристик",
    "Constant_": "Константы (Constants)",
    "ExchangePlan_": "Планы обмена (Exchange plans)",
}


def kind_of(entity: str) -> str:
    """The branch of the 1C publication dialog ("Состав стандартного интерфейса OData") an object is under."""
    return next((title for prefix, title in _KINDS.items() if entity.startswith(prefix)), "other")


def _load(root: Path, folder: str) -> list[Mapping]:
    return [load_mapping(p) for p in sorted((root / folder).glob("*.yaml"))]


def _listed(entity: str, profiles: tuple[str, ...]) -> str:
    contract = load_onec()
    missing = [p for p in profiles if contract.entity(p, entity) is None]
    return "yes" if not missing else "NOT in " + ", ".join(missing)


def render(root: Path = Path(".")) -> str:
    """The whole generated document (mapping folders read under `root`)."""
    lines = [
        "# 1C objects to publish over OData, per flow",
        "",
        "<!-- Generated from the shipped mappings and connector/contracts/onec.yaml by"
        " `python -m connector.docs_gen`; do not edit by hand. -->",
        "",
        "In the 1C client: *Администрирование → Общие настройки → Интеграция с другими программами →"
        " Настройки стандартного интерфейса OData* (or in Конфигуратор: *Администрирование → Публикация на"
        " веб-сервере*, then the processing *Настройка стандартного интерфейса OData*), tick each object below."
        " Publishing a document does not publish the catalogs it references: tick those too. An object that is not"
        " ticked answers 404 and `b24-1c verify` names it. A customized mapping needs its own objects:"
        " `b24-1c verify` lists them from your mappings.",
        "",
        "'In the 1C contract' says whether connector/contracts/onec.yaml lists the object for the profile"
        " (the emulator refuses everything else).",
        "",
    ]
    for folder, profiles, title in SETS:
        specs = _load(root, folder)
        union: dict[str, str] = {}
        lines += [f"## {title}", ""]
        for spec in specs:
            found = onec_entities(spec)
            if not found:
                lines += [f"### Flow `{spec.flow}` ({flow_kind(spec)})", "", "No 1C object.", ""]
                continue
            lines += [
                f"### Flow `{spec.flow}` ({flow_kind(spec)})",
                "",
                "| Object | Publication dialog branch | Named by (mapping key) | In the 1C contract |",
                "|---|---|---|---|",
            ]
            for entity in sorted(found):
                union.setdefault(entity, kind_of(entity))
                lines.append(
                    f"| `{entity}` | {kind_of(entity)} | `{found[entity]}` | {_listed(entity, profiles)} |"
                )
            lines.append("")
        lines += [f"### All flows of {title}: tick these {len(union)} objects", ""]
        for entity in sorted(union, key=lambda e: (union[e], e)):
            lines.append(f"- [ ] `{entity}` ({union[entity]})")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with --check compare it with the committed one."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is out of date: run python -m connector.docs_gen", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
