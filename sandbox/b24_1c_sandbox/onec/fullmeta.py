"""A `$metadata` of a whole УТ 11.5 base: every object kind in real proportions, generated from a seed.

A real УТ 11.5 with everything published answers `$metadata` with about 15 MB: 3,841 EntityType, 1,530
ComplexType, 953 EnumType, 8,547 NavigationProperty, 2,329 FunctionImport (counts of the snapshot
`snapshots/trade_v11.5.xml` listed in github.com/hacker-cb/1c-odata `snapshots/README.md`; shapes of registers,
constants, tabular sections and enums from that repository's fixtures `packages/cli/test/codegen/fixtures/*.xml`
and its tests `tabular-parts.test.ts`, `normalize.ts`; the 1C:Enterprise 8.3.27 documentation §17.4.3-17.4.4).
The generator publishes the same kinds in about those proportions — catalogs with tabular sections, documents
(each tabular section its own EntityType `Document_X_Товары` plus a `_RowType` ComplexType), information
registers (periodic ones with SliceLast/SliceFirst, recorder-subordinate ones with `_RecordType`), accumulation
registers (`_RecordType` and the `_Balance`/`_Turnover`/`_BalanceAndTurnover` complex types with their function
imports), charts of characteristic types, constants (`SurrogateKey` + `Value`), exchange plans, journals, business
processes and tasks, enums (`EnumType` with members, never linked from properties, as 1C publishes them).
It is deterministic from a seed, and the entity types of the emulator's own model (Document_ЗаказКлиента,
Catalog_Контрагенты, ...) are published with their real property sets: the generator only adds what they lack.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from b24_1c_sandbox.onec import vocabulary as v
from b24_1c_sandbox.onec.errors import ODataError

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.infobase import Infobase

NS = "StandardODATA."
# How many objects of each kind (УТ 11.5 proportions; tabular sections and record types come on top).
COUNTS = {
    "Catalog": 560,
    "Document": 360,
    "ChartOfCharacteristicTypes": 20,
    "InformationRegister": 700,
    "AccumulationRegister": 170,
    "Constant": 330,
    "ExchangePlan": 18,
    "DocumentJournal": 25,
    "BusinessProcess": 6,
    "Task": 2,
}
ENUMS = 946  # configuration enums; with the platform's own (one of them twice, as in the snapshot) 953
_CORE_REFS = sorted(set(v.REFS.values()))


@dataclass
class Extension:
    """Schema elements and container entries to add to an EDMX document, and what was generated."""

    schema: list[str] = field(default_factory=list)
    container: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)  # entity sets generated (they hold no data)


def _prop(name: str, edm: str, nullable: bool = True) -> str:
    return f'<Property Name="{name}" Type="{edm}" Nullable="{"true" if nullable else "false"}"/>'


class _Builder:
    def __init__(self, seed: int, taken: frozenset[str]) -> None:
        self.rng = random.Random(seed)
        self.taken = set(taken)
        self.out = Extension()
        self.assoc: list[tuple[str, str, str]] = []
        self.targets: set[str] = set(taken)

    def count(self, what: str, n: int = 1) -> None:
        self.out.counts[what] = self.out.counts.get(what, 0) + n

    def names(self, prefix: str, n: int, make: list[str]) -> list[str]:
        """n unused names `prefix_<stem>`: real stems first, then compositions of real words."""
        rng = self.rng
        found: list[str] = []
        pool = [m for m in make if f"{prefix}_{m}" not in self.taken]
        while len(found) < n:
            if pool:
                stem = pool.pop(0)
            elif prefix == "Document":
                stem = rng.choice(v.DOC_VERBS) + rng.choice(v.DOC_OBJECTS)
            elif prefix == "AccumulationRegister" and rng.random() < 0.7:
                stem = rng.choice(v.REGISTER_TOPICS) + rng.choice(v.REGISTER_TAILS)
            else:
                stem = rng.choice(v.HEADS) + rng.choice(v.TOPICS)
            name = f"{prefix}_{stem}"
            if name not in self.taken:
                self.taken.add(name)
                found.append(name)
        return found

    def attributes(self, n: int) -> list[tuple[str, str, str | None]]:
        """n attributes (name, Edm type, reference target) of the shapes 1C publishes."""
        rng, seen = self.rng, set()
        out: list[tuple[str, str, str | None]] = []
        kinds = (
            ["ref"] * 3 + ["str"] * 3 + ["dbl"] * 3 + ["bool"] * 2 + ["date", "int", "enum", "enum", "comp"]
        )
        while len(out) < n:
            kind = rng.choice(kinds)
            if kind == "ref":
                stem, target = rng.choice(list(v.REFS.items()))
            else:
                pool = {"str": v.STRINGS, "dbl": v.DOUBLES, "bool": v.BOOLEANS, "date": v.DATES}
                stem = rng.choice(
                    pool.get(kind)
                    or (v.INTS if kind == "int" else v.ENUM_ATTRS if kind == "enum" else v.COMPOSITES)
                )
                target = None
            if stem in seen:
                stem += rng.choice(
                    ("Регл", "Упр", "Плановый", "Фактический", "Основной", "Дополнительный", "2")
                )
                if stem in seen:
                    continue
            seen.add(stem)
            if kind == "ref":
                out.append((f"{stem}_Key", "Edm.Guid", target))
            elif kind == "comp":
                out += [(stem, "Edm.String", None), (f"{stem}_Type", "Edm.String", None)]
            else:
                edm = {"dbl": "Edm.Double", "bool": "Edm.Boolean", "date": "Edm.DateTime", "int": "Edm.Int32"}
                out.append((stem, edm.get(kind, "Edm.String"), None))
        return out

    def entity(
        self,
        name: str,
        key: list[tuple[str, str]],
        standard: list[tuple[str, str]],
        attrs: list[tuple[str, str, str | None]],
        tables: list[str] | None = None,
        navigate: bool = True,
    ) -> None:
        """One EntityType (and its tabular sections): key, standard fields, attributes, collections, nav."""
        parts = [f'<EntityType Name="{name}" OpenType="true"><Key>']
        parts += [f'<PropertyRef Name="{k}"/>' for k, _ in key] + ["</Key>"]
        parts += [_prop(k, edm, False) for k, edm in key]
        parts += [_prop(p, edm) for p, edm in standard]
        parts += [_prop(p, edm) for p, edm, _ in attrs if not p.endswith("_Type")]
        for table in tables or []:
            parts.append(_prop(table, f"Collection({NS}{name}_{table}_RowType)"))
        parts += [_prop(p, edm) for p, edm, _ in attrs if p.endswith("_Type")]
        if navigate:
            for p, _, target in attrs:
                if target and target in self.targets:
                    nav = p[:-4]
                    parts.append(
                        f'<NavigationProperty Name="{nav}" Relationship="{NS}{name}_{nav}" '
                        'FromRole="Begin" ToRole="End"/>'
                    )
                    self.assoc.append((f"{name}_{nav}", name, target))
        parts.append("</EntityType>")
        self.out.schema.append("".join(parts))
        self.out.container.append(f'<EntitySet Name="{name}" EntityType="{NS}{name}"/>')
        self.out.sets.append(name)
        self.count("EntityType")
        for table in tables or []:
            self.section(f"{name}_{table}")

    def section(self, name: str) -> None:
        """A tabular section: its own entity type (key Ref_Key + LineNumber) and its row complex type."""
        columns = self.attributes(self.rng.randint(3, 16))
        self.entity(name, [("Ref_Key", "Edm.Guid"), ("LineNumber", "Edm.Int64")], [], columns)
        row = [_prop("Ref_Key", "Edm.Guid", False), _prop("LineNumber", "Edm.Int64", False)]
        row += [_prop(p, edm) for p, edm, _ in columns]
        self.out.schema.append(f'<ComplexType Name="{name}_RowType">{"".join(row)}</ComplexType>')
        self.count("ComplexType")

    def complex(self, name: str, props: list[tuple[str, str]]) -> None:
        body = "".join(_prop(p, edm) for p, edm in props)
        self.out.schema.append(f'<ComplexType Name="{name}">{body}</ComplexType>')
        self.count("ComplexType")

    def function(
        self, name: str, method: str, bound: str, params: list[tuple[str, str]], returns: str = ""
    ) -> None:
        ret = f' ReturnType="{returns}"' if returns else ""
        inner = "".join(f'<Parameter Name="{p}" Type="{t}" Nullable="true" Mode="In"/>' for p, t in params)
        self.out.container.append(
            f'<FunctionImport Name="{name}"{ret} m:HttpMethod="{method}" IsBindable="true" '
            f'EntitySetPath="{bound}">{inner}</FunctionImport>'
        )
        self.count("FunctionImport")


_REF = [("Ref_Key", "Edm.Guid")]
_HEAD = [("DataVersion", "Edm.String"), ("DeletionMark", "Edm.Boolean")]
_CATALOG = [
    *_HEAD,
    ("Code", "Edm.String"),
    ("Description", "Edm.String"),
    ("Predefined", "Edm.Boolean"),
    ("PredefinedDataName", "Edm.String"),
]
_DOCUMENT = [*_HEAD, ("Number", "Edm.String"), ("Date", "Edm.DateTime"), ("Posted", "Edm.Boolean")]


def _catalogs(b: _Builder) -> None:
    rng = b.rng
    core = [t.split("_", 1)[1] for t in _CORE_REFS if t.startswith("Catalog_")]
    names = b.names("Catalog", COUNTS["Catalog"], core)
    b.targets.update(names)
    b.targets.update(t for t in _CORE_REFS if t.startswith("ChartOf"))
    for name in names:
        hierarchy = [("Parent_Key", "Edm.Guid"), ("IsFolder", "Edm.Boolean")] if rng.random() < 0.4 else []
        tables = rng.sample(v.TABLES, rng.choice((0, 0, 0, 1, 1, 1, 2)))
        b.entity(name, _REF, _CATALOG + hierarchy, b.attributes(rng.randint(3, 40)), tables)


def _documents(b: _Builder) -> None:
    rng = b.rng
    for name in b.names("Document", COUNTS["Document"], ["ЗаказПоставщику", "ПеремещениеТоваров"]):
        tables = rng.sample(v.TABLES, rng.choice((1, 1, 2, 2, 3, 3, 4, 5)))
        b.entity(name, _REF, _DOCUMENT, b.attributes(rng.randint(12, 80)), tables)
        b.function("Post", "POST", name, [("PostingModeOperational", "Edm.Boolean")])
        b.function("Unpost", "POST", name, [])


def _charts(b: _Builder) -> None:
    rng = b.rng
    core = [t.split("_", 1)[1] for t in _CORE_REFS if t.startswith("ChartOfCharacteristicTypes_")]
    for name in b.names("ChartOfCharacteristicTypes", COUNTS["ChartOfCharacteristicTypes"], core):
        head = [*_CATALOG, ("ValueType", f"{NS}TypeDescription")]
        b.entity(
            name, _REF, head, b.attributes(rng.randint(3, 15)), rng.sample(v.TABLES, rng.choice((0, 1, 2)))
        )


def _registers(b: _Builder) -> None:
    rng = b.rng
    recorder = [("Recorder", "Edm.String"), ("Recorder_Type", "Edm.String")]
    for name in b.names(
        "InformationRegister", COUNTS["InformationRegister"], ["ЦеныНоменклатуры", "КурсыВалют"]
    ):
        dims = [a for a in b.attributes(rng.randint(1, 5)) if a[2] is not None] or [
            ("Номенклатура_Key", "Edm.Guid", v.REFS["Номенклатура"])
        ]
        periodic = rng.random() < 0.8
        head = [("Period", "Edm.DateTime")] if periodic else []
        resources = b.attributes(rng.randint(1, 12))
        if rng.random() < 0.15:  # subordinate to a recorder: the set by recorder and its single records
            b.entity(name, recorder, [], [], [])
            record = [*recorder, ("LineNumber", "Edm.Int64")]
            b.entity(f"{name}_RecordType", record, [*head, ("Active", "Edm.Boolean")], dims + resources)
            continue
        b.entity(name, head + [(d, edm) for d, edm, _ in dims], [], resources)
        if periodic:
            for fn in ("SliceLast", "SliceFirst"):
                b.function(
                    fn,
                    "GET",
                    name,
                    [("Period", "Edm.DateTime"), ("Condition", "Edm.String")],
                    f"Collection({NS}{name})",
                )
    for name in b.names("AccumulationRegister", COUNTS["AccumulationRegister"], ["ТоварыНаСкладах"]):
        dims = [a for a in b.attributes(rng.randint(2, 8)) if a[2] is not None]
        resources = [(r, "Edm.Double", None) for r in rng.sample(v.DOUBLES, rng.randint(1, 6))]
        b.entity(name, recorder, [], [], [])
        head = [("Period", "Edm.DateTime"), ("Active", "Edm.Boolean"), ("RecordType", "Edm.String")]
        record = [recorder[0], ("LineNumber", "Edm.Int64"), recorder[1]]  # key order of the УТ 11.5 snapshot
        b.entity(f"{name}_RecordType", record, head, dims + resources)
        plain = [(d, edm) for d, edm, _ in dims]
        turnovers = rng.random() < 0.3  # a turnover register has no balances
        shapes = (
            [("Turnover", ["Turnover"])]
            if turnovers
            else [
                ("Balance", ["Balance"]),
                ("Turnover", ["Receipt", "Expense", "Turnover"]),
                (
                    "BalanceAndTurnover",
                    ["OpeningBalance", "Receipt", "Expense", "Turnover", "ClosingBalance"],
                ),
            ]
        )
        period = [("StartPeriod", "Edm.DateTime"), ("EndPeriod", "Edm.DateTime")]
        for suffix, columns in shapes:
            b.complex(
                f"{name}_{suffix}",
                plain + [(f"{r}{c}", "Edm.Double") for r, _, _ in resources for c in columns],
            )
            fn = {"Balance": "Balance", "Turnover": "Turnovers", "BalanceAndTurnover": "BalanceAndTurnovers"}[
                suffix
            ]
            params = [("Period", "Edm.DateTime")] if fn == "Balance" else period
            params += [("Condition", "Edm.String"), ("Dimensions", "Edm.String")]
            b.function(fn, "GET", name, params, f"Collection({NS}{name}_{suffix})")


def _rest(b: _Builder) -> None:
    rng = b.rng
    for name in b.names(
        "Constant", COUNTS["Constant"], ["ОсновнаяВалюта", "ИспользоватьСоглашенияСКлиентами"]
    ):
        value = rng.choice(
            [
                ("Value", "Edm.Boolean", None),
                ("Value", "Edm.String", None),
                ("Value_Key", "Edm.Guid", "Catalog_Валюты"),
            ]
        )
        b.entity(name, [("SurrogateKey", "Edm.Int32")], [], [value])
    plan = [*_HEAD, ("Code", "Edm.String"), ("Description", "Edm.String"), ("SentNo", "Edm.Int64")]
    plan += [("ReceivedNo", "Edm.Int64"), ("ThisNode", "Edm.Boolean")]
    for name in b.names("ExchangePlan", COUNTS["ExchangePlan"], ["ОбменУправлениеТорговлейБухгалтерия30"]):
        b.entity(name, _REF, plan, b.attributes(rng.randint(2, 20)), rng.sample(v.TABLES, rng.choice((0, 1))))
    for name in b.names("DocumentJournal", COUNTS["DocumentJournal"], ["ДокументыПродажи"]):
        journal = [("Recorder", "Edm.String"), ("Recorder_Type", "Edm.String")]
        b.entity(name, _REF, _DOCUMENT + journal, b.attributes(rng.randint(2, 10)), navigate=False)
    for kind in ("BusinessProcess", "Task"):
        head = _DOCUMENT + (
            [("Started", "Edm.Boolean"), ("Completed", "Edm.Boolean")] if kind[0] == "B" else []
        )
        for name in b.names(kind, COUNTS[kind], ["Задание"] if kind[0] == "B" else ["ЗадачаИсполнителя"]):
            b.entity(name, _REF, head, b.attributes(rng.randint(5, 25)), rng.sample(v.TABLES, 1))
    b.complex("TypeDescription", [("Types", "Collection(Edm.String)")])
    b.complex("NumberQualifiers", [("Digits", "Edm.Int32"), ("FractionDigits", "Edm.Int32")])


def _enums(b: _Builder) -> None:
    rng, made = b.rng, 0
    enums = [(n, m) for n, m in v.PLATFORM_ENUMS.items()] + [
        ("AllowedLength", v.PLATFORM_ENUMS["AllowedLength"])
    ]
    seen = set(v.PLATFORM_ENUMS)
    while made < ENUMS:
        name = rng.choice(v.ENUM_ATTRS + v.HEADS) + rng.choice(v.TOPICS)
        if name in seen:
            continue
        seen.add(name)
        enums.append((name, rng.sample(v.ENUM_MEMBERS, rng.randint(2, 12))))
        made += 1
    for name, members in enums:
        body = "".join(f'<Member Name="{m}" Value="{i}"/>' for i, m in enumerate(members))
        b.out.schema.append(f'<EnumType Name="{name}" UnderlyingType="Edm.Int32">{body}</EnumType>')
        b.count("EnumType")


@lru_cache(maxsize=4)
def generate(seed: int, taken: frozenset[str]) -> Extension:
    """The objects a full УТ 11.5 publishes besides `taken` (entity sets the emulator's model already has)."""
    b = _Builder(seed, taken)
    _catalogs(b)
    _charts(b)
    _documents(b)
    _registers(b)
    _rest(b)
    _enums(b)
    for assoc, begin, end in b.assoc:
        b.out.schema.append(
            f'<Association Name="{assoc}"><End Role="Begin" Type="{NS}{begin}" Multiplicity="*"/>'
            f'<End Role="End" Type="{NS}{end}" Multiplicity="0..1"/></Association>'
        )
        b.out.container.append(
            f'<AssociationSet Name="{assoc}" Association="{NS}{assoc}"><End Role="Begin" EntitySet="{begin}"/>'
            f'<End Role="End" EntitySet="{end}"/></AssociationSet>'
        )
    b.count("NavigationProperty", len(b.assoc))
    return b.out


def full_extension(ib: Infobase, mode: str, seed: int) -> Extension | None:
    """What "full" mode adds to this infobase's $metadata (None in "model" mode)."""
    if mode not in ("model", "full"):
        raise ValueError(f"B24_1C_ONEC_METADATA={mode!r}: expected 'model' or 'full'")
    if mode == "model":
        return None
    taken = set(ib.types) | set(ib.config.registers)
    taken |= {f"{t.name}_{s.name}" for t in ib.types.values() for s in t.tables}
    return generate(seed, frozenset(taken))


def empty_set(extension: Extension | None, ib: Infobase, rest: str, method: str) -> str | None:
    """A generated set holds no data: GET answers it empty ("<set>") or counts 0 ("count"); keys are not found."""
    base = rest.split("(", 1)[0].split("/", 1)[0]
    if extension is None or base in ib.types or base not in extension.sets:
        return None
    if method != "GET":
        raise ODataError(405, "19", "Метод HTTP не поддерживается для данного ресурса")
    if rest == base:
        return base
    if rest == f"{base}/$count":
        return "count"
    raise ODataError(404, "9", "Экземпляр сущности не найден")
