"""Configurations the emulator can pretend to be: УТ 11.5 (default), УТ 11.4 and БП 3.0, with their real name drift.

УТ 11.5 links money to orders through `ОбъектРасчетов_Key` and keeps VAT rates in `Catalog_СтавкиНДС`;
УТ 11.4 uses `Заказ`+`Заказ_Type` and the enum `СтавкаНДС`; БП 3.0 has no customer order and no partners,
calls the legal form `ЮридическоеФизическоеЛицо` and settles payments against invoices (`СчетНаОплату_Key`).
"""

from __future__ import annotations

from b24_1c_sandbox.onec.model import (
    EntityType,
    Profile,
    Props,
    Register,
    Table,
    catalog,
    composite,
    document,
    doubles,
    exchange_plan,
    finish,
    ref,
    strings,
    table,
    typed,
)

PLAN = "ExchangePlan_ДляCRM"


def _contact_info() -> Table:
    """БСП's КонтактнаяИнформация of a catalog: one row per phone, e-mail or address, told apart by Тип
    (Телефон, АдресЭлектроннойПочты, Адрес, ВебСтраница, Факс, Другое)."""
    return table(
        "КонтактнаяИнформация",
        strings("Тип") + ref("Вид") + strings("Представление", "Значение", "АдресЭП", "НомерТелефона"),
    )


def _with_contacts(cat: EntityType) -> EntityType:
    cat.tables = [_contact_info()]
    return cat


def _vat(new: bool) -> Props:
    return ref("СтавкаНДС") if new else strings("СтавкаНДС")


def _common_catalogs() -> list[EntityType]:
    return [
        catalog("Catalog_Валюты", "Валюты", strings("НаименованиеПолное")),
        catalog("Catalog_Организации", "Организации", strings("НаименованиеПолное", "ИНН", "КПП")),
        catalog(
            "Catalog_Пользователи",
            "Пользователи",
            typed("Edm.Boolean", "Недействителен") + ref("ФизическоеЛицо") + strings("АдресЭлектроннойПочты"),
        ),
    ]


def _packagings() -> EntityType:
    """Units of measure (Code: the ОКЕИ code, 796 шт; owned by the packaging set of base units, ТипУпаковки empty)
    and packagings (a box of 12: Числитель 12, Знаменатель 1, owned by the product itself or by the packaging set
    the product names in НаборУпаковок_Key). The owner has two possible types, so 1C publishes it as the composite
    `Owner` + `Owner_Type` and a client filters it with cast() (names: connector/contracts/onec.yaml)."""
    return catalog(
        "Catalog_УпаковкиЕдиницыИзмерения",
        "Упаковки и единицы измерения",
        strings("НаименованиеПолное")
        + composite("Owner")
        + strings("ТипУпаковки")
        + doubles("Числитель", "Знаменатель"),
    )


def _settles(v115: bool) -> Props:
    return ref("ОбъектРасчетов") if v115 else composite("Заказ")


def _ut(v115: bool) -> Profile:
    vat = _vat(v115)
    goods = table(
        "Товары",
        ref("Номенклатура", "Характеристика", "Упаковка")
        + doubles("КоличествоУпаковок", "Количество")
        + ref("ВидЦены")
        + doubles("Цена", "Сумма")
        + vat
        + doubles("СуммаНДС", "СуммаСНДС", "ПроцентРучнойСкидки", "СуммаРучнойСкидки")
        + doubles("СуммаАвтоматическойСкидки")
        + ref("Склад")
        + typed("Edm.DateTime", "ДатаОтгрузки")
        + typed("Edm.Boolean", "Отменено")
        + typed("Edm.Int64", "КодСтроки")
        + strings("ВариантОбеспечения"),
    )
    schedule = table(
        "ЭтапыГрафикаОплаты",
        strings("ВариантОплаты")
        + typed("Edm.DateTime", "ДатаПлатежа")
        + doubles("ПроцентПлатежа", "СуммаПлатежа")
        + typed("Edm.Int32", "Сдвиг")
        + (ref("ОбъектРасчетов") if v115 else []),
    )
    order = document(
        "Document_ЗаказКлиента",
        "Заказ клиента",
        ref("Организация", "Партнер", "Контрагент", "Соглашение", "Договор", "Валюта")
        + doubles("СуммаДокумента")
        + typed("Edm.Boolean", "ЦенаВключаетНДС")
        + strings("НалогообложениеНДС", "ХозяйственнаяОперация", "Статус")
        + typed("Edm.Boolean", "Согласован")
        + typed("Edm.DateTime", "ДатаСогласования", "ЖелаемаяДатаОтгрузки", "ДатаОтгрузки")
        + ref("Склад", "Менеджер")
        + strings("ФормаОплаты")
        + ref("ГрафикОплаты")
        + strings("Комментарий", "НомерПоДаннымКлиента")
        + typed("Edm.DateTime", "ДатаПоДаннымКлиента")
        + (ref("ОбъектРасчетов") if v115 else [])
        + composite("ДокументОснование")
        + typed("Edm.Int64", "МаксимальныйКодСтроки")
        + ref("Автор"),
        [goods, schedule],
    )
    invoice = document(
        "Document_СчетНаОплатуКлиенту",
        "Счет на оплату клиенту",
        ref("Организация", "Партнер", "Контрагент", "Договор", "Валюта")
        + doubles("СуммаДокумента")
        + composite("ДокументОснование")
        + strings("ФормаОплаты")
        + ref("БанковскийСчет", "Касса")
        + typed("Edm.Boolean", "ЧастичнаяОплата", "Аннулирован")
        + ref("Менеджер")
        + strings("НазначениеПлатежа", "Комментарий"),
        [
            table(
                "ЭтапыГрафикаОплаты",
                strings("ВариантОплаты")
                + typed("Edm.DateTime", "ДатаПлатежа")
                + doubles("ПроцентПлатежа", "СуммаПлатежа"),
            )
        ],
    )
    decoding = table(
        "РасшифровкаПлатежа",
        ref("Партнер")
        + _settles(v115)
        + doubles("Сумма", "СуммаВзаиморасчетов")
        + ref("ВалютаВзаиморасчетов", "СтатьяДвиженияДенежныхСредств")
        + vat
        + doubles("СуммаНДС"),
    )

    def money(name: str, synonym: str, account: str) -> EntityType:
        return document(
            name,
            synonym,
            strings("ХозяйственнаяОперация")
            + ref("Организация", account, "Контрагент", "Валюта")
            + doubles("СуммаДокумента")
            + strings("НомерВходящегоДокумента")
            + typed("Edm.DateTime", "ДатаВходящегоДокумента")
            + strings("НазначениеПлатежа")
            + ref("СтатьяДвиженияДенежныхСредств")
            + composite("ДокументОснование"),
            [table(decoding.name, list(decoding.properties[1:]))],
        )

    shipment_rows = table(
        "Товары",
        ref("Номенклатура", "Характеристика")
        + doubles("Количество", "КоличествоУпаковок", "Цена", "Сумма")
        + vat
        + doubles("СуммаНДС", "СуммаСНДС", "СуммаВзаиморасчетов")
        + typed("Edm.Int64", "КодСтроки")
        + composite("ЗаказКлиента")
        + (ref("ОбъектРасчетов") if v115 else []),
    )
    shipment = document(
        "Document_РеализацияТоваровУслуг",
        "Реализация товаров и услуг",
        strings("ХозяйственнаяОперация")
        + ref("Организация", "Партнер", "Контрагент", "Склад", "Валюта", "Договор", "Менеджер")
        + typed("Edm.Boolean", "ЦенаВключаетНДС")
        + strings("НалогообложениеНДС")
        + doubles("СуммаДокумента", "СуммаВзаиморасчетов")
        + composite("ЗаказКлиента")
        + typed("Edm.Boolean", "РеализацияПоЗаказам")
        + strings("Статус", "Комментарий"),
        [shipment_rows, table(decoding.name, list(decoding.properties[1:]))],
    )
    counterparty = _with_contacts(
        catalog(
            "Catalog_Контрагенты",
            "Контрагенты",
            strings("НаименованиеПолное", "ИНН", "КПП", "ЮрФизЛицо")
            + ref("Партнер", "ГоловнойКонтрагент")
            + strings("Комментарий"),
        )
    )
    types = [
        order,
        invoice,
        money(
            "Document_ПоступлениеБезналичныхДенежныхСредств",
            "Поступление безналичных денежных средств",
            "БанковскийСчет",
        ),
        money("Document_ПриходныйКассовыйОрдер", "Приходный кассовый ордер", "Касса"),
        money(
            "Document_СписаниеБезналичныхДенежныхСредств",
            "Списание безналичных денежных средств",
            "БанковскийСчет",
        ),
        money("Document_РасходныйКассовыйОрдер", "Расходный кассовый ордер", "Касса"),
        shipment,
        *_common_catalogs(),
        _with_contacts(
            catalog(
                "Catalog_Партнеры",
                "Партнеры",
                strings("НаименованиеПолное")
                + typed("Edm.Boolean", "Клиент", "Поставщик")
                + strings("ЮрФизЛицо")
                + ref("ОсновнойМенеджер")
                + typed("Edm.DateTime", "ДатаРегистрации")
                + strings("Комментарий"),
            )
        ),
        counterparty,
        catalog(
            "Catalog_Номенклатура",
            "Номенклатура",
            strings("НаименованиеПолное", "Артикул", "ТипНоменклатуры")
            + _vat(v115)
            + ref("ЕдиницаИзмерения", "НаборУпаковок"),
        ),
        _with_contacts(
            catalog(
                "Catalog_КонтактныеЛицаПартнеров",
                "Контактные лица партнеров",
                strings("ДолжностьПоВизитке", "Комментарий"),
                owner="Catalog_Партнеры",
            )
        ),
        _packagings(),
        catalog("Catalog_НаборыУпаковок", "Наборы упаковок", strings("НаименованиеПолное")),
        catalog(
            "Catalog_ДоговорыКонтрагентов",
            "Договоры с контрагентами",
            ref("Организация", "Контрагент", "Партнер")
            + strings("Номер")
            + typed("Edm.DateTime", "Дата")
            # CRM_ТипДоговора: the customer's contract kind, an attribute of an extension (docs/contracts.md)
            + strings("ВидДоговора", "CRM_ТипДоговора"),
        ),
        exchange_plan(PLAN, "Для CRM"),
    ]
    if v115:
        types += [
            catalog("Catalog_СтавкиНДС", "Ставки НДС", doubles("Ставка") + strings("ПеречислениеСтавкаНДС")),
            catalog(
                "Catalog_ОбъектыРасчетов",
                "Объекты расчетов",
                ref("Организация", "Партнер") + composite("Объект"),
            ),
        ]
    dims = (
        ref("Организация", "Партнер", "Контрагент")
        + (ref("ОбъектРасчетов") if v115 else composite("ЗаказКлиента"))
        + ref("Валюта")
    )
    register = Register("AccumulationRegister_РасчетыСКлиентами", dims, ["Сумма", "КОплате", "КОтгрузке"])
    roles = {
        "order": order.name,
        "invoice": invoice.name,
        "bank_receipt": "Document_ПоступлениеБезналичныхДенежныхСредств",
        "cash_receipt": "Document_ПриходныйКассовыйОрдер",
        "bank_refund": "Document_СписаниеБезналичныхДенежныхСредств",
        "cash_refund": "Document_РасходныйКассовыйОрдер",
        "shipment": shipment.name,
    }
    return Profile(
        "ut11.5" if v115 else "ut11.4",
        finish(types),
        {register.name: register},
        roles,
        "ОбъектРасчетов" if v115 else "Заказ",
        "catalog" if v115 else "enum",
        ("ЮрФизЛицо", "ЮрЛицо", "ФизЛицо"),
    )


def _bp() -> Profile:
    vat = strings("СтавкаНДС")
    decoding = table(
        "РасшифровкаПлатежа",
        ref("ДоговорКонтрагента", "СчетНаОплату")
        + doubles("СуммаПлатежа", "СуммаВзаиморасчетов")
        + vat
        + doubles("СуммаНДС", "СуммаВозврата")
        + strings("СпособПогашенияЗадолженности"),
    )

    def money(name: str, synonym: str, account: str) -> EntityType:
        return document(
            name,
            synonym,
            strings("ВидОперации")
            + ref("Организация", account)
            + composite("Контрагент")
            + ref("ДоговорКонтрагента", "Валюта")
            + doubles("СуммаДокумента")
            + strings("НазначениеПлатежа")
            + ref("СтатьяДвиженияДенежныхСредств"),
            [table(decoding.name, list(decoding.properties[1:]))],
        )

    goods = table(
        "Товары", ref("Номенклатура") + doubles("Количество", "Цена", "Сумма") + vat + doubles("СуммаНДС")
    )
    types = [
        document(
            "Document_СчетНаОплатуПокупателю",
            "Счет на оплату покупателю",
            ref("Организация", "Контрагент", "ДоговорКонтрагента", "Валюта")
            + doubles("СуммаДокумента")
            + typed("Edm.DateTime", "СрокОплаты")
            + strings("Комментарий"),
            [goods],
            postable=False,
        ),
        money("Document_ПоступлениеНаРасчетныйСчет", "Поступление на расчетный счет", "СчетОрганизации"),
        money("Document_ПриходныйКассовыйОрдер", "Приходный кассовый ордер", "Касса"),
        money("Document_СписаниеСРасчетногоСчета", "Списание с расчетного счета", "СчетОрганизации"),
        money("Document_РасходныйКассовыйОрдер", "Расходный кассовый ордер", "Касса"),
        document(
            "Document_РеализацияТоваровУслуг",
            "Реализация (акт, накладная, УПД)",
            strings("ВидОперации")
            + ref("Организация", "Контрагент", "ДоговорКонтрагента", "Валюта")
            + doubles("СуммаДокумента")
            + composite("Сделка"),
            [table("Товары", list(goods.properties[1:]))],
        ),
        *_common_catalogs(),
        _with_contacts(
            catalog(
                "Catalog_Контрагенты",
                "Контрагенты",
                strings("НаименованиеПолное", "ИНН", "КПП", "КодПоОКПО", "ЮридическоеФизическоеЛицо")
                + ref("ОсновнойДоговорКонтрагента", "ГоловнойКонтрагент")
                + strings("Комментарий"),
            )
        ),
        catalog("Catalog_Номенклатура", "Номенклатура", strings("НаименованиеПолное", "Артикул") + vat),
        catalog(
            "Catalog_ДоговорыКонтрагентов",
            "Договоры",
            ref("Организация")
            + strings("Номер")
            + typed("Edm.DateTime", "Дата")
            + strings("ВидДоговора", "CRM_ТипДоговора"),  # CRM_…: an extension's (docs/contracts.md)
            owner="Catalog_Контрагенты",
        ),
        exchange_plan(PLAN, "Для CRM"),
    ]
    roles = {
        "invoice": "Document_СчетНаОплатуПокупателю",
        "bank_receipt": "Document_ПоступлениеНаРасчетныйСчет",
        "cash_receipt": "Document_ПриходныйКассовыйОрдер",
        "bank_refund": "Document_СписаниеСРасчетногоСчета",
        "cash_refund": "Document_РасходныйКассовыйОрдер",
        "shipment": "Document_РеализацияТоваровУслуг",
    }
    return Profile(
        "bp3.0",
        finish(types),
        {},
        roles,
        "СчетНаОплату",
        "enum",
        ("ЮридическоеФизическоеЛицо", "ЮридическоеЛицо", "ФизическоеЛицо"),
    )


PROFILES = {"ut11.5": lambda: _ut(True), "ut11.4": lambda: _ut(False), "bp3.0": _bp}


def load(name: str) -> Profile:
    """A fresh copy of a profile's model."""
    if name not in PROFILES:
        raise ValueError(f"unknown 1C profile '{name}' (known: {', '.join(PROFILES)})")
    return PROFILES[name]()
