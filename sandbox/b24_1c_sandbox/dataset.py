"""A realistic, reproducible 1C dataset: orders since 2017 with Cyrillic names, managers, look-alike counterparties,
invoices, partial / over- / re-posted / un-posted / deleted payments (bank and cash), refunds, partial shipments and
payment schedules with deferred due dates. Every document goes through the emulator's own write and posting code.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, overload

from b24_1c_sandbox.onec import posting
from b24_1c_sandbox.onec.documents import ORDER_TYPE, Documents
from b24_1c_sandbox.onec.infobase import EMPTY_REF, Infobase

FIRST_NAMES = ["Иван", "Пётр", "Анна", "Мария", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Наталья"]
LAST_NAMES = [
    "Иванов",
    "Петрова",
    "Смирнов",
    "Кузнецова",
    "Попов",
    "Соколова",
    "Лебедев",
    "Козлова",
    "Новиков",
]
COMPANY_WORDS = [
    "Металл",
    "Профлист",
    "СтройИнвест",
    "Ресурс",
    "Техно",
    "Вектор",
    "Альянс",
    "Снаб",
    "Кровля",
    "Торговый дом",
    "Урал",
    "Сибирь",
    "Регион",
    "Комплект",
    "Сервис",
]
FORMS = ["ООО", "АО", "ПАО", "ИП", "ООО", "ФЛ"]
PRODUCTS = [
    "Профлист С8",
    "Профлист НС35",
    "Металлочерепица Монтеррей",
    "Саморез кровельный 4,8×35",
    "Уголок 50×50",
    "Труба профильная 40×20",
    "Лист г/к 3 мм",
    "Арматура А500С Ø12",
    "Швеллер 10П",
    "Сетка сварная 50×50",
    "Доборный элемент «конёк»",
    "Водосток 125/90",
    "Утеплитель 100 мм",
    "Мембрана пароизоляционная",
    "Кронштейн желоба",
]
COMMENTS = [
    "",
    "",
    "",
    "Срочно!",
    "Доставка до объекта",
    'Клиент просил "без НДС" в счёте',
    "Самовывоз & оплата по факту",
    "Отгрузка частями",
    "Цена согласована с Петровой А.",
]


def _ref(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


UNITS = (("796", "шт"), ("166", "кг"), ("006", "м"))  # ОКЕИ codes
# Packaging sets (УТ 11: Catalog_НаборыУпаковок): the predefined set that owns the units of measure, the predefined
# "individual" set (a product with it owns its packagings itself) and one set shared by several products.
PACKAGING_SETS = (
    ("БазовыеЕдиницыИзмерения", "Базовые единицы измерения"),
    ("ИндивидуальныйДляНоменклатуры", "Индивидуальный для номенклатуры"),
    ("", "Коробки по 6 шт"),
)
# Packagings: (owner: a product's index or a set's name, Code, Description, Числитель, Знаменатель). The code is the
# portal's measure code for that packaging (the shipped mapping compares the deal row's MEASURE_CODE with it).
PACKAGINGS = (
    (0, "8751", "кор (12 шт)", 12, 1),
    (0, "778", "уп (5 шт)", 10, 2),  # a ratio: 10/2 = 5 pieces
    ("Коробки по 6 шт", "8751", "кор (6 шт)", 6, 1),
)
SHARED_SET_PRODUCTS = (1,)  # products whose packagings are those of the shared set


def unit_ref(code: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"unit:{code}"))


def packaging_set_ref(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"packaging-set:{name}"))


def packaging_ref(owner: int | str, code: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"packaging:{owner}:{code}"))


OTHER_VAT_RATES = (("10%", 10, "НДС10"), ("0%", 0, "НДС0"), ("Без НДС", 0, "БезНДС"))


def _contacts(ref: str, i: int) -> list[dict[str, str]]:
    """A counterparty's phone and e-mail as КонтактнаяИнформация rows (their own random stream, so adding them
    changes no other generated value)."""
    rng = random.Random(f"contacts:{ref}")
    digits = f"9{rng.randint(0, 99):02d}{rng.randint(0, 9999999):07d}"
    phone = f"+7 {digits[:3]} {digits[3:6]}-{digits[6:8]}-{digits[8:]}"
    email = f"office{i + 1}@client{rng.randint(100, 999)}.ru"
    return [
        {"Тип": "Телефон", "Представление": phone, "НомерТелефона": phone},
        {"Тип": "АдресЭлектроннойПочты", "Представление": email, "АдресЭП": email},
    ]


def _inn(rng: random.Random, digits: int = 10) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(digits))


# An extension attribute of Catalog_ДоговорыКонтрагентов (an extension's enumeration: the value names below).
CONTRACT_KIND = "CRM_ТипДоговора"
CONTRACT_KINDS = ("ПолнаяПредоплата", "ОтсрочкаПлатежа", "Тендер", "Госконтракт", "Дилерский")


class Stored(Sequence[dict[str, Any]]):
    """Objects of one entity set by reference, each read from the base when asked for: the list of 100,000 orders
    as dicts was held through the whole generation (issue 13 goal 6: the sandbox's peak)."""

    def __init__(self, ib: Infobase, entity: str, refs: list[str]) -> None:
        self.ib, self.entity, self.refs = ib, entity, refs

    def _read(self, ref: str) -> dict[str, Any]:
        found = self.ib.get(self.entity, ref)
        assert found is not None, ref
        return found

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._read(ref) for ref in self.refs[index]]
        return self._read(self.refs[index])

    def __len__(self) -> int:
        return len(self.refs)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._read(ref) for ref in self.refs)


class Dataset:
    """Fills an infobase; keeps the references it made so tests and the demo can change things."""

    def __init__(self, infobase: Infobase, seed: int = 7, now: datetime | None = None) -> None:
        self.ib = infobase
        self.rng = random.Random(seed)
        self.money_rng = random.Random(seed * 7919 + 1)  # money flows never shift the order sequence
        # Contract dates and kinds come from a stream of their own: the other draws stay as they were.
        self.contract_rng = random.Random(seed * 104729 + 3)
        self.now = (now or infobase.now()).replace(microsecond=0, tzinfo=None)  # the 1C server's clock
        self.docs = Documents(infobase, self.money_rng)
        self.currencies: dict[str, str] = {}
        self.managers: list[str] = []
        self.counterparties: list[dict[str, Any]] = []
        self.products: list[dict[str, Any]] = []
        self.vat_rate = ""
        self.organization = ""
        self.order_no = 0
        self.bp = infobase.config.name == "bp3.0"

    # -- catalogs -------------------------------------------------------------------------------------------

    def catalogs(self, n_counterparties: int = 60, n_products: int = 60) -> Dataset:
        rng, ib = self.rng, self.ib
        for code, name in (("643", "руб."), ("840", "USD"), ("978", "EUR")):
            self.currencies[code] = ib.insert(
                "Catalog_Валюты", {"Ref_Key": _ref(rng), "Code": code, "Description": name}
            )["Ref_Key"]
        self.organization = ib.insert(
            "Catalog_Организации",
            {
                "Ref_Key": _ref(rng),
                "Code": "000000001",
                "Description": "ООО «Металл-Сервис»",
                "НаименованиеПолное": "Общество с ограниченной ответственностью «Металл-Сервис»",
                "ИНН": "7701234567",
                "КПП": "770101001",
            },
        )["Ref_Key"]
        if "Catalog_СтавкиНДС" in ib.types:
            self.vat_rate = ib.insert(
                "Catalog_СтавкиНДС",
                {
                    "Ref_Key": _ref(rng),
                    "Code": "000000001",
                    "Description": "20%",
                    "Ставка": 20,
                    "ПеречислениеСтавкаНДС": "НДС20",
                },
            )["Ref_Key"]
            for n, (name, rate, kind) in enumerate(OTHER_VAT_RATES, start=2):  # fixed refs: no rng drawn
                ib.insert(
                    "Catalog_СтавкиНДС",
                    {
                        "Ref_Key": str(uuid.uuid5(uuid.NAMESPACE_OID, f"vat-rate:{kind}")),
                        "Code": f"{n:09d}",
                        "Description": name,
                        "Ставка": rate,
                        "ПеречислениеСтавкаНДС": kind,
                    },
                )
        for i in range(8):
            name = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
            self.managers.append(
                ib.insert(
                    "Catalog_Пользователи",
                    {
                        "Ref_Key": _ref(rng),
                        "Code": f"{i + 1:09d}",
                        "Description": name,
                        "АдресЭлектроннойПочты": f"manager{i + 1}@metall-servis.ru",
                    },
                )["Ref_Key"]
            )
        for i in range(n_counterparties):
            self._counterparty(i)
        vat: dict[str, Any] = {"СтавкаНДС_Key": self.vat_rate} if self.vat_rate else {"СтавкаНДС": "НДС20"}
        packagings = "Catalog_УпаковкиЕдиницыИзмерения" in ib.types
        if packagings:
            self._units()
            vat["ЕдиницаИзмерения_Key"] = unit_ref("796")  # every product is counted in pieces
            vat["НаборУпаковок_Key"] = packaging_set_ref("Индивидуальный для номенклатуры")
        for i in range(n_products):
            name = PRODUCTS[i % len(PRODUCTS)] + ("" if i < len(PRODUCTS) else f" (арт. {i})")
            fields = {
                "Ref_Key": _ref(rng),
                "Code": f"{i + 1:09d}",
                "Description": name,
                "НаименованиеПолное": name,
                "Артикул": f"A-{1000 + i}",
                **vat,
                **({} if self.bp else {"ТипНоменклатуры": "Товар"}),
            }
            if packagings and i in SHARED_SET_PRODUCTS:
                fields["НаборУпаковок_Key"] = packaging_set_ref(PACKAGING_SETS[2][1])
            self.products.append(ib.insert("Catalog_Номенклатура", fields) | {"price": rng.randint(50, 9000)})
        if packagings:
            self._packagings()
        return self

    def _units(self) -> None:
        """Packaging sets and the units of measure (fixed refs: no rng drawn, the rest of the data is unchanged)."""
        for n, (predefined, name) in enumerate(PACKAGING_SETS, start=1):
            self.ib.insert(
                "Catalog_НаборыУпаковок",
                {
                    "Ref_Key": packaging_set_ref(name),
                    "Code": f"{n:09d}",
                    "Description": name,
                    "НаименованиеПолное": name,
                    "Predefined": bool(predefined),
                    "PredefinedDataName": predefined,
                },
            )
        for code, name in UNITS:
            self.ib.insert(
                "Catalog_УпаковкиЕдиницыИзмерения",
                {
                    "Ref_Key": unit_ref(code),
                    "Code": code,
                    "Description": name,
                    "НаименованиеПолное": name,
                    "Owner": packaging_set_ref(PACKAGING_SETS[0][1]),
                    "Owner_Type": "StandardODATA.Catalog_НаборыУпаковок",
                    "ТипУпаковки": "",
                    "Числитель": 1,
                    "Знаменатель": 1,
                },
            )

    def _packagings(self) -> None:
        """A product's own packagings and those of the shared set (no rng drawn)."""
        for owner, code, name, numerator, denominator in PACKAGINGS:
            if isinstance(owner, int) and owner >= len(self.products):
                continue
            ref, kind = (
                (self.products[owner]["Ref_Key"], "Catalog_Номенклатура")
                if isinstance(owner, int)
                else (packaging_set_ref(owner), "Catalog_НаборыУпаковок")
            )
            self.ib.insert(
                "Catalog_УпаковкиЕдиницыИзмерения",
                {
                    "Ref_Key": packaging_ref(owner, code),
                    "Code": code,
                    "Description": name,
                    "НаименованиеПолное": name,
                    "Owner": ref,
                    "Owner_Type": f"StandardODATA.{kind}",
                    "ТипУпаковки": "Конечная",
                    "Числитель": numerator,
                    "Знаменатель": denominator,
                },
            )

    def _counterparty(self, i: int) -> None:
        rng, ib = self.rng, self.ib
        form = rng.choice(FORMS)
        base = f"{rng.choice(COMPANY_WORDS)}-{rng.choice(COMPANY_WORDS)}"
        branch = bool(self.counterparties) and rng.random() < 0.05  # same INN, another KPP (a branch)
        if self.counterparties and (branch or rng.random() < 0.1):  # look-alike of an existing one
            base, form = self.counterparties[-1]["base"], self.counterparties[-1]["form"]
        person = form in ("ИП", "ФЛ")
        who = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
        name = f"{form} «{base}»" if not person else (f"ИП {who}" if form == "ИП" else who)
        attr, company, individual = self.ib.config.legal_form
        legal = individual if person else company
        if form == "ИП" and not self.bp:
            legal = "ИндивидуальныйПредприниматель"
        inn = self.counterparties[-1]["inn"] if branch and not person else _inn(rng, 12 if person else 10)
        fields: dict[str, Any] = {
            "Ref_Key": _ref(rng),
            "Code": f"{i + 1:09d}",
            "Description": name,
            "НаименованиеПолное": name,
            "ИНН": inn,
            "КПП": "" if person else f"{inn[:4]}{rng.randint(1, 99):02d}001",
            attr: legal,
        }
        partner = EMPTY_REF
        if not self.bp:
            partner = ib.insert(
                "Catalog_Партнеры",
                {
                    "Ref_Key": _ref(rng),
                    "Code": f"{i + 1:09d}",
                    "Description": name,
                    "Клиент": True,
                    "ЮрФизЛицо": legal,
                    "ОсновнойМенеджер_Key": rng.choice(self.managers),
                },
            )["Ref_Key"]
            fields["Партнер_Key"] = partner
        if "КонтактнаяИнформация" in ib.types["Catalog_Контрагенты"].property_names():
            fields["КонтактнаяИнформация"] = _contacts(fields["Ref_Key"], i)
        cp = ib.insert("Catalog_Контрагенты", fields)
        contract = ib.insert(
            "Catalog_ДоговорыКонтрагентов",
            {
                "Ref_Key": _ref(rng),
                "Code": f"{i + 1:09d}",
                "Description": f"Договор поставки № {i + 1}",
                "Номер": str(i + 1),
                "Дата": self.contract_date(),
                "ВидДоговора": "СПокупателем",
                # The customer's kind of contract (seed 000): no standard УТ/БП attribute holds it, so the
                # sandbox models it as an attribute a configuration extension adds (docs/contracts.md).
                CONTRACT_KIND: self.contract_rng.choices(CONTRACT_KINDS, weights=(4, 3, 1, 1, 1))[0],
                "Организация_Key": self.organization,
                **(
                    {"Owner_Key": cp["Ref_Key"]}
                    if self.bp
                    else {"Контрагент_Key": cp["Ref_Key"], "Партнер_Key": partner}
                ),
            },
        )
        self.counterparties.append(
            {
                "ref": cp["Ref_Key"],
                "partner": partner,
                "base": base,
                "form": form,
                "inn": inn,
                "contract": contract["Ref_Key"],
            }
        )

    def contract_date(self) -> str:
        """A contract signed in 2015 or 2016, before the first order (from the contracts' own random stream)."""
        signed = datetime(2015, 1, 1) + timedelta(days=self.contract_rng.randint(0, 700))
        return signed.strftime("%Y-%m-%dT00:00:00")

    # -- orders ---------------------------------------------------------------------------------------------

    def order(
        self, date: datetime, posted: bool = True, deleted: bool = False, lines: int | None = None
    ) -> dict[str, Any]:
        """One customer order as a 1C user would enter it (БП 3.0: an invoice to the customer)."""
        rng = self.rng
        self.order_no += 1
        cp = rng.choice(self.counterparties)
        rows = []
        for _ in range(lines if lines is not None else rng.randint(1, 6)):
            product = rng.choice(self.products)
            qty = rng.choice([1, 2, 3, 5, 10, 12, 25, 100, 2.5])
            total = round(qty * product["price"], 2)
            vat: dict[str, Any] = (
                {"СтавкаНДС_Key": self.vat_rate} if self.vat_rate else {"СтавкаНДС": "НДС20"}
            )
            row = {
                "Номенклатура_Key": product["Ref_Key"],
                "Количество": qty,
                "Цена": product["price"],
                "Сумма": total,
                "СуммаНДС": round(total / 6, 2),
                **vat,
            }
            if not self.bp:
                row.update(
                    {
                        "КоличествоУпаковок": qty,
                        "СуммаСНДС": total,
                        "Склад_Key": EMPTY_REF,
                        "ВариантОбеспечения": "Отгрузить",
                    }
                )
            rows.append(row)
        currency = (
            self.currencies["643"] if rng.random() < 0.95 else self.currencies[rng.choice(["840", "978"])]
        )
        total = round(sum(r["Сумма"] for r in rows), 2)
        ref = _ref(rng)
        status = rng.choice(["КОбеспечению", "КОтгрузке", "КОтгрузке", "Закрыт"])
        manager, payment_form, comment = (
            rng.choice(self.managers),
            rng.choice(["Безналичная", "Наличная"]),
            rng.choice(COMMENTS),
        )
        record: dict[str, Any] = {
            "Ref_Key": ref,
            "Number": f"ЦБ00-{self.order_no:06d}",
            "Date": date.isoformat(),
            "Организация_Key": self.organization,
            "Контрагент_Key": cp["ref"],
            "Валюта_Key": currency,
            "СуммаДокумента": total,
            "Комментарий": comment,
            "Товары": rows,
        }
        if self.bp:
            record.update(
                {
                    "ДоговорКонтрагента_Key": cp["contract"],
                    "СрокОплаты": (date + timedelta(days=10)).isoformat(),
                }
            )
        else:
            record.update(
                {
                    "Партнер_Key": cp["partner"],
                    "Договор_Key": cp["contract"],
                    "ЦенаВключаетНДС": True,
                    "НалогообложениеНДС": "ПродажаОблагаетсяНДС",
                    "ХозяйственнаяОперация": "РеализацияКлиенту",
                    "Статус": status,
                    "Согласован": True,
                    "Менеджер_Key": manager,
                    "ФормаОплаты": payment_form,
                    "ЭтапыГрафикаОплаты": self._schedule(date, total),
                }
            )
        entity = self.ib.config.roles["order" if not self.bp else "invoice"]
        posting.before_write(self.ib, entity, record, None)
        stored = self.ib.insert(entity, record)
        if posted and self.ib.types[entity].postable:
            stored = posting.post(self.ib, entity, ref)
        if deleted:
            stored = self.docs.mark_deleted(entity, ref)
        return stored

    def _schedule(self, date: datetime, total: float) -> list[dict[str, Any]]:
        """Prepayment share on the order date, the rest as a credit due 7-45 days later (a deferral)."""
        share = self.rng.choice([0, 30, 40, 50, 100])
        prepay = round(total * share / 100, 2)
        stages = []
        if share:
            stages.append(
                {
                    "ВариантОплаты": "ПредоплатаДоОтгрузки",
                    "ДатаПлатежа": date.strftime("%Y-%m-%dT00:00:00"),
                    "ПроцентПлатежа": share,
                    "СуммаПлатежа": prepay,
                }
            )
        if share < 100:
            due = date + timedelta(days=self.rng.choice([7, 14, 30, 45]))
            stages.append(
                {
                    "ВариантОплаты": "КредитПослеОтгрузки",
                    "ДатаПлатежа": due.strftime("%Y-%m-%dT00:00:00"),
                    "ПроцентПлатежа": 100 - share,
                    "СуммаПлатежа": round(total - prepay, 2),
                    "Сдвиг": 0,
                }
            )
        return stages

    def orders(self, count: int, since: datetime = datetime(2017, 1, 1)) -> Stored:
        """`count` orders spread over [since, now], in date order, ~5% unposted and ~2% marked for deletion."""
        span = (self.now - since).total_seconds()
        dates = sorted(since + timedelta(seconds=int(self.rng.random() * span)) for _ in range(count))
        out = []
        for date in dates:
            r = self.rng.random()
            out.append(self.order(date, posted=r > 0.05, deleted=0.05 < r < 0.07)["Ref_Key"])
        return Stored(self.ib, self.ib.config.roles["order" if not self.bp else "invoice"], out)

    def edit_order(self, ref: str) -> dict[str, Any]:
        """A manager changes an order: one more line, new total, new comment."""
        entity = self.ib.config.roles["order" if not self.bp else "invoice"]
        current = self.ib.get(entity, ref)
        assert current is not None
        product = self.rng.choice(self.products)
        rows = [dict(r) for r in current["Товары"]] + [
            {
                "Номенклатура_Key": product["Ref_Key"],
                "Количество": 1,
                "КоличествоУпаковок": 1,
                "Цена": product["price"],
                "Сумма": product["price"],
                "СуммаСНДС": product["price"],
            }
        ]
        return self.ib.update(
            entity,
            ref,
            {
                "Товары": rows,
                "СуммаДокумента": round(sum(float(r["Сумма"]) for r in rows), 2),
                "Комментарий": "Изменено: добавлена позиция",
            },
        )

    # -- money and goods ------------------------------------------------------------------------------------

    def receipt(
        self, order: dict[str, Any], amount: float, date: datetime, cash: bool = False
    ) -> dict[str, Any]:
        """A posted payment from the customer settling the order (bank or cash)."""
        return self.docs.money("cash_receipt" if cash else "bank_receipt", order, amount, date)

    def refund(
        self, order: dict[str, Any], amount: float, date: datetime, cash: bool = False
    ) -> dict[str, Any]:
        """Money returned to the customer for the order (reduces what is paid)."""
        return self.docs.money("cash_refund" if cash else "bank_refund", order, amount, date)

    def shipment(self, order: dict[str, Any], fraction: float, date: datetime) -> dict[str, Any]:
        """A posted shipment of `fraction` of every line of the order."""
        return self.docs.shipment(order, fraction, date)

    def invoice(self, order: dict[str, Any], date: datetime) -> dict[str, Any]:
        return self.docs.invoice(order, date)

    def repost(self, entity: str, ref: str, amount: float | None = None) -> dict[str, Any]:
        """Re-post a document; with `amount`, a payment is first corrected to that amount."""
        changes: dict[str, Any] | None = None
        if amount is not None:
            doc = self.ib.get(entity, ref)
            assert doc is not None
            rows = [dict(r) for r in doc["РасшифровкаПлатежа"]]
            key = "СуммаПлатежа" if self.bp else "Сумма"
            rows[0].update({key: amount, "СуммаВзаиморасчетов": amount})
            changes = {"СуммаДокумента": amount, "РасшифровкаПлатежа": rows}
        return self.docs.repost(entity, ref, changes)

    def unpost(self, entity: str, ref: str) -> dict[str, Any]:
        return self.docs.unpost(entity, ref)

    def money_flows(self, orders: Iterable[dict[str, Any]]) -> None:
        """Invoices, payments (partial, over, corrected, un-posted, deleted), refunds and shipments for orders."""
        rng = self.money_rng
        for order in orders:
            if (not order["Posted"] and not self.bp) or order["DeletionMark"]:
                continue
            start = datetime.fromisoformat(order["Date"])
            room = max(1, int((self.now - start).total_seconds()))

            def later(max_days: int = 60, base: datetime = start, room: int = room) -> datetime:
                return base + timedelta(seconds=rng.randint(60, min(room, max_days * 86400)))

            total = float(order["СуммаДокумента"])
            if not self.bp and rng.random() < 0.6:
                self.invoice(order, later(2))
            paid_share = rng.choice([0, 0.3, 0.4, 0.5, 1, 1, 1, 1.1])
            parts = rng.randint(1, 3)
            for _ in range(parts if paid_share else 0):
                cash = rng.random() < 0.25
                receipt, r = self.receipt(order, total * paid_share / parts, later(), cash=cash), rng.random()
                entity = self.ib.config.roles["cash_receipt" if cash else "bank_receipt"]
                if r < 0.05:
                    self.repost(entity, receipt["Ref_Key"], round(total * paid_share / parts * 0.9, 2))
                elif r < 0.08:
                    self.unpost(entity, receipt["Ref_Key"])
                elif r < 0.10:
                    self.docs.mark_deleted(entity, receipt["Ref_Key"])
            if paid_share and rng.random() < 0.04:
                self.refund(order, total * 0.1, later(90), cash=rng.random() < 0.3)
            shipped = rng.choice([0, 0, 0.4, 0.5, 1, 1])
            if shipped and (not self.bp or rng.random() < 0.5):
                self.shipment(order, shipped, later())

    def activity(self, steps: int = 10) -> dict[str, int]:
        """Ongoing work since the last run: new orders, edited orders, new payments on recent orders."""
        done = {"new": 0, "edited": 0, "paid": 0}
        entity = self.ib.config.roles["order" if not self.bp else "invoice"]
        for step in range(steps):
            kind = self.rng.choice(["new", "new", "edited", "paid"])
            recent = [o for o in self.ib.all(entity)[-50:] if o["Posted"] and not o["DeletionMark"]]
            when = self.now + timedelta(minutes=step)
            if kind == "new" or not recent:
                self.order(when - timedelta(minutes=30))
                done["new"] += 1
            elif kind == "edited":
                self.edit_order(self.rng.choice(recent)["Ref_Key"])
                done["edited"] += 1
            else:
                order = self.rng.choice(recent)
                self.receipt(
                    order,
                    float(order["СуммаДокумента"]) / 2,
                    max(when, datetime.fromisoformat(order["Date"])),
                )
                done["paid"] += 1
        return done


REFERENCE = {
    "organization": "5f1c0a10-8d2e-11ee-b9d1-0242ac120002",
    "partner": "7a3b2c11-8d2e-11ee-b9d1-0242ac120002",
    "counterparty": "7a3b2c12-8d2e-11ee-b9d1-0242ac120002",
    "currency": "3c2b1a00-8d2e-11ee-b9d1-0242ac120002",
    "manager": "1d9e8f20-8d2e-11ee-b9d1-0242ac120002",
    "product_a": "9b8a7c01-8d2e-11ee-b9d1-0242ac120002",
    "product_b": "9b8a7c02-8d2e-11ee-b9d1-0242ac120002",
    "vat": "2e1d0c30-8d2e-11ee-b9d1-0242ac120002",
    "order": "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01",
    "settlement": "0cc1a3f1-9a1b-11ef-8f2a-00155d0a1b01",
    "receipt": "0cc1a3f2-9a1b-11ef-8f2a-00155d0a1b01",
    "shipment": "0cc1a3f3-9a1b-11ef-8f2a-00155d0a1b01",
}


def reference_scenario(ib: Infobase) -> dict[str, str]:
    """Reference §10: order 25 000 (2 lines, VAT incl.), bank receipt 10 000 (40 %), shipment of 40 % of the goods."""
    r = REFERENCE
    bp = ib.config.name == "bp3.0"
    ib.insert(
        "Catalog_Организации",
        {
            "Ref_Key": r["organization"],
            "Code": "000000001",
            "Description": "ООО «Металл-Сервис»",
            "ИНН": "7701234567",
            "КПП": "770101001",
        },
    )
    ib.insert("Catalog_Валюты", {"Ref_Key": r["currency"], "Code": "643", "Description": "руб."})
    ib.insert(
        "Catalog_Пользователи", {"Ref_Key": r["manager"], "Code": "000000001", "Description": "Петрова Анна"}
    )
    attr, company, _ = ib.config.legal_form
    cp: dict[str, Any] = {
        "Ref_Key": r["counterparty"],
        "Code": "000000001",
        "Description": "ООО «Вектор-Снаб»",
        "ИНН": "7712345678",
        "КПП": "771201001",
        attr: company,
    }
    if not bp:
        ib.insert(
            "Catalog_Партнеры",
            {
                "Ref_Key": r["partner"],
                "Code": "000000001",
                "Description": "Вектор-Снаб",
                "Клиент": True,
                "ЮрФизЛицо": company,
            },
        )
        cp["Партнер_Key"] = r["partner"]
    ib.insert("Catalog_Контрагенты", cp)
    vat: dict[str, Any] = {"СтавкаНДС": "НДС20"}
    if "Catalog_СтавкиНДС" in ib.types:
        ib.insert(
            "Catalog_СтавкиНДС",
            {"Ref_Key": r["vat"], "Code": "000000001", "Description": "20%", "Ставка": 20},
        )
        vat = {"СтавкаНДС_Key": r["vat"]}
    for key, name in (("product_a", "Профлист С8"), ("product_b", "Уголок 50×50")):
        ib.insert("Catalog_Номенклатура", {"Ref_Key": r[key], "Code": key[-1], "Description": name, **vat})
    rows = [
        {
            "Номенклатура_Key": r["product_a"],
            "Количество": 10,
            "Цена": 1500,
            "Сумма": 15000,
            "СуммаНДС": 2500,
            **vat,
        },
        {
            "Номенклатура_Key": r["product_b"],
            "Количество": 5,
            "Цена": 2000,
            "Сумма": 10000,
            "СуммаНДС": 1666.67,
            **vat,
        },
    ]
    docs = Documents(ib)
    head = {
        "Ref_Key": r["order"],
        "Number": "ЦБ00-000125",
        "Date": "2024-11-05T10:15:32",
        "Организация_Key": r["organization"],
        "Контрагент_Key": r["counterparty"],
        "Валюта_Key": r["currency"],
    }
    if bp:
        # A БП invoice is not posted, so nothing totals its rows: the document carries its sum and due date.
        bp_head = {"СуммаДокумента": 25000, "СрокОплаты": "2024-11-26T00:00:00"}
        order = docs.write("Document_СчетНаОплатуПокупателю", {**head, **bp_head, "Товары": rows}, post=False)
    else:
        if ib.config.settlement == "ОбъектРасчетов":
            ib.insert(
                "Catalog_ОбъектыРасчетов",
                {
                    "Ref_Key": r["settlement"],
                    "Code": "000000125",
                    "Description": "Заказ клиента ЦБ00-000125",
                    "Объект": r["order"],
                    "Объект_Type": ORDER_TYPE,
                    "Организация_Key": r["organization"],
                },
            )
            head["ОбъектРасчетов_Key"] = r["settlement"]
        for row in rows:
            row.update(
                {
                    "КоличествоУпаковок": row["Количество"],
                    "СуммаСНДС": row["Сумма"],
                    "ВариантОбеспечения": "Отгрузить",
                    "ДатаОтгрузки": "2024-11-12T00:00:00",
                }
            )
        order = docs.write(
            "Document_ЗаказКлиента",
            {
                **head,
                "Партнер_Key": r["partner"],
                "ЦенаВключаетНДС": True,
                "НалогообложениеНДС": "ПродажаОблагаетсяНДС",
                "ХозяйственнаяОперация": "РеализацияКлиенту",
                "Статус": "КОтгрузке",
                "Согласован": True,
                "Менеджер_Key": r["manager"],
                "ФормаОплаты": "Безналичная",
                "НомерПоДаннымКлиента": "B24-4711",
                "Комментарий": "Сделка Битрикс24 #4711",
                "Товары": rows,
                "ЭтапыГрафикаОплаты": [
                    {
                        "ВариантОплаты": "ПредоплатаДоОтгрузки",
                        "ДатаПлатежа": "2024-11-08T00:00:00",
                        "ПроцентПлатежа": 40,
                        "СуммаПлатежа": 10000,
                    },
                    {
                        "ВариантОплаты": "КредитПослеОтгрузки",
                        "ДатаПлатежа": "2024-11-26T00:00:00",
                        "ПроцентПлатежа": 60,
                        "СуммаПлатежа": 15000,
                    },
                ],
            },
        )
    docs.numbers = {ib.config.roles["bank_receipt"]: 77, ib.config.roles["shipment"]: 90}
    docs.money("bank_receipt", order, 10000, datetime(2024, 11, 7, 14, 2, 11), ref=r["receipt"])
    docs.shipment(order, 0.4, datetime(2024, 11, 12, 16, 40), ref=r["shipment"])
    return dict(r)


def generate(
    infobase: Infobase, orders: int, seed: int = 7, now: datetime | None = None, money: bool = True
) -> Dataset:
    """Catalogs plus `orders` customer orders since 2017, with their money and goods documents."""
    data = Dataset(infobase, seed, now).catalogs()
    made = data.orders(orders)
    if money:
        data.money_flows(made)
    return data
