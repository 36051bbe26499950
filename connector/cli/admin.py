"""Ledger administration: `b24-1c failed`, `history`, `retry`, and `reconcile` against both systems."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from connector.cli.common import (
    EXIT_FAILED_RECORDS,
    ConfigOpt,
    app,
    connector,
    exits,
    no_ledger_yet,
    one_line,
    out,
    parse_date,
)


@app.command(epilog=exits(0, 2, 5, c0="listed (also when none failed)"))
def failed(
    flow: Annotated[str | None, typer.Option(help="only this flow")] = None, config: ConfigOpt = None
) -> None:
    """List records that failed (dead letters) with the reason."""
    if no_ledger_yet(config):
        return
    with connector(config, lock=False) as conn:
        letters = conn.ledger.dead_letters(flow, ("open", "waiting"))
    if not letters:
        out.print("no failed records")
        return
    for d in letters:
        note = " [waiting for another flow; retried every cycle]" if d.status == "waiting" else ""
        label = d.label or d.source_key
        reason = d.reason.removeprefix(f"{label}: ")  # targets prefix the reason with the label already
        out.print(
            f"#{d.id} {d.flow} {label} (attempts {d.attempts}, {d.last_at}): {one_line(reason)}{note}",
            highlight=False,
            markup=False,
        )


@app.command(epilog=exits(0, 2, 5, c0="listed (also when nothing was written to it)"))
def history(
    key: Annotated[str, typer.Argument(help="a Bitrix24 deal (or company) id, or a 1C Ref_Key")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
) -> None:
    """What the connector wrote to this object (or from this 1C record): when, which flow, which mapping, which
    values. Read from the ledger's append-only history (losing the ledger loses the history, never correctness)."""
    if no_ledger_yet(config):
        return
    with connector(config, lock=False) as conn:
        entries = conn.ledger.history(target_id=key) + conn.ledger.history(source_key=key)
    entries.sort(key=lambda e: e["id"], reverse=True)
    if as_json:
        sys.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2) + "\n")
        return
    if not entries:
        out.print(f"nothing written to or from {key} in this ledger")
        return
    for e in entries:
        out.print(
            f"{e['at']} {e['flow']} {e['action']} → {e['target_id']} from {e['source_key']}"
            f" (version {e['source_version']}; {e['mapping']})",
            highlight=False,
            markup=False,
        )
        for name, value in e["fields"].items():
            shown = f"{len(value)} rows" if name == "@rows" and isinstance(value, list) else repr(value)
            out.print(f"    {name} = {shown}", highlight=False, markup=False)


@app.command(epilog=exits(0, 2, 4, 5))
def retry(
    ids: Annotated[list[int] | None, typer.Argument(help="dead-letter ids (default: all)")] = None,
    flow: Annotated[str | None, typer.Option(help="only this flow")] = None,
    config: ConfigOpt = None,
) -> None:
    """Requeue failed records; the next `sync` (or daemon cycle) processes them first."""
    with connector(config) as conn:
        letters = conn.ledger.requeue(flow, ids)
    out.print(f"requeued {len(letters)} record(s); run `b24-1c sync` to process them now")


@app.command()
def reconcile(
    since: Annotated[
        str | None, typer.Option(help="only orders dated from this day, e.g. 2024-01-01 (default: all)")
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="re-sync the drifted orders, then check them again")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the result as JSON instead of a table")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Compare every posted 1C order (ordered, paid, shipped) with its Bitrix24 deal and print the drift.

    Exit codes: 0 every deal shows what 1C says; 1 drift found (with --repair: drift left after the repair);
    2 config error; 3 stopped by an error; 4 another process holds the ledger (--repair only); 5 the ledger cannot
    be used (damaged, not writable, disk full).
    """
    from connector.reconcile import Reconciler, drift_table, remember

    since_dt = parse_date(since, "--since")
    with connector(config, lock=repair) as conn:  # a read-only check may run next to the daemon
        reconciler = Reconciler(conn)
        result = reconciler.scan(since_dt)
        payload: dict[str, Any] = result.as_dict()
        left, reports = result.drifts, []
        if repair and result.drifts:
            reports = reconciler.repair(result.drifts)
            left = reconciler.check([d.key for d in result.drifts]).drifts
            payload["repair"] = {
                "runs": [r.as_dict() for r in reports],
                "errors": [e for r in reports for e in r.errors],
                "left": [d.as_dict() for d in left],
            }
        remember(conn, reconciler.spec.flow, result, left if repair else None)
    if as_json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    else:
        if result.drifts:
            out.print(drift_table(result.drifts))
        out.print(result.summary(), highlight=False, markup=False)
        if repair and result.drifts:
            for r in reports:
                out.print(
                    f"repair {r.flow}: updated {r.updated}, created {r.created}, failed {r.failed}",
                    highlight=False,
                )
                for e in r.errors[:10]:
                    out.print(f"  failed: {e}", highlight=False, markup=False)
            if left:
                out.print(drift_table(left))
            out.print(
                f"after repair: {len(left):,} of {len(result.drifts):,} drifted order(s) still drift",
                highlight=False,
            )
        elif result.drifts:
            out.print("run `b24-1c reconcile --repair` to re-sync them", highlight=False)
    if left:
        raise typer.Exit(EXIT_FAILED_RECORDS)
