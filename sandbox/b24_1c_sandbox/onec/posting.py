"""What the configuration's own code does on write and on posting, as far as a CRM client can see it.

Writes (skipped in data-load mode, as `ОбменДанными.Загрузка = Истина` skips `ПередЗаписью`): documents dated
before the change-prohibition date are refused; orders and shipments get `СуммаДокумента` from their rows and
row codes; an УТ 11.5 order gets its own `Catalog_ОбъектыРасчетов` item. Posting validates the filling
(`ОбработкаПроверкиЗаполнения`) and refuses operational posting of a past-dated document; its failures are
HTTP 500 with code "-1" and 1C's Russian wording. In data-load mode posting sets `Posted` without checks and
without movements, because `ОбработкаПроведения` does not run either.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from b24_1c_sandbox.onec.errors import ODataError, not_found

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.infobase import Infobase

ZERO = "00000000-0000-0000-0000-000000000000"
_LABELS = {
    "Организация_Key": "Организация",
    "Контрагент_Key": "Контрагент",
    "Контрагент": "Контрагент",
    "Партнер_Key": "Клиент",
    "Валюта_Key": "Валюта",
}


def business_error(text: str) -> ODataError:
    """A configuration-level refusal: HTTP 500, code "-1"."""
    return ODataError(500, "-1", text)


def presentation(ib: Infobase, entity: str, record: dict[str, Any]) -> str:
    """How 1C names an object in messages: `Заказ клиента ЦБ00-000125 от 05.11.2024 10:15:32`."""
    etype = ib.types[entity]
    if etype.kind != "Document":
        return str(record.get("Description", ""))
    try:
        when = datetime.fromisoformat(record["Date"]).strftime("%d.%m.%Y %H:%M:%S")
    except (KeyError, ValueError):
        when = str(record.get("Date", ""))
    return f"{etype.synonym} {record.get('Number', '')} от {when}"


def _role(ib: Infobase, entity: str) -> str:
    return next((role for role, name in ib.config.roles.items() if name == entity), "")


def before_write(ib: Infobase, entity: str, record: dict[str, Any], old: dict[str, Any] | None) -> None:
    """`ПередЗаписью`: refuse closed periods, recompute totals, give an 11.5 order its settlement object."""
    etype = ib.types[entity]
    closed = getattr(ib, "closed_before", None)
    if etype.kind == "Document" and closed:
        for doc in (old, record):
            if doc is not None and str(doc.get("Date", "")) < closed:
                raise business_error(
                    f'Не удалось записать "{presentation(ib, entity, record)}" по причине:\n'
                    f"Дата документа попадает в период, закрытый датой запрета изменения "
                    f"данных ({closed[:10]})"
                )
    role = _role(ib, entity)
    if role in ("order", "shipment") and "Товары" in record:
        rows = record["Товары"]
        for n, row in enumerate(rows, start=1):
            if not row.get("КодСтроки") or row.get("КодСтроки") == "0":
                row["КодСтроки"] = str(n)
        record["СуммаДокумента"] = _round(sum(_num(r.get("Сумма")) for r in rows))
        if role == "order" and ib.types[entity].edm("МаксимальныйКодСтроки"):
            record["МаксимальныйКодСтроки"] = str(len(rows))
    if role == "order":
        settlement_object(ib, record)


def settlement_object(ib: Infobase, order: dict[str, Any]) -> None:
    """УТ 11.5 keeps one `Catalog_ОбъектыРасчетов` item per order; money and shipments point at it."""
    if ib.config.settlement != "ОбъектРасчетов" or order.get("ОбъектРасчетов_Key", ZERO) not in (ZERO, None):
        return
    ref = order.get("Ref_Key") or str(uuid.uuid4())
    order["Ref_Key"] = ref
    item = ib.insert(
        "Catalog_ОбъектыРасчетов",
        {
            "Ref_Key": str(uuid.uuid5(uuid.NAMESPACE_OID, "settlement:" + ref)),
            "Code": f"{len(ib.sets['Catalog_ОбъектыРасчетов']) + 1:09d}",
            "Description": f"Заказ клиента {order.get('Number', '')}",
            "Организация_Key": order.get("Организация_Key", ZERO),
            "Партнер_Key": order.get("Партнер_Key", ZERO),
            "Объект": ref,
            "Объект_Type": "StandardODATA.Document_ЗаказКлиента",
        },
    )
    order["ОбъектРасчетов_Key"] = item["Ref_Key"]


def _num(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _round(value: float) -> float | int:
    value = round(value, 2)
    return int(value) if value == int(value) else value


def problems(ib: Infobase, entity: str, doc: dict[str, Any], operational: bool) -> list[str]:
    """`ОбработкаПроверкиЗаполнения` plus the platform's own posting checks; empty when the document may post."""
    out = []
    if doc.get("DeletionMark"):
        out.append("Помеченный на удаление документ не может быть проведен")
    today = ib.now().replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    if operational and str(doc.get("Date", "")) < today:
        out.append(
            "Оперативное проведение документа задним числом невозможно. "
            "Документ может быть проведен только в неоперативном режиме"
        )
    etype = ib.types[entity]
    for name in ("Организация_Key", "Контрагент_Key", "Контрагент"):
        if etype.edm(name) and doc.get(name) in (ZERO, "", None):
            out.append(f'Поле "{_LABELS[name]}" не заполнено')
    role = _role(ib, entity)
    if role in ("order", "shipment"):
        rows = doc.get("Товары", [])
        if not rows:
            out.append('Не введено ни одной строки в список "Товары"')
        for row in rows:
            n = row.get("LineNumber")
            if row.get("Номенклатура_Key") in (ZERO, "", None):
                out.append(f'Не заполнена колонка "Номенклатура" в строке {n} списка "Товары"')
            if _num(row.get("Количество")) <= 0:
                out.append(f'Не заполнена колонка "Количество" в строке {n} списка "Товары"')
            elif role == "order":
                out += _packaging_problems(ib, row, n)
    if role.endswith(("receipt", "refund")):
        rows = doc.get("РасшифровкаПлатежа", [])
        if _num(doc.get("СуммаДокумента")) <= 0:
            out.append('Поле "Сумма документа" не заполнено')
        if not rows:
            out.append('Не введено ни одной строки в список "Расшифровка платежа"')
        for row in rows:
            if _num(row.get("Сумма", row.get("СуммаПлатежа"))) <= 0:
                out.append(
                    f'Не заполнена колонка "Сумма" в строке {row.get("LineNumber")} списка '
                    '"Расшифровка платежа"'
                )
    return out


def _packaging_problems(ib: Infobase, row: dict[str, Any], n: Any) -> list[str]:
    """An order row's packaging belongs to its product (owned by the product or by the product's packaging set),
    and Количество, the quantity in the product's own unit, is КоличествоУпаковок × the packaging's
    Числитель / Знаменатель (× 1 without a packaging), to 1C's three decimals.

    УТ 11 keeps the two consistent in the order form (its quantity handlers recount Количество); a write through
    OData runs no form code, so a client could store a row whose stock and money movements (by Количество)
    disagree with its printed packagings. The emulator refuses to post such a row (our wording; the stricter
    reading), so a client that relies on 1C recounting fails here instead of in a real base's warehouse."""
    packages = row.get("КоличествоУпаковок")
    packaging = str(row.get("Упаковка_Key") or ZERO)
    if packaging == ZERO and _num(packages) == 0:
        return []  # a client that writes only Количество: nothing to compare
    ratio = 1.0
    if packaging != ZERO:
        found = ib.get("Catalog_УпаковкиЕдиницыИзмерения", packaging)
        if found is None:
            return [f'Упаковка в строке {n} списка "Товары" не найдена ({packaging})']
        product = ib.get("Catalog_Номенклатура", str(row.get("Номенклатура_Key"))) or {}
        owners = {product.get("Ref_Key"), product.get("НаборУпаковок_Key")} - {None, ZERO, ""}
        if found.get("Owner") not in owners:
            return [
                f'Упаковка "{found.get("Description", "")}" в строке {n} списка "Товары" не относится к '
                f'номенклатуре "{product.get("Description", "")}"'
            ]
        denominator = _num(found.get("Знаменатель")) or 1.0
        ratio = _num(found.get("Числитель")) / denominator
    if _num(packages) <= 0:
        return [f'Не заполнена колонка "Количество (упаковок)" в строке {n} списка "Товары"']
    expected = round(_num(packages) * ratio, 3)
    if abs(_num(row.get("Количество")) - expected) > 0.0005:
        return [
            f'Количество в строке {n} списка "Товары" ({_num(row.get("Количество")):g}) не равно количеству '
            f"упаковок, пересчитанному в единицы хранения ({_num(packages):g} × {ratio:g} = {expected:g})"
        ]
    return []


def post(
    ib: Infobase, entity: str, ref: str, operational: bool = False, load_mode: bool = False
) -> dict[str, Any]:
    """`/Post`: validate, set Posted, rebuild the movements (a re-post refreshes them)."""
    with ib.lock:
        etype = ib.types[entity]
        doc = ib.get(entity, ref)
        if doc is None:
            raise not_found()
        if not etype.postable:
            raise ODataError(400, "11", f"Метод не найден: Post ({entity})")
        if not load_mode:
            found = problems(ib, entity, doc, operational)
            if found:
                raise business_error(
                    f'Не удалось провести "{presentation(ib, entity, doc)}" по причине:\n' + "\n".join(found)
                )
            return ib.repost(entity, ref)
        stored = ib.update(entity, ref, {"Posted": True})
        ib.drop_movements(entity, ref)
        return stored


def unpost(ib: Infobase, entity: str, ref: str) -> dict[str, Any]:
    """`/Unpost`: clear Posted and remove the movements."""
    with ib.lock:
        if ib.get(entity, ref) is None:
            raise not_found()
        if not ib.types[entity].postable:
            raise ODataError(400, "11", f"Метод не найден: Unpost ({entity})")
        return ib.update(entity, ref, {"Posted": False})
