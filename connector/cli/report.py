"""`b24-1c report dormant [--json]`: lists built from 1C and the portal now; reads only, next to the daemon."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from connector.cli.common import ConfigOpt, app, connector, exits, out


@app.command(epilog=exits(0, 2, 4, 5, c0="listed (also when no client is dormant)"))
def report(
    what: Annotated[
        str, typer.Argument(help="dormant: clients with no order for rollups.dormant_after_months")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
) -> None:
    """A report: `dormant` lists the clients without an order for the configured months (mappings/rollups.yaml),
    the freshest first, with their last order, totals and Bitrix24 company. Reads only; writes nothing."""
    from connector.flows.rollups.report import dormant_clients

    if what != "dormant":
        out.print(f"unknown report {what!r}: the reports are: dormant", highlight=False, markup=False)
        raise typer.Exit(2)
    with connector(config, lock=False) as conn:
        rows = dormant_clients(conn)
        spec = conn.mappings["rollups"].rollups
        months = spec.dormant_after_months if spec is not None else 0
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(
        f"{len(rows)} dormant client(s): no order for {months} months or more", highlight=False, markup=False
    )
    for r in rows:
        company = f"company {r['company_id']}" if r["company_id"] else "no Bitrix24 company"
        out.print(
            f"  {r['name']}: last order {r['last_order_date']} ({r['months_since_last_order']} months), "
            f"{r['orders_count']} order(s), paid {r['lifetime_paid']}, debt {r['open_debt']}, {company}",
            highlight=False,
            markup=False,
        )
