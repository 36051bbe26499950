"""`b24-1c explain deal ID FIELD`: one field's writes with their 1C sources and mapping rule (connector/explain.py)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, app, connector, exits, fail, no_ledger_yet, out
from connector.errors import ConfigError


class Kind(StrEnum):
    deal = "deal"


@app.command(epilog=exits(0, 2, 5, c0="explained (also when the field was never written)"))
def explain(
    kind: Annotated[Kind, typer.Argument(help="the kind of Bitrix24 object: deal")],
    object_id: Annotated[str, typer.Argument(metavar="ID", help="the deal's id")],
    field: Annotated[str, typer.Argument(help="the field, e.g. UF_CRM_1C_PAID_AMOUNT or OPPORTUNITY")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
) -> None:
    """What the connector wrote to FIELD of this deal: when, from which 1C records and documents, through which
    mapping rule (read from the ledger's append-only history)."""
    from connector.explain import explain as explain_field
    from connector.explain import lines
    from connector.mapping.schema import load_mappings

    if no_ledger_yet(config):
        return
    with connector(config, lock=False) as conn:
        try:
            mappings = load_mappings(conn.config.mappings_path, conn.config.flows)
        except ConfigError as exc:
            raise fail(exc) from None
        deal_flows = {
            f
            for f, spec in mappings.items()
            if spec.target.system == "bitrix24" and spec.target.entity == "deal"
        }
        entries = [e for e in conn.ledger.history(target_id=object_id) if e["flow"] in deal_flows]
    writes = explain_field(entries, mappings, field)
    if as_json:
        sys.stdout.write(
            json.dumps([w.as_dict() for w in writes], ensure_ascii=False, indent=2, default=str) + "\n"
        )
        return
    for line in lines(object_id, field, writes):
        out.print(line, highlight=False, markup=False)
