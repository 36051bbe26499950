"""A realistic, reproducible 1C dataset: orders since 2017 with Cyrillic names, several managers, look-alikes."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from connector.sandbox.onec.infobase import EMPTY_REF, Infobase

FIRST_NAMES = ["Иван", "Пётр", "Анна", "Мария", "Сергей", "Ольга", "Дмитрий", "Елена", "Алексей", "Наталья"]
LAST_NAMES = ["Иванов", "Петрова", "Смирнов", "Кузнецова", "Попов", "Соколова", "Лебедев", "Козлова", "Новиков"]
COMPANY_WORDS = ["Металл", "Профлист", "СтройИнвест", "Ресурс", "Техно", "Вектор", "Альянс", "Снаб", "Кровля",
                 "Торговый дом", "Урал", "Сибирь", "Регион", "Комплект", "Сервис"]
FORMS = ["ООО", "АО", "ПАО", "ИП"]
PRODUCTS = ["Профлист С8", "Профлист НС35", "Металлочерепица Монтеррей", "Саморез кровельный 4,8×35",
            "Уголок 50×50", "Труба профильная 40×20", "Лист г/к 3 мм", "Арматура А500С Ø12", "Швеллер 10П",
            "Сетка сварная 50×50", "Доборный элемент «конёк»", "Водосток 125/90", "Утеплитель 100 мм",
            "Мембрана пароизоляционная", "Кронштейн желоба"]
COMMENTS = ["", "", "", "Срочно!", "Доставка до объекта", 'Клиент просил "без НДС" в счёте',
            "Самовывоз & оплата по факту", "Отгрузка частями", "Цена согласована с Петровой А."]


def _ref(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _inn(rng: random.Random, digits: int = 10) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(digits))


class Dataset:
    """Fills an infobase; keeps the references it made so tests and the demo can change things."""

    def __init__(self, infobase: Infobase, seed: int = 7, now: datetime | None = None) -> None:
        self.ib = infobase
        self.rng = random.Random(seed)
        self.now = (now or datetime.now()).replace(microsecond=0, tzinfo=None)
        self.currencies: dict[str, str] = {}
        self.managers: list[str] = []
        self.counterparties: list[dict[str, Any]] = []
        self.products: list[dict[str, Any]] = []
        self.organization = ""
        self.order_no = 0

    def catalogs(self, n_counterparties: int = 60, n_products: int = 60) -> Dataset:
        rng, ib = self.rng, self.ib
        for code, name in (("643", "руб."), ("840", "USD"), ("978", "EUR")):
            self.currencies[code] = ib.insert("Catalog_Валюты", {"Ref_Key": _ref(rng), "Code": code,
                                                                 "Description": name})["Ref_Key"]
        self.organization = ib.insert("Catalog_Организации", {
            "Ref_Key": _ref(rng), "Code": "000000001", "Description": "ООО «Металл-Сервис»",
            "НаименованиеПолное": "Общество с ограниченной ответственностью «Металл-Сервис»", "ИНН": "7701234567",
            "КПП": "770101001"})["Ref_Key"]
        for i in range(8):
            name = f"{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
            self.managers.append(ib.insert("Catalog_Пользователи", {
                "Ref_Key": _ref(rng), "Code": f"{i + 1:09d}", "Description": name,
                "АдресЭлектроннойПочты": f"manager{i + 1}@metall-servis.ru"})["Ref_Key"])
        for i in range(n_counterparties):
            form = rng.choice(FORMS)
            base = f"{rng.choice(COMPANY_WORDS)}-{rng.choice(COMPANY_WORDS)}"
            if self.counterparties and rng.random() < 0.1:  # look-alike of an existing one
                base = self.counterparties[-1]["base"]
            name = f"{form} «{base}»" if form != "ИП" else f"ИП {rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"
            partner = ib.insert("Catalog_Партнеры", {"Ref_Key": _ref(rng), "Code": f"{i + 1:09d}", "Description": name,
                                                     "Клиент": True, "ЮрФизЛицо": "ЮрЛицо" if form != "ИП" else
                                                     "ИндивидуальныйПредприниматель",
                                                     "ОсновнойМенеджер_Key": rng.choice(self.managers)})
            cp = ib.insert("Catalog_Контрагенты", {
                "Ref_Key": _ref(rng), "Code": f"{i + 1:09d}", "Description": name, "НаименованиеПолное": name,
                "ИНН": _inn(rng, 12 if form == "ИП" else 10), "КПП": "" if form == "ИП" else _inn(rng, 9),
                "ЮрФизЛицо": partner["ЮрФизЛицо"], "Партнер_Key": partner["Ref_Key"]})
            self.counterparties.append({"ref": cp["Ref_Key"], "partner": partner["Ref_Key"], "base": base})
        for i in range(n_products):
            name = PRODUCTS[i % len(PRODUCTS)] + ("" if i < len(PRODUCTS) else f" (арт. {i})")
            self.products.append(ib.insert("Catalog_Номенклатура", {
                "Ref_Key": _ref(rng), "Code": f"{i + 1:09d}", "Description": name, "НаименованиеПолное": name,
                "Артикул": f"A-{1000 + i}", "ТипНоменклатуры": "Товар"}) | {"price": rng.randint(50, 9000)})
        return self

    def order(self, date: datetime, posted: bool = True, deleted: bool = False,
              lines: int | None = None) -> dict[str, Any]:
        """One customer order as a 1C user would enter it."""
        rng = self.rng
        self.order_no += 1
        cp = rng.choice(self.counterparties)
        rows = []
        for _ in range(lines if lines is not None else rng.randint(1, 6)):
            product = rng.choice(self.products)
            qty = rng.choice([1, 2, 3, 5, 10, 12, 25, 100, 2.5])
            price = product["price"]
            total = round(qty * price, 2)
            rows.append({"Номенклатура_Key": product["Ref_Key"], "КоличествоУпаковок": qty, "Количество": qty,
                         "Цена": price, "Сумма": total, "СуммаНДС": round(total / 6, 2), "СуммаСНДС": total,
                         "Склад_Key": EMPTY_REF, "ВариантОбеспечения": "Отгрузить"})
        currency = self.currencies["643"] if rng.random() < 0.95 else self.currencies[rng.choice(["840", "978"])]
        return self.ib.insert("Document_ЗаказКлиента", {
            "Ref_Key": _ref(rng), "Number": f"ЦБ00-{self.order_no:06d}", "Date": date.isoformat(),
            "Posted": posted, "DeletionMark": deleted, "Организация_Key": self.organization,
            "Партнер_Key": cp["partner"], "Контрагент_Key": cp["ref"], "Валюта_Key": currency,
            "СуммаДокумента": round(sum(r["Сумма"] for r in rows), 2), "ЦенаВключаетНДС": True,
            "НалогообложениеНДС": "ПродажаОблагаетсяНДС", "ХозяйственнаяОперация": "РеализацияКлиенту",
            "Статус": rng.choice(["КОбеспечению", "КОтгрузке", "КОтгрузке", "Закрыт"]), "Согласован": True,
            "Менеджер_Key": rng.choice(self.managers), "ФормаОплаты": rng.choice(["Безналичная", "Наличная"]),
            "Комментарий": rng.choice(COMMENTS), "Товары": rows})

    def orders(self, count: int, since: datetime = datetime(2017, 1, 1)) -> list[dict[str, Any]]:
        """`count` orders spread over [since, now], in date order, ~5% unposted and ~2% marked for deletion."""
        span = (self.now - since).total_seconds()
        dates = sorted(since + timedelta(seconds=int(self.rng.random() * span)) for _ in range(count))
        out = []
        for date in dates:
            r = self.rng.random()
            out.append(self.order(date, posted=r > 0.05, deleted=0.05 < r < 0.07))
        return out

    def edit_order(self, ref: str) -> dict[str, Any]:
        """A manager changes an order: one more line, new total, new comment."""
        current = self.ib.get("Document_ЗаказКлиента", ref)
        assert current is not None
        product = self.rng.choice(self.products)
        rows = [dict(r) for r in current["Товары"]] + [{"Номенклатура_Key": product["Ref_Key"], "Количество": 1,
                                                        "КоличествоУпаковок": 1, "Цена": product["price"],
                                                        "Сумма": product["price"], "СуммаСНДС": product["price"]}]
        return self.ib.update("Document_ЗаказКлиента", ref, {
            "Товары": rows, "СуммаДокумента": round(sum(float(r["Сумма"]) for r in rows), 2),
            "Комментарий": "Изменено: добавлена позиция"})


def generate(infobase: Infobase, orders: int, seed: int = 7, now: datetime | None = None) -> Dataset:
    """Catalogs plus `orders` customer orders since 2017."""
    data = Dataset(infobase, seed, now).catalogs()
    data.orders(orders)
    return data
