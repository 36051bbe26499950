"""Part of `b24-1c verify`: the products of deals waiting at a watched stage that 1C cannot resolve (by code,
article or name, as the deals → orders mapping's `target.refs` says), so they are fixed before the orders fail."""

from __future__ import annotations

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.flows.deals_to_orders.products import described, row_values, unresolved
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.verify.report import Checklist

MAX_DEALS = 500  # deals read per mapping; a go-live check, not a backfill
SHOWN = 5


def check_products(
    bitrix24: Bitrix24Client, odata: ODataClient, mappings: dict[str, Mapping], out: Checklist
) -> None:
    """One line per deals → 1C mapping with row references: every product resolves, or which do not and where."""
    for spec in mappings.values():
        if spec.source.system != "bitrix24" or spec.target.system != "onec" or spec.rows is None:
            continue
        where = f"mappings/{spec.flow}.yaml: target.refs"
        checked = [
            (field, rule.source, spec.target.refs[field])
            for field, rule in spec.rows.fields.items()
            if field in spec.target.refs and rule.source and not spec.target.refs[field].unit_of
        ]
        if not checked:
            continue
        flt = {(f"@{k}" if isinstance(v, list) else k): v for k, v in spec.source.filter.items()}
        deals: list[str] = []
        for page in bitrix24.list_fast("crm.deal.list", flt, ["ID", "ORIGIN_ID"]):
            deals += [str(d["ID"]) for d in page if not d.get("ORIGIN_ID")]  # no 1C order yet
            if len(deals) >= MAX_DEALS:
                break
        deals = deals[:MAX_DEALS]
        rows: dict[str, list[object]] = {}
        for i in range(0, len(deals), BATCH_LIMIT):
            part = deals[i : i + BATCH_LIMIT]
            reply = bitrix24.batch(
                {f"r{n}": ("crm.deal.productrows.get", {"id": d}) for n, d in enumerate(part)}
            )
            rows.update({d: list(reply.result.get(f"r{n}") or []) for n, d in enumerate(part)})
        if not deals:
            continue  # nothing waits: there is nothing to say about products
        all_resolve = True
        for field, source, ref in checked:
            assert source is not None
            by_value: dict[str, list[str]] = {}
            for deal, deal_rows in rows.items():
                for value in row_values(deal_rows, source):
                    by_value.setdefault(value, []).append(deal)
            missing = unresolved(odata, ref, by_value)
            if not missing:
                continue
            all_resolve = False
            shown = "; ".join(f"«{v}» (deal {', '.join(by_value[v][:3])})" for v in missing[:SHOWN])
            more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
            out.fix(
                f"{field}: {len(missing)} product(s) of deals waiting for a 1C order are not found as "
                f"{described(ref)} ({source}): {shown}{more}; fix the rows or the 1C catalog",
                f"{where}.{field}",
            )
        if all_resolve:  # one line per mapping, not one per row reference checked
            out.ok(f"{spec.flow}: the products of {len(deals)} deal(s) waiting for a 1C order resolve in 1C")
