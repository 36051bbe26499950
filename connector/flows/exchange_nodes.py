"""`b24-1c setup --exchange-nodes`: make this installation's nodes in the base's CRM exchange plan.

Where the base publishes `ExchangePlan_ДляCRM` (an extension, docs/admin-guide.md §3), each 1C-reading flow reads its
changes from its own node, Code `<installation id>-<flow>` (or the mapping's `source.changes.node`), instead of date
windows and DataVersion scans. Until now an administrator made the nodes by hand; this makes the missing ones through
the standard OData interface (a POST to the plan's entity set, like any reference object) and leaves existing ones
alone, so running it twice changes nothing. A node only sees what changes after it is made: make them before the
first backfill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.errors import ConnectorError, StopRun
from connector.flows.money.bp_facts import is_bp
from connector.flows.onec_source import DEFAULT_PLAN, default_node
from connector.mapping.schema import Mapping

if TYPE_CHECKING:
    from connector.app import Connector


def node_code(spec: Mapping, installation: str) -> str | None:
    """The node a flow looks for in the default plan (as `OneCSource.auto_node`), or None: a flow that does not
    read 1C changes through it (Bitrix24 sources, daily rollups and fans, БП money, a mapping naming its own plan)."""
    src = spec.source
    if src.system != "onec" or src.changes.exchange_plan:
        return None
    if spec.rollups is not None or spec.fans is not None:
        return None
    if spec.money is not None and is_bp(src.entity):
        return None
    return default_node(spec, installation)


def ensure_nodes(conn: Connector) -> list[tuple[str, str]]:
    """(what, state) per node: present, created, or failed with 1C's reason; one line when the plan is absent."""
    wanted = [
        (spec.flow, code)
        for spec in conn.mappings.values()
        if spec.flow in conn.config.flows and (code := node_code(spec, conn.installation_id))
    ]
    if not wanted:
        return []
    odata = conn.odata
    absent = [
        (
            f"exchange plan {DEFAULT_PLAN}",
            "not published by this base: the flows read 1C by date window (docs/admin-guide.md §3)",
        )
    ]
    if DEFAULT_PLAN not in odata.metadata.entities:
        return absent
    try:
        have = {str(n.get("Code")) for n in odata.query(DEFAULT_PLAN, select=["Ref_Key", "Code"])}
    except StopRun as exc:
        if "does not publish" in str(exc):  # described in $metadata but left out of the publication
            return absent
        raise
    report: list[tuple[str, str]] = []
    for flow, code in wanted:
        what = f"exchange plan node {code} ({flow})"
        if code in have:
            report.append((what, "present"))
            continue
        try:
            odata.create(DEFAULT_PLAN, {"Code": code, "Description": f"b24-1c {flow}"})
        except ConnectorError as exc:
            report.append(
                (what, f"failed: {exc} (make it by hand, or set source.changes.node to a shorter code)")
            )
            continue
        have.add(code)
        report.append((what, "created"))
    return report
