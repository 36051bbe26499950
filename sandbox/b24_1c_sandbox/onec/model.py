"""The 1C entity model the emulator serves: entity sets, their properties (with Edm types) and tabular sections.

One model feeds both the data and $metadata, so a name that differs between profiles differs everywhere.
The configurations themselves (УТ 11.5, УТ 11.4, БП 3.0) live in `profiles.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Props = list[tuple[str, str]]

DOC_STANDARD: Props = [
    ("Ref_Key", "Edm.Guid"),
    ("DataVersion", "Edm.String"),
    ("DeletionMark", "Edm.Boolean"),
    ("Number", "Edm.String"),
    ("Date", "Edm.DateTime"),
    ("Posted", "Edm.Boolean"),
]
CAT_STANDARD: Props = [
    ("Ref_Key", "Edm.Guid"),
    ("DataVersion", "Edm.String"),
    ("DeletionMark", "Edm.Boolean"),
    ("Code", "Edm.String"),
    ("Description", "Edm.String"),
    ("Parent_Key", "Edm.Guid"),
    ("IsFolder", "Edm.Boolean"),
]
CAT_TAIL: Props = [("Predefined", "Edm.Boolean"), ("PredefinedDataName", "Edm.String")]
PLAN_STANDARD: Props = [
    ("Ref_Key", "Edm.Guid"),
    ("DataVersion", "Edm.String"),
    ("DeletionMark", "Edm.Boolean"),
    ("Code", "Edm.String"),
    ("Description", "Edm.String"),
    ("SentNo", "Edm.Int64"),
    ("ReceivedNo", "Edm.Int64"),
]

# Where a `<X>_Key` attribute points; a navigation property exists only when the target is in the model.
REF_TARGETS = {
    "Организация": "Catalog_Организации",
    "Партнер": "Catalog_Партнеры",
    "Контрагент": "Catalog_Контрагенты",
    "ГоловнойКонтрагент": "Catalog_Контрагенты",
    "Валюта": "Catalog_Валюты",
    "ВалютаВзаиморасчетов": "Catalog_Валюты",
    "Менеджер": "Catalog_Пользователи",
    "ОсновнойМенеджер": "Catalog_Пользователи",
    "Автор": "Catalog_Пользователи",
    "Договор": "Catalog_ДоговорыКонтрагентов",
    "ДоговорКонтрагента": "Catalog_ДоговорыКонтрагентов",
    "ОсновнойДоговорКонтрагента": "Catalog_ДоговорыКонтрагентов",
    "ОбъектРасчетов": "Catalog_ОбъектыРасчетов",
    "СтавкаНДС": "Catalog_СтавкиНДС",
    "Номенклатура": "Catalog_Номенклатура",
    "ЕдиницаИзмерения": "Catalog_УпаковкиЕдиницыИзмерения",
    "Упаковка": "Catalog_УпаковкиЕдиницыИзмерения",
    "НаборУпаковок": "Catalog_НаборыУпаковок",
    "СчетНаОплату": "Document_СчетНаОплатуПокупателю",
}


@dataclass
class Table:
    """A tabular section: its row properties (LineNumber first)."""

    name: str
    properties: Props

    def property_names(self) -> set[str]:
        return {"Ref_Key", *(p for p, _ in self.properties)}


@dataclass
class EntityType:
    """An entity set: standard fields, attributes, tabular sections, and where references point."""

    name: str
    properties: Props
    tables: list[Table] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # navigation name -> target entity set
    postable: bool = False
    synonym: str = ""  # how 1C presents an object of this type ("Заказ клиента")

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]

    def property_names(self) -> set[str]:
        return {p for p, _ in self.properties} | {t.name for t in self.tables}

    def edm(self, name: str) -> str | None:
        """The Edm type of a header property, or None."""
        for pname, edm in self.properties:
            if pname == name:
                return edm
        return None

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)

    def composites(self) -> list[str]:
        """Names of composite attributes (those with an `X_Type` companion)."""
        names = {p for p, _ in self.properties}
        return [p[:-5] for p, _ in self.properties if p.endswith("_Type") and p[:-5] in names]


@dataclass
class Register:
    """An accumulation register: dimensions (with Edm types) and numeric resources."""

    name: str
    dimensions: Props
    resources: list[str]

    def record_properties(self) -> Props:
        """Properties of one record (`_RecordType`), in 1C's order."""
        head: Props = [
            ("Recorder", "Edm.String"),
            ("Recorder_Type", "Edm.String"),
            ("Period", "Edm.DateTime"),
            ("LineNumber", "Edm.Int64"),
            ("Active", "Edm.Boolean"),
            ("RecordType", "Edm.String"),
        ]
        return head + self.dimensions + [(r, "Edm.Double") for r in self.resources]

    def dimension_names(self) -> list[str]:
        return [d for d, _ in self.dimensions if not d.endswith("_Type")]


@dataclass
class Profile:
    """A configuration: its entity model, registers, and which set plays which business role."""

    name: str
    types: dict[str, EntityType]
    registers: dict[str, Register]
    roles: dict[str, str]  # role (order, invoice, bank_receipt, ...) -> entity set
    settlement: str  # how a payment row points at what it settles: "ОбъектРасчетов", "Заказ", "СчетНаОплату"
    vat: str  # "catalog" (СтавкаНДС_Key) or "enum" (СтавкаНДС = "НДС20")
    legal_form: tuple[str, str, str]  # attribute, company value, individual value
    exchange_plan: str = "ExchangePlan_ДляCRM"


def ref(*names: str) -> Props:
    """Single-type reference attributes: `X_Key` Edm.Guid."""
    return [(f"{n}_Key", "Edm.Guid") for n in names]


def composite(name: str) -> Props:
    """A composite attribute: value and `_Type`, both Edm.String."""
    return [(name, "Edm.String"), (f"{name}_Type", "Edm.String")]


def typed(edm: str, *names: str) -> Props:
    return [(n, edm) for n in names]


def strings(*names: str) -> Props:
    return typed("Edm.String", *names)


def doubles(*names: str) -> Props:
    return typed("Edm.Double", *names)


def table(name: str, props: Props) -> Table:
    return Table(name, [("LineNumber", "Edm.Int64"), *props])


def _refs(props: Props, self_name: str, extra: dict[str, str] | None) -> dict[str, str]:
    out = {}
    for pname, edm in props:
        if pname.endswith("_Key") and edm == "Edm.Guid" and pname != "Ref_Key":
            nav = pname[:-4]
            target = self_name if nav == "Parent" else (extra or {}).get(nav, REF_TARGETS.get(nav))
            if target:
                out[nav] = target
    return out


def document(
    name: str, synonym: str, attrs: Props, tables: list[Table] | None = None, postable: bool = True
) -> EntityType:
    """A document type; composite `_Type` tags are kept in attrs but served after the tabular sections."""
    props = DOC_STANDARD + attrs
    return EntityType(name, props, tables or [], _refs(props, name, None), postable, synonym)


def catalog(name: str, synonym: str, attrs: Props, owner: str | None = None) -> EntityType:
    """A catalog type (Owner_Key when it is subordinate to another catalog)."""
    props = CAT_STANDARD + (ref("Owner") if owner else []) + attrs + CAT_TAIL
    return EntityType(
        name, props, [], _refs(props, name, {"Owner": owner} if owner else None), False, synonym
    )


def exchange_plan(name: str, synonym: str) -> EntityType:
    return EntityType(name, PLAN_STANDARD + CAT_TAIL[:1], [], {}, False, synonym)


def finish(types: list[EntityType]) -> dict[str, EntityType]:
    """Index by name and drop navigation properties whose target is not part of this model."""
    index = {t.name: t for t in types}
    for t in types:
        t.refs = {nav: target for nav, target in t.refs.items() if target in index}
    return index


def model(profile: str) -> dict[str, EntityType]:
    """The entity model of a configuration profile (kept for callers of the skeleton API)."""
    from b24_1c_sandbox.onec.profiles import load

    return load(profile).types
