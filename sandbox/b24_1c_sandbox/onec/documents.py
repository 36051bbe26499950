"""Money and goods documents as a 1C user enters them, for any profile, through the same write and posting code
the OData front uses (so the dataset can never hold what real posting would refuse).

A receipt's row points at the order the way each configuration does it: УТ 11.5 `ОбъектРасчетов_Key` = the
order's settlement object; УТ 11.4 `Заказ` + `Заказ_Type`; БП 3.0 `СчетНаОплату_Key` = the invoice. A shipment
carries `ЗаказКлиента` + `_Type` in the header and in every row (and 11.5 rows the settlement object).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import Any

from b24_1c_sandbox.onec import posting, writes
from b24_1c_sandbox.onec.infobase import EMPTY_REF, Infobase

ORDER_TYPE = "StandardODATA.Document_ЗаказКлиента"


class Documents:
    """Creates, posts, re-posts and un-posts documents of one infobase."""

    def __init__(self, ib: Infobase, rng: random.Random | None = None) -> None:
        self.ib = ib
        self.rng = rng  # seeded keys make a generated dataset reproducible
        self.numbers: dict[str, int] = {}

    def _number(self, entity: str) -> str:
        self.numbers[entity] = self.numbers.get(entity, len(self.ib.sets[entity])) + 1
        return f"ЦБ00-{self.numbers[entity]:06d}"

    def write(self, entity: str, body: dict[str, Any], post: bool = True) -> dict[str, Any]:
        """Create (with a generated number) and optionally post a document; posting errors propagate."""
        body = {"Number": self._number(entity), **body}
        if self.rng is not None and "Ref_Key" not in body:
            body["Ref_Key"] = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        stored = writes.create(self.ib, entity, body)
        return posting.post(self.ib, entity, stored["Ref_Key"]) if post else stored

    def repost(self, entity: str, ref: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
        """An accountant corrects a document and posts it again (movements are rebuilt)."""
        if changes:
            writes.patch(self.ib, entity, ref, changes)
        return posting.post(self.ib, entity, ref)

    def unpost(self, entity: str, ref: str) -> dict[str, Any]:
        return posting.unpost(self.ib, entity, ref)

    def mark_deleted(self, entity: str, ref: str) -> dict[str, Any]:
        """Deletion mark (un-posts a posted document)."""
        return writes.patch(self.ib, entity, ref, {"DeletionMark": True})

    # -- builders -----------------------------------------------------------------------------------------------

    def _settles(self, target: dict[str, Any]) -> dict[str, Any]:
        cfg = self.ib.config
        if cfg.settlement == "ОбъектРасчетов":
            return {"ОбъектРасчетов_Key": target.get("ОбъектРасчетов_Key", EMPTY_REF)}
        if cfg.settlement == "Заказ":
            return {"Заказ": target["Ref_Key"], "Заказ_Type": ORDER_TYPE}
        return {
            "СчетНаОплату_Key": target["Ref_Key"],
            "ДоговорКонтрагента_Key": target.get("ДоговорКонтрагента_Key", EMPTY_REF),
        }

    def _vat(self, amount: float) -> dict[str, Any]:
        rates = self.ib.sets.get("Catalog_СтавкиНДС")
        rate = next(iter(rates)) if rates else None
        vat = {"СтавкаНДС_Key": rate} if self.ib.config.vat == "catalog" and rate else {"СтавкаНДС": "НДС20"}
        return {**vat, "СуммаНДС": round(amount / 6, 2)}

    def money(
        self,
        role: str,
        target: dict[str, Any],
        amount: float,
        date: datetime,
        post: bool = True,
        ref: str | None = None,
    ) -> dict[str, Any]:
        """A receipt or refund (role bank_receipt, cash_receipt, bank_refund, cash_refund) for an order/invoice."""
        cfg, entity = self.ib.config, self.ib.config.roles[role]
        refund = role.endswith("refund")
        amount = round(amount, 2)
        if cfg.name == "bp3.0":
            row = {
                **self._settles(target),
                "СуммаПлатежа": amount,
                "СуммаВзаиморасчетов": amount,
                "СпособПогашенияЗадолженности": "Автоматически",
                **self._vat(amount),
            }
            operation = "ВозвратПокупателю" if refund else "ОплатаПокупателя"
            body: dict[str, Any] = {
                "ВидОперации": operation,
                "Контрагент": target["Контрагент_Key"],
                "Контрагент_Type": "StandardODATA.Catalog_Контрагенты",
                "ДоговорКонтрагента_Key": target.get("ДоговорКонтрагента_Key", EMPTY_REF),
            }
        else:
            row = {
                "Партнер_Key": target.get("Партнер_Key", EMPTY_REF),
                **self._settles(target),
                "Сумма": amount,
                "СуммаВзаиморасчетов": amount,
                "ВалютаВзаиморасчетов_Key": target.get("Валюта_Key", EMPTY_REF),
                **self._vat(amount),
            }
            operation = "ВозвратОплатыКлиенту" if refund else "ПоступлениеОплатыОтКлиента"
            body = {
                "ХозяйственнаяОперация": operation,
                "Контрагент_Key": target["Контрагент_Key"],
                "НазначениеПлатежа": f"Оплата по заказу № {target['Number']}, в т.ч. НДС 20%",
            }
        body.update(
            {
                "Date": date.replace(microsecond=0).isoformat(),
                "Организация_Key": target["Организация_Key"],
                "Валюта_Key": target.get("Валюта_Key", EMPTY_REF),
                "СуммаДокумента": amount,
                "РасшифровкаПлатежа": [row],
                **({"Ref_Key": ref} if ref else {}),
            }
        )
        return self.write(entity, body, post)

    def shipment(
        self,
        order: dict[str, Any],
        fraction: float,
        date: datetime,
        post: bool = True,
        ref: str | None = None,
    ) -> dict[str, Any]:
        """A shipment of `fraction` of every line of an order (or of a БП invoice)."""
        bp = self.ib.config.name == "bp3.0"
        rows = []
        for line in order["Товары"]:
            qty = round(float(line["Количество"]) * fraction, 3)
            if qty <= 0:
                continue
            amount = round(qty * float(line["Цена"]), 2)
            row: dict[str, Any] = {
                "Номенклатура_Key": line["Номенклатура_Key"],
                "Количество": qty,
                "Цена": line["Цена"],
                "Сумма": amount,
                **self._vat(amount),
            }
            if not bp:
                row.update(
                    {
                        "КоличествоУпаковок": qty,
                        "СуммаСНДС": amount,
                        "СуммаВзаиморасчетов": amount,
                        "ЗаказКлиента": order["Ref_Key"],
                        "ЗаказКлиента_Type": ORDER_TYPE,
                    }
                )
                if self.ib.config.settlement == "ОбъектРасчетов":
                    row["ОбъектРасчетов_Key"] = order["ОбъектРасчетов_Key"]
            rows.append(row)
        body: dict[str, Any] = {
            "Date": date.replace(microsecond=0).isoformat(),
            "Организация_Key": order["Организация_Key"],
            "Контрагент_Key": order["Контрагент_Key"],
            "Валюта_Key": order.get("Валюта_Key", EMPTY_REF),
            "Товары": rows,
            **({"Ref_Key": ref} if ref else {}),
        }
        if bp:
            body.update(
                {
                    "ВидОперации": "Товары",
                    "ДоговорКонтрагента_Key": order.get("ДоговорКонтрагента_Key", EMPTY_REF),
                    "Сделка": order["Ref_Key"],
                    "Сделка_Type": "StandardODATA.Document_СчетНаОплатуПокупателю",
                }
            )
        else:
            body.update(
                {
                    "ХозяйственнаяОперация": "РеализацияКлиенту",
                    "Партнер_Key": order["Партнер_Key"],
                    "ЦенаВключаетНДС": True,
                    "НалогообложениеНДС": "ПродажаОблагаетсяНДС",
                    "ЗаказКлиента": order["Ref_Key"],
                    "ЗаказКлиента_Type": ORDER_TYPE,
                    "РеализацияПоЗаказам": False,
                    "Статус": "Отгружено",
                }
            )
        return self.write(self.ib.config.roles["shipment"], body, post)

    def invoice(
        self,
        order: dict[str, Any],
        date: datetime,
        schedule: list[dict[str, Any]] | None = None,
        post: bool = True,
    ) -> dict[str, Any]:
        """УТ: an invoice based on the order (with its payment schedule)."""
        body = {
            "Date": date.replace(microsecond=0).isoformat(),
            "Организация_Key": order["Организация_Key"],
            "Партнер_Key": order["Партнер_Key"],
            "Контрагент_Key": order["Контрагент_Key"],
            "Валюта_Key": order["Валюта_Key"],
            "СуммаДокумента": order["СуммаДокумента"],
            "ДокументОснование": order["Ref_Key"],
            "ДокументОснование_Type": ORDER_TYPE,
            "ФормаОплаты": order.get("ФормаОплаты", "Безналичная"),
            "ЧастичнаяОплата": True,
            "Менеджер_Key": order.get("Менеджер_Key", EMPTY_REF),
            "НазначениеПлатежа": f"Оплата по заказу № {order['Number']}",
            "ЭтапыГрафикаОплаты": schedule if schedule is not None else order.get("ЭтапыГрафикаОплаты", []),
        }
        return self.write(self.ib.config.roles["invoice"], body, post)
