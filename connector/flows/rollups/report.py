"""`b24-1c report dormant`: the clients with no order for the configured months, read now from 1C (writes nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connector.errors import ConfigError
from connector.flows.rollups.source import RollupSource
from connector.flows.rollups.target import RollupWriter

if TYPE_CHECKING:
    from connector.app import Connector


def dormant_clients(conn: Connector, flow: str = "rollups") -> list[dict[str, Any]]:
    """Dormant clients, the freshest dormancy first, with the Bitrix24 company each is linked to (None: none yet)."""
    from zoneinfo import ZoneInfo

    from connector.flows.facts import BusinessDay

    spec = conn.mappings.get(flow)
    if spec is None or spec.rollups is None:
        raise ConfigError(
            f"no mapping with a rollups: section for flow '{flow}' in {conn.config.mappings_path}: "
            "copy mappings/rollups.yaml from the package (b24-1c init) to report dormant clients"
        )
    today = BusinessDay(conn.clock, conn.onec_tz)
    source = RollupSource(conn.odata, spec, conn.config.onec.page_size, today)
    portal_tz = ZoneInfo(conn.config.bitrix24.portal_timezone)
    adopt = conn.config.installation.adopt
    target = RollupWriter(
        conn.bitrix24, spec.rollups, conn.installation_id, adopt, source.facts_of, today, portal_tz
    )
    dormant = [r for r in source.records().values() if r["dormant"]]
    companies = target.find(r["Ref_Key"] for r in dormant) if dormant else {}
    rows = [
        {
            "counterparty": r["Ref_Key"],
            "name": r["Description"],
            "last_order_date": r["last_order_date"],
            "dormant_since": r["dormant_since"],
            "months_since_last_order": r["months_since_last_order"],
            "orders_count": r["orders_count"],
            "lifetime_paid": r["lifetime_paid"],
            "open_debt": r["open_debt"],
            "company_id": companies.get(r["Ref_Key"]),
        }
        for r in dormant
    ]
    rows.sort(key=lambda r: (r["last_order_date"], r["name"]), reverse=True)
    return rows
