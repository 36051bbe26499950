"""1C side of `b24-1c verify`: the OData publication of every object the mappings use and the right to read it.

The publication list is the service document (`GET …/odata/standard.odata/`, one entry per published entity set;
reference/onec-odata-soap.md §1.1, §1.4): an object left out of `УстановитьСоставСтандартногоИнтерфейсаOData`
answers 404 and is missing there. A read of one row (`$top=1`) shows whether the OData user may read it (401 with
code 20 when not).
"""

from __future__ import annotations

from connector.config import Config
from connector.errors import AuthError, ConnectorError
from connector.flows.deals_to_orders.products import packaging_problems
from connector.mapping.client import client_spec
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.verify.report import Checklist
from connector.verify.requirements import onec_entities

PUBLISH_HOW = (
    "add it to the OData publication (Администрирование → Общие настройки → Настройка стандартного интерфейса "
    "OData, or УстановитьСоставСтандартногоИнтерфейсаOData)"
)


def published_sets(client: ODataClient) -> set[str]:
    """Names in the service document: what this publication exposes."""
    payload = client.request("GET", "")
    rows = payload.get("value", []) if isinstance(payload, dict) else []
    return {str(r.get("name") or r.get("url")) for r in rows if isinstance(r, dict)}


def check_base(client: ODataClient, config: Config, mappings: dict[str, Mapping], out: Checklist) -> None:
    """Every 1C line of the checklist."""
    published = published_sets(client)
    known = set(client.metadata.entities)
    needed: dict[str, list[tuple[str, str]]] = {}
    for flow, spec in mappings.items():
        where = str(config.mappings_path / f"{flow}.yaml")
        for entity, key in onec_entities(spec).items():
            needed.setdefault(entity, []).append((where, key))
    readable = 0
    for entity, places in sorted(needed.items()):
        if entity not in published:
            if known and entity not in known:
                text = f"{entity} is neither published nor in $metadata: publish it, or correct the name"
            else:
                text = f"{entity} is not in the 1C OData publication: {PUBLISH_HOW}"
            for where, key in places:
                out.fix(text, f"{where}: {key}")
            continue
        try:
            client.query(entity, top=1)
        except AuthError as exc:
            for where, key in places:
                out.fix(
                    f"the 1C user may not read {entity} ({exc}): grant the OData user's role read access",
                    f"{where}: {key}",
                )
            continue
        except ConnectorError as exc:
            for where, key in places:
                out.fix(f"reading {entity} failed: {exc}", f"{where}: {key}")
            continue
        readable += 1
    for flow, spec in mappings.items():
        _client_properties(client, spec, str(config.mappings_path / f"{flow}.yaml"), published, out)
        for text, key in packaging_problems(client.metadata.entities, spec):
            out.fix(text, f"{config.mappings_path / f'{flow}.yaml'}: {key}")
    if readable == len(needed):
        out.ok(f"1C publishes and lets us read all {readable} objects the flows use")


def _client_properties(
    client: ODataClient, spec: Mapping, where: str, published: set[str], out: Checklist
) -> None:
    """target.client: the attributes the counterparty and partner it makes are written through."""
    made = client_spec(spec.target)
    if made is None:
        return
    wanted = {made.entity: {"marker": made.marker, "legal_form": made.legal_form}}
    if made.partner:
        wanted[made.entity]["partner_field"] = made.partner_field
        wanted[made.partner] = {"marker": made.marker}
    for entity, keys in wanted.items():
        info = client.metadata.entities.get(entity)
        if info is None or entity not in published:
            continue  # its publication line is already there
        for key, name in keys.items():
            if name not in info.properties:
                out.fix(f"1C {entity} has no property '{name}'", f"{where}: target.client.{key}")
        if entity == made.entity and made.contacts and made.contacts not in info.tables:
            out.fix(
                f"1C {entity} has no tabular section '{made.contacts}'", f"{where}: target.client.contacts"
            )
