"""1C references named by one of several attributes: a deal's product by its 1C code, its article (Артикул) or its
name, in that order (`target.refs` with `by: [Code, Артикул, Description]`); shared by the 1C target and verify."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.errors import RecordError
from connector.mapping.schema import OneCRef
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


def _code(value: object) -> str:
    return str(value or "").strip().lstrip("0")


class Units:
    """A row's unit checked against its product's own unit (1C counts a row without packaging in that unit)."""

    def __init__(self, client: ODataClient) -> None:
        self.client = client
        self._unit: dict[tuple[str, str], tuple[str, str]] = {}

    def check(self, field: str, spec: OneCRef, products: str, product: str, code: object) -> str:
        """EMPTY_REF (no packaging: the product's own unit) or a RecordError naming both units."""
        if not _code(code) or not product or product == EMPTY_REF:
            return EMPTY_REF
        if (products, product) not in self._unit:
            row = self.client.by_refs(products, [product], select=["Ref_Key", "Description", UNIT]).get(
                product, {}
            )
            unit = str(row.get(UNIT) or EMPTY_REF)
            found = self.client.by_refs(spec.entity, [unit], select=["Ref_Key", "Code", "Description"])
            own = found.get(unit, {})
            self._unit[(products, product)] = (
                str(own.get("Code") or ""),
                f"{row.get('Description', product)}",
            )
        own_code, name = self._unit[(products, product)]
        if _code(own_code) == _code(code):
            return EMPTY_REF
        raise RecordError(
            f"{field}: the row's unit (ОКЕИ {code}) is not the unit 1C counts «{name}» in "
            f"({own_code or 'none set'}); change the row's unit in Bitrix24 or the product's unit in 1C"
        )
