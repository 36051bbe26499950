"""1C references named by one of several attributes: a deal's product by its 1C code, its article (Артикул) or its
name, in that order (`target.refs` with `by: [Code, Артикул, Description]`); shared by the 1C target and verify."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from connector.errors import RecordError
from connector.mapping.schema import Mapping, OneCRef
from connector.mapping.specs import OneCPackaging
from connector.onec.metadata import EntityInfo
from connector.onec.odata import ODataClient
from connector.onec.query import F


def find_ref(client: ODataClient, spec: OneCRef, value: str) -> str | None:
    """The Ref_Key of the object whose first matching attribute (in `by` order) equals the value, or None. One query:
    `(Code eq 'x' or Артикул eq 'x' or Description eq 'x') and <where>`."""
    f = F(client.tz)
    names = spec.attributes
    wanted = value.strip()
    flt = F.and_(" or ".join(f.eq(n, wanted) for n in names), *(f.eq(k, v) for k, v in spec.where.items()))
    rows = client.query(spec.entity, filter=flt, select=["Ref_Key", *names], top=20)
    for name in names:
        for row in rows:
            if str(row.get(name) or "").strip() == wanted:
                return str(row["Ref_Key"])
    return None


def unresolved(client: ODataClient, spec: OneCRef, values: Iterable[str]) -> list[str]:
    """The values no object answers to (each asked once)."""
    return [v for v in dict.fromkeys(values) if v.strip() and find_ref(client, spec, v) is None]


def described(spec: OneCRef) -> str:
    """`Catalog_Номенклатура by Code, Артикул or Description` for messages."""
    names = spec.attributes
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    return f"{spec.entity} by {joined}"


def row_values(rows: Any, source: str) -> list[str]:
    """The values of one property over a deal's product rows."""
    return [str(r.get(source) or "") for r in rows or [] if isinstance(r, dict)]


EMPTY_REF = "00000000-0000-0000-0000-000000000000"
UNIT = "ЕдиницаИзмерения_Key"
KOPECK = Decimal("0.01")
THOUSANDTH = Decimal("0.001")  # 1C keeps quantities to three decimals


def _code(value: object) -> str:
    return str(value or "").strip().lstrip("0")


def _same(attribute: str, wanted: object, found: object) -> bool:
    """A unit's attribute equals the row's unit: codes with leading zeros dropped, names ignoring case."""
    if attribute == "Code":
        return bool(_code(wanted)) and _code(wanted) == _code(found)
    return str(wanted or "").strip().casefold() == str(found or "").strip().casefold() != ""


def _number(value: object) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0).strip())
    except InvalidOperation:
        return Decimal(0)


class Product:
    """What the row check needs of one 1C product: its name, own unit, its row in 1C (packaging set) and, read only
    for a row in another unit, its packagings."""

    def __init__(self, name: str, own: dict[str, Any], row: dict[str, Any]) -> None:
        self.name = name
        self.own = own
        self.row = row
        self.packagings: list[dict[str, Any]] | None = None


class Units:
    """A row's unit checked against its product's own unit (1C counts a row without packaging in that unit) and,
    where the mapping allows it, against the product's packagings in 1C (a box of 12)."""

    def __init__(self, client: ODataClient) -> None:
        self.client = client
        self._products: dict[tuple[str, str], Product] = {}

    def _product(self, spec: OneCRef, products: str, product: str) -> Product:
        pack = spec.packaging
        key = (products, product)
        if key in self._products:
            return self._products[key]
        select = ["Ref_Key", "Description", UNIT] + ([pack.set] if pack is not None and pack.set else [])
        row = self.client.by_refs(products, [product], select=select).get(product, {})
        unit = str(row.get(UNIT) or EMPTY_REF)
        own_select = list(dict.fromkeys(["Ref_Key", "Code", "Description", *spec.attributes]))
        own = self.client.by_refs(spec.entity, [unit], select=own_select).get(unit, {})
        found = Product(str(row.get("Description") or product), own, row)
        self._products[key] = found
        return found

    def _packagings(
        self, entity: str, pack: OneCPackaging, products: str, product: str, row: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The product's packagings: those it owns and those of its packaging set, in one query (the owner is
        composite, so 1C compares it with cast())."""
        f = F(self.client.tz)
        owners = [f.cast_eq(pack.owner, product, products)]
        chosen = str(row.get(pack.set) or "") if pack.set else ""
        if chosen and chosen != EMPTY_REF:
            owners.append(f.cast_eq(pack.owner, chosen, pack.set_entity))
        flt = F.and_(" or ".join(owners), "DeletionMark eq false")
        select = list(dict.fromkeys(["Ref_Key", "Code", "Description", *pack.attributes, *pack.ratio]))
        return self.client.query(entity, filter=flt, select=select, orderby="Code")

    def row(
        self, field: str, spec: OneCRef, products: str, row: dict[str, Any], where: str = "row"
    ) -> dict[str, Any]:
        """The row with its unit resolved: the product's own unit leaves `field` empty; a packaging of the product
        (when `spec.packaging` allows it) is written with its count, the quantity in the own unit and the prices
        per own unit; any other unit is a RecordError naming the row, the product and the unit."""
        value = row.get(field)
        product = str(row.get(spec.unit_of or "") or "")
        if not str(value or "").strip() or not product or product == EMPTY_REF:
            return {**row, field: EMPTY_REF}
        found = self._product(spec, products, product)
        if any(_same(a, value, found.own.get(a)) for a in spec.attributes):
            return {**row, field: EMPTY_REF}
        pack = spec.packaging
        if pack is not None:
            if found.packagings is None:  # only a row in another unit reads them, once per product
                found.packagings = self._packagings(spec.entity, pack, products, product, found.row)
            for attribute in pack.attributes:
                for packaging in found.packagings:
                    if _same(attribute, value, packaging.get(attribute)):
                        return packed(row, field, pack, packaging, where, found.name)
        own = found.own.get("Code") or found.own.get("Description") or "none set"
        offered = ", ".join(f"{p.get('Description')} ({p.get('Code')})" for p in found.packagings or [])
        packs = f" nor one of its packagings in 1C ({offered or 'it has none'})" if pack is not None else ""
        raise RecordError(
            f"{where}.{field}: the row's unit ({value}) of «{found.name}» is not the unit 1C counts it in "
            f"({own}){packs}; change the row's unit in Bitrix24"
            + (
                " or add the packaging to the product in 1C"
                if pack is not None
                else " or the product's unit in 1C"
            )
        )


def packed(
    row: dict[str, Any], field: str, pack: OneCPackaging, packaging: dict[str, Any], where: str, name: str
) -> dict[str, Any]:
    """A row in packagings: count = the row's quantity, quantity = count × coefficient (3 decimals), each price
    divided by the coefficient (to kopecks); amounts and VAT are the row's own, so the order's total is unchanged."""
    numbers = [_number(packaging.get(n)) for n in pack.ratio]
    ratio = numbers[0] / numbers[1] if len(numbers) == 2 and numbers[1] else numbers[0]
    if ratio <= 0:
        raise RecordError(
            f"{where}.{field}: the packaging «{packaging.get('Description')}» of «{name}» has no coefficient in 1C "
            f"({' / '.join(pack.ratio)} = {' / '.join(str(n) for n in numbers)}); fill it in 1C"
        )
    count = _number(row.get(pack.count, row.get(pack.quantity)))
    out = {**row, field: str(packaging["Ref_Key"]), pack.count: float(count)}
    out[pack.quantity] = float((count * ratio).quantize(THOUSANDTH, ROUND_HALF_UP))
    for price in pack.prices:
        if price in row and row[price] not in (None, ""):
            out[price] = float((_number(row[price]) / ratio).quantize(KOPECK, ROUND_HALF_UP))
    return out


def packaging_problems(entities: dict[str, EntityInfo], spec: Mapping) -> list[tuple[str, str]]:
    """`verify`: the names a mapping's packaging reads in 1C ($metadata) — the packaging catalog's attributes, the
    product's packaging set, the order rows' count, quantity and price columns — as (problem, mapping key)."""
    found: list[tuple[str, str]] = []
    rows = spec.rows.target if spec.rows is not None else ""
    for name, ref in spec.target.refs.items():
        pack = ref.packaging
        if pack is None:
            continue
        key = f"target.refs.{name}.packaging"
        wanted: list[tuple[str, str, list[str]]] = [
            (ref.entity, "", [pack.owner, f"{pack.owner}_Type", *pack.attributes, *pack.ratio]),
            (spec.target.entity, rows, [name, pack.count, pack.quantity, *pack.prices]),
        ]
        product = spec.target.refs.get(ref.unit_of or "")
        if product is not None and pack.set:
            wanted.append((product.entity, "", [pack.set]))
        for entity, section, names in wanted:
            info = entities.get(entity)
            if info is None:
                continue  # the publication line names it already
            have = info.tables.get(section, {}) if section else info.properties
            where = f"{entity}.{section}" if section else entity
            for missing in [n for n in dict.fromkeys(names) if n not in have]:
                found.append((f"1C {where} has no property '{missing}'", key))
    return found
