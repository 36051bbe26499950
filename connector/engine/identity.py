"""Identity on the objects (docs/identity.md): which records the other direction made, which another installation
owns, and which found objects already hold what we would write."""

from __future__ import annotations

from typing import Any

from connector.engine.protocols import Target
from connector.ledger import Link
from connector.logs import get_logger
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome

log = get_logger(__name__)


def counterpart(spec: Mapping, mappings: dict[str, Mapping], active: set[str] | None) -> Mapping | None:
    """The other direction's flow of this one, declared by `also_link` on both sides (orders ⇄ deals_to_orders)."""
    other = mappings.get(spec.target.also_link or "")
    if other is None or other.target.also_link != spec.flow:
        return None
    if active is not None and other.flow not in active:
        return None
    return other


def identities(
    spec: Mapping, other: Mapping | None, target: Target, records: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, str]]:
    """({key: target id} that the records' own stamps name, {key: why} for records another installation owns).

    A record made by the other direction's flow carries that flow's key: a 1C order made from deal N carries
    `B24-N` in its key attribute (→ deal N); a deal made from (or written back by) a 1C order carries our
    installation in ORIGINATOR_ID and the order's key in ORIGIN_ID (→ that order, never a new one). Whatever the
    ledger says, such a record is linked, not created. A deal stamped by another installation is not ours."""
    if other is None:
        return {}, {}
    key_field = spec.source.key
    stamped: dict[str, str] = {}
    foreign: dict[str, str] = {}
    if spec.source.system == "onec":
        marker = other.target.onec_key
        named: dict[str, str] = {}
        for r in records:
            value = str(r.get(marker.field) or "").strip()
            if value.startswith(marker.prefix) and value[len(marker.prefix) :].isdigit():
                named[str(r[key_field])] = value[len(marker.prefix) :]
        if named:
            # Only a deal that exists and is ours (or unstamped: its write-back did not happen yet) is that
            # order's deal; a marker typed by hand or left by another tool names no deal of ours.
            owners = getattr(target, "owners", None)
            mine = set(owners(list(named.values()))) if owners is not None else set(named.values())
            stamped = {k: deal for k, deal in named.items() if deal in mine}
        return stamped, foreign
    ext = other.target.external_key
    legacy: dict[str, str] = {}
    for r in records:
        originator = str(r.get(ext.originator_field) or "").strip()
        origin = str(r.get(ext.field) or "").strip()
        key = str(r[key_field])
        if not originator:
            continue
        if originator == ext.originator_id and origin:
            stamped[key] = origin
        elif originator in ext.adopt and origin:
            legacy[key] = origin
        else:
            foreign[key] = (
                f"carries {ext.originator_field}={originator}: another installation or system owns it"
            )
    if legacy:
        exists = getattr(target, "exists", None)
        ours = set(exists(list(legacy.values()))) if exists is not None else set()
        for key, origin in legacy.items():
            if origin in ours:
                stamped[key] = origin
            else:
                foreign[key] = f"stamped {ext.field}={origin}, an object this 1C base does not hold"
    if foreign:
        log.info("records owned by another installation; left alone", flow=spec.flow, count=len(foreign))
    return stamped, foreign


def already_there(
    target: Target, actions: list[Action], links: dict[str, Link]
) -> tuple[list[Action], list[Outcome]]:
    """Updates of objects whose content we have not recorded (found by key, adopted, or stamped by the other
    direction) are compared with the target first; an object that already holds it is linked, not written."""
    same = getattr(target, "same", None)
    unverified = [
        a
        for a in actions
        if a.kind == "update" and (a.record.key not in links or links[a.record.key].content_hash is None)
    ]
    if same is None or not unverified:
        return actions, []
    equal = same(unverified)
    if not equal:
        return actions, []
    kept = [a for a in actions if not (a.kind == "update" and a.record.key in equal)]
    linked = [
        Outcome(
            a.record.key,
            "skip",
            "applied",
            a.target_id,
            a.record.hash,
            a.record.version,
            label=a.record.label,
        )
        for a in actions
        if a.kind == "update" and a.record.key in equal
    ]
    return kept, linked
