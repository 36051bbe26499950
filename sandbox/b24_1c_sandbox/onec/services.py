"""The web services a customized 1C exposes to the CRM, and БСП's `InterfaceVersion`.

`CrmExchange` (namespace `urn:crm`): `CreateOrder(IdempotencyKey, OrderJson)` creates and posts a customer order
in one transaction (a posting failure leaves nothing behind) and returns the same order for the same key, never a
second one; `UpdateOrder(OrderId, OrderJson)` changes it and re-posts; `GetOrderState(OrderId)` returns a JSON
string with Статус/Оплачено/Отгружено read from the settlement register. Results are JSON strings, as many
real 1C services return.
"""

from __future__ import annotations

import json
import re
from typing import Any

from b24_1c_sandbox.onec import posting, registers, writes
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import EMPTY_REF, Infobase
from b24_1c_sandbox.onec.wsdl import Operation, Service

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
VERSIONS = {"CrmExchange": ["1.0.0.1", "1.1.0.1"]}


class ServiceFault(Exception):
    """An exception raised by the service's 1C code: becomes a soap:Fault with this text."""


class CrmExchange:
    """The service code (what the 1C developer wrote in the web-service module)."""

    def __init__(self, ib: Infobase) -> None:
        self.ib = ib
        self.entity = ib.config.roles.get("order", "")

    def _order(self, order_id: str) -> dict[str, Any]:
        if not self.entity:
            raise ServiceFault(
                'Операция не поддерживается в этой конфигурации: нет документа "Заказ клиента"'
            )
        if not _GUID.match(order_id.strip()):
            raise ServiceFault(f'Некорректный идентификатор заказа: "{order_id}"')
        order = self.ib.get(self.entity, order_id.strip().lower())
        if order is None:
            raise ServiceFault(f"Заказ клиента не найден: {order_id}")
        return order

    def _parse(self, order_json: str) -> dict[str, Any]:
        try:
            data = json.loads(order_json)
        except ValueError as exc:
            raise ServiceFault(f"Ошибка преобразования данных заказа из JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ServiceFault("Ошибка преобразования данных заказа из JSON: ожидается объект")
        return data

    def _fill(self, data: dict[str, Any]) -> dict[str, Any]:
        ib, body = self.ib, dict(data)
        orgs = ib.all("Catalog_Организации")
        body.setdefault("Организация_Key", orgs[0]["Ref_Key"] if orgs else EMPTY_REF)
        cp = ib.get("Catalog_Контрагенты", str(body.get("Контрагент_Key", "")).lower())
        if cp and "Партнер_Key" in cp:
            body.setdefault("Партнер_Key", cp["Партнер_Key"])
        rub = next((c for c in ib.all("Catalog_Валюты") if c["Code"] == "643"), None)
        if rub:
            body.setdefault("Валюта_Key", rub["Ref_Key"])
        for name, value in (
            ("ХозяйственнаяОперация", "РеализацияКлиенту"),
            ("Статус", "КОтгрузке"),
            ("ЦенаВключаетНДС", True),
            ("НалогообложениеНДС", "ПродажаОблагаетсяНДС"),
            ("Согласован", True),
        ):
            body.setdefault(name, value)
        rows = body.get("Товары")
        if isinstance(rows, list):
            for row in rows:
                if isinstance(row, dict) and "Сумма" not in row:
                    try:
                        total = round(float(row.get("Количество", 0)) * float(row.get("Цена", 0)), 2)
                    except (TypeError, ValueError):
                        raise ServiceFault("Некорректное количество или цена в строке заказа") from None
                    row.update(
                        {
                            "Сумма": total,
                            "СуммаСНДС": total,
                            "СуммаНДС": round(total / 6, 2),
                            "КоличествоУпаковок": row.get("Количество", 0),
                        }
                    )
        return body

    def _state(self, order: dict[str, Any], created: bool | None = None) -> str:
        state = (
            registers.order_state(self.ib, order)
            if self.ib.config.registers
            else {"Оплачено": 0, "Отгружено": 0}
        )
        out: dict[str, Any] = {
            "Ref_Key": order["Ref_Key"],
            "Номер": order["Number"],
            "Дата": order["Date"],
            "Статус": order.get("Статус", ""),
            "Проведен": order["Posted"],
            "СуммаДокумента": order.get("СуммаДокумента", 0),
            **state,
        }
        if created is not None:
            out["Создан"] = created
        return json.dumps(out, ensure_ascii=False)

    def get_order_state(self, OrderId: str) -> str:
        return self._state(self._order(OrderId))

    def create_order(self, IdempotencyKey: str, OrderJson: str) -> str:
        if not self.entity:
            raise ServiceFault(
                'Операция не поддерживается в этой конфигурации: нет документа "Заказ клиента"'
            )
        key = IdempotencyKey.strip()
        if not key:
            raise ServiceFault("Не указан ключ идемпотентности (IdempotencyKey)")
        ib = self.ib
        with ib.lock:  # one transaction: the same key can never create two orders
            known = ib.keys.get(key)
            if known and ib.get(self.entity, known) is not None:
                return self._state(ib.sets[self.entity][known], created=False)
            body = self._fill(self._parse(OrderJson))
            try:
                stored = writes.create(ib, self.entity, body)
            except ODataError as err:
                raise ServiceFault(err.message) from None
            try:
                order = posting.post(ib, self.entity, stored["Ref_Key"])
            except ODataError as err:
                ib.delete(self.entity, stored["Ref_Key"])  # ОтменитьТранзакцию(): the draft goes too
                raise ServiceFault(err.message) from None
            ib.keys[key] = order["Ref_Key"]
            return self._state(order, created=True)

    def update_order(self, OrderId: str, OrderJson: str) -> str:
        with self.ib.lock:
            order = self._order(OrderId)
            body = self._fill(self._parse(OrderJson))
            try:
                writes.patch(self.ib, self.entity, order["Ref_Key"], body)
                order = posting.post(self.ib, self.entity, order["Ref_Key"])
            except ODataError as err:
                raise ServiceFault(err.message) from None
            return self._state(order, created=False)


def services(ib: Infobase) -> dict[str, Service]:
    """The published web services of an infobase, by name."""
    crm = CrmExchange(ib)
    s = "xs:string"
    exchange = Service(
        "CrmExchange",
        "urn:crm",
        {
            "GetOrderState": Operation("GetOrderState", [("OrderId", s)], s, crm.get_order_state),
            "CreateOrder": Operation(
                "CreateOrder", [("IdempotencyKey", s), ("OrderJson", s)], s, crm.create_order
            ),
            "UpdateOrder": Operation("UpdateOrder", [("OrderId", s), ("OrderJson", s)], s, crm.update_order),
        },
    )

    def get_versions(InterfaceName: str) -> list[str]:
        return VERSIONS.get(InterfaceName, [])

    versions = Service(
        "InterfaceVersion",
        "http://www.1c.ru/SaaS/1.0/WS",
        {"GetVersions": Operation("GetVersions", [("InterfaceName", s)], "tns:ArrayOfString", get_versions)},
        types='<xs:complexType name="ArrayOfString"><xs:sequence><xs:element name="string" type="xs:string" '
        'minOccurs="0" maxOccurs="unbounded"/></xs:sequence></xs:complexType>',
    )
    return {exchange.name: exchange, versions.name: versions}
