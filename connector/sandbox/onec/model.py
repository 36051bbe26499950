"""The 1C entity model the emulator serves: entity sets, their properties (with Edm types) and tabular sections.

One model feeds both the data and $metadata, so a name that differs between profiles differs everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DOC_STANDARD = [("Ref_Key", "Edm.Guid"), ("DataVersion", "Edm.String"), ("DeletionMark", "Edm.Boolean"),
                ("Number", "Edm.String"), ("Date", "Edm.DateTime"), ("Posted", "Edm.Boolean")]
CAT_STANDARD = [("Ref_Key", "Edm.Guid"), ("DataVersion", "Edm.String"), ("DeletionMark", "Edm.Boolean"),
                ("Code", "Edm.String"), ("Description", "Edm.String"), ("Parent_Key", "Edm.Guid"),
                ("IsFolder", "Edm.Boolean")]
CAT_TAIL = [("Predefined", "Edm.Boolean"), ("PredefinedDataName", "Edm.String")]


@dataclass
class Table:
    """A tabular section: its row properties."""

    name: str
    properties: list[tuple[str, str]]


@dataclass
class EntityType:
    """An entity set: standard fields, attributes, tabular sections, and where references point."""

    name: str
    properties: list[tuple[str, str]]
    tables: list[Table] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # navigation name -> target entity set
    postable: bool = False

    @property
    def kind(self) -> str:
        return self.name.split("_", 1)[0]

    def property_names(self) -> set[str]:
        return {p for p, _ in self.properties} | {t.name for t in self.tables}


def _doc(name: str, attrs: list[tuple[str, str]], tables: list[Table], refs: dict[str, str]) -> EntityType:
    return EntityType(name, DOC_STANDARD + attrs, tables, refs, postable=True)


def _cat(name: str, attrs: list[tuple[str, str]], refs: dict[str, str] | None = None) -> EntityType:
    return EntityType(name, CAT_STANDARD + attrs + CAT_TAIL, [], {"Parent": name, **(refs or {})})


def ut115() -> dict[str, EntityType]:
    """УТ 11.5: the default profile."""
    order_rows = Table("Товары", [("LineNumber", "Edm.Int64"), ("Номенклатура_Key", "Edm.Guid"),
                                  ("Характеристика_Key", "Edm.Guid"), ("Упаковка_Key", "Edm.Guid"),
                                  ("КоличествоУпаковок", "Edm.Double"), ("Количество", "Edm.Double"),
                                  ("ВидЦены_Key", "Edm.Guid"), ("Цена", "Edm.Double"), ("Сумма", "Edm.Double"),
                                  ("СтавкаНДС_Key", "Edm.Guid"), ("СуммаНДС", "Edm.Double"),
                                  ("СуммаСНДС", "Edm.Double"), ("СуммаРучнойСкидки", "Edm.Double"),
                                  ("Склад_Key", "Edm.Guid"), ("ДатаОтгрузки", "Edm.DateTime"),
                                  ("Отменено", "Edm.Boolean"), ("КодСтроки", "Edm.Int64"),
                                  ("ВариантОбеспечения", "Edm.String")])
    schedule = Table("ЭтапыГрафикаОплаты", [("LineNumber", "Edm.Int64"), ("ВариантОплаты", "Edm.String"),
                                             ("ДатаПлатежа", "Edm.DateTime"), ("ПроцентПлатежа", "Edm.Double"),
                                             ("СуммаПлатежа", "Edm.Double"), ("ОбъектРасчетов_Key", "Edm.Guid")])
    order = _doc("Document_ЗаказКлиента", [
        ("Организация_Key", "Edm.Guid"), ("Партнер_Key", "Edm.Guid"), ("Контрагент_Key", "Edm.Guid"),
        ("Соглашение_Key", "Edm.Guid"), ("Договор_Key", "Edm.Guid"), ("Валюта_Key", "Edm.Guid"),
        ("СуммаДокумента", "Edm.Double"), ("ЦенаВключаетНДС", "Edm.Boolean"), ("НалогообложениеНДС", "Edm.String"),
        ("ХозяйственнаяОперация", "Edm.String"), ("Статус", "Edm.String"), ("Согласован", "Edm.Boolean"),
        ("ДатаСогласования", "Edm.DateTime"), ("ЖелаемаяДатаОтгрузки", "Edm.DateTime"), ("Склад_Key", "Edm.Guid"),
        ("Менеджер_Key", "Edm.Guid"), ("ФормаОплаты", "Edm.String"), ("Комментарий", "Edm.String"),
        ("НомерПоДаннымКлиента", "Edm.String"), ("ДатаПоДаннымКлиента", "Edm.DateTime"),
        ("ОбъектРасчетов_Key", "Edm.Guid"), ("ДокументОснование", "Edm.String"),
        ("ДокументОснование_Type", "Edm.String")],
        [order_rows, schedule],
        {"Организация": "Catalog_Организации", "Партнер": "Catalog_Партнеры", "Контрагент": "Catalog_Контрагенты",
         "Валюта": "Catalog_Валюты", "Менеджер": "Catalog_Пользователи", "Договор": "Catalog_ДоговорыКонтрагентов",
         "ОбъектРасчетов": "Catalog_ОбъектыРасчетов"})
    types = [
        order,
        _cat("Catalog_Валюты", [("НаименованиеПолное", "Edm.String")]),
        _cat("Catalog_Организации", [("НаименованиеПолное", "Edm.String"), ("ИНН", "Edm.String"),
                                     ("КПП", "Edm.String")]),
        _cat("Catalog_Пользователи", [("Недействителен", "Edm.Boolean"), ("ФизическоеЛицо_Key", "Edm.Guid"),
                                      ("АдресЭлектроннойПочты", "Edm.String")]),
        _cat("Catalog_Партнеры", [("НаименованиеПолное", "Edm.String"), ("Клиент", "Edm.Boolean"),
                                  ("Поставщик", "Edm.Boolean"), ("ЮрФизЛицо", "Edm.String"),
                                  ("ОсновнойМенеджер_Key", "Edm.Guid")], {"ОсновнойМенеджер": "Catalog_Пользователи"}),
        _cat("Catalog_Контрагенты", [("НаименованиеПолное", "Edm.String"), ("ИНН", "Edm.String"),
                                     ("КПП", "Edm.String"), ("ЮрФизЛицо", "Edm.String"), ("Партнер_Key", "Edm.Guid"),
                                     ("ГоловнойКонтрагент_Key", "Edm.Guid")], {"Партнер": "Catalog_Партнеры"}),
        _cat("Catalog_Номенклатура", [("НаименованиеПолное", "Edm.String"), ("Артикул", "Edm.String"),
                                      ("ТипНоменклатуры", "Edm.String"), ("СтавкаНДС_Key", "Edm.Guid")],
             {"СтавкаНДС": "Catalog_СтавкиНДС"}),
        _cat("Catalog_СтавкиНДС", [("Ставка", "Edm.Double"), ("ПеречислениеСтавкаНДС", "Edm.String")]),
        _cat("Catalog_ДоговорыКонтрагентов", [("Контрагент_Key", "Edm.Guid"), ("Номер", "Edm.String"),
                                              ("Дата", "Edm.DateTime"), ("ВидДоговора", "Edm.String")],
             {"Контрагент": "Catalog_Контрагенты"}),
        _cat("Catalog_ОбъектыРасчетов", [("Организация_Key", "Edm.Guid"), ("Объект", "Edm.String"),
                                         ("Объект_Type", "Edm.String")]),
    ]
    return {t.name: t for t in types}


PROFILES = {"ut11.5": ut115}


def model(profile: str) -> dict[str, EntityType]:
    """The entity model of a configuration profile."""
    if profile not in PROFILES:
        raise ValueError(f"unknown 1C profile '{profile}' (known: {', '.join(PROFILES)})")
    return PROFILES[profile]()
