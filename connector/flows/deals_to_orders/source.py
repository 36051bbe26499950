"""Bitrix24 deals as a flow source: keyset pages by ID, changes by DATE_MODIFY, product rows fetched in batches.

A deal already linked to its 1C order (stamped with our installation and the order's key: made by the orders flow or
written back, docs/identity.md) is never a new order; what can still travel from it is what an update of the order
carries (the mapping's fields written always, e.g. `owner: bitrix24` ones). Its DATE_MODIFY moves on every write of
ours (amounts, payments, stages), so for such deals the change is judged on a digest of exactly those fields, read in
the same list request and remembered in the ledger (`<flow>:deals`, recorded with the records it led to): a deal the
money flow touched is not read again, one whose shipment wish changed is."""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.clock import Clock
from connector.config import TakesRule
from connector.engine.protocols import Changes, Page
from connector.ledger import Ledger
from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping, owner_side
from connector.records import SourceState

ROWS = "PRODUCT_ROWS"
LINKED = "deal"  # source_state entity of the linked deals' digests (flow `<flow>:deals`)


def update_inputs(spec: Mapping) -> list[str] | None:
    """The deal fields an update of an existing target can carry (the mapping's `on: always` fields this side
    owns), or None when that cannot be told from the list (product rows sent on update, conditional rules)."""
    if spec.rows is not None and spec.rows.on == "always":
        return None
    out: list[str] = []
    for rule in spec.fields.values():
        if rule.on == "create" or owner_side(spec, rule) != spec.source.system:
            continue
        if rule.when or rule.section:
            return None
        names = [
            rule.source,
            rule.divide,
            rule.rate_of,
            rule.vat_at,
            *(rule.multiply or []),
            *(rule.minus or []),
        ]
        if rule.format:
            names += [
                f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(rule.format) if f
            ]
        out += [n for n in names if n]
    return sorted(set(out))


class DealSource:
    """crm.deal.list with the mapping's filter; DATE_MODIFY is the version (whole seconds, portal offset)."""

    def __init__(
        self,
        client: Bitrix24Client,
        spec: Mapping,
        portal_tz: ZoneInfo,
        clock: Clock,
        page_size: int = 50,
        overlap: timedelta = timedelta(seconds=2),
        ours: str | None = None,
        takes: TakesRule | None = None,
        adopt: Sequence[str] = (),
        ledger: Ledger | None = None,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.inputs = update_inputs(spec) if ledger is not None and ours else None
        # Our installation's ORIGINATOR_ID: deals carrying it were made by the orders flow or already written back
        # (each linked to its 1C order, docs/identity.md), so a backfill does not read them again. Changes to them
        # still arrive through `versions`, where the runner recognises the stamp.
        self.ours = ours
        # Several 1C bases on one portal: the deals started in Bitrix24 that this installation orders in its base
        # (installation.takes). Another rule's deals are never read; ours (stamped) are read wherever they are.
        self.takes = takes
        # Stamps that may still be ours (older releases'): the runner decides those by our 1C base.
        self.adopt = set(adopt)
        self.spec = spec
        self.tz = portal_tz
        self.clock = clock
        self.page_size = page_size
        self.overlap = (
            overlap  # DATE_MODIFY has one-second granularity: re-read a little, hashes skip repeats
        )

    def _filter(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field, value in self.spec.source.filter.items():
            out[f"@{field}" if isinstance(value, list) else field] = value
        return out

    def _iso(self, moment: datetime) -> str:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.tz).replace(microsecond=0).isoformat()

    def count(self, start: datetime, until: datetime | None) -> int | None:
        """The window's deals from one list request's `total` (an upper bound: other installations' are in it)."""
        reply = self.client.call(
            "crm.deal.list", {"filter": self._window(start, until), "select": ["ID"], "start": 0}
        )
        return reply.total

    def _window(self, start: datetime, until: datetime | None) -> dict[str, Any]:
        flt = {**self._filter(), **self._routed(), ">=DATE_CREATE": self._iso(start)}
        if self.ours:
            flt["!=ORIGINATOR_ID"] = self.ours  # the complement: unstamped deals (NULL) are read
        if until is not None:
            flt["<DATE_CREATE"] = self._iso(until)
        return flt

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        flt = self._window(start, until)
        if cursor:
            flt[">ID"] = cursor["id"]
        for rows in self.client.list_fast("crm.deal.list", flt, ["ID", "ORIGINATOR_ID"]):
            keys = [str(r["ID"]) for r in rows if not self._theirs(r)]
            if keys:
                yield Page(self.fetch(keys), {"id": int(str(rows[-1]["ID"]))})

    def _routed(self) -> dict[str, Any]:
        return self.takes.deal_filter() if self.takes is not None else {}

    def versions(self, since: datetime | None) -> Iterator[list[tuple[str, str | None]]]:
        flt = self._filter()
        if since is not None:
            flt[">=DATE_MODIFY"] = self._iso(since - self.overlap)
        filters = [{**flt, **self._routed()}]
        if self.takes is not None and self.ours:
            # Our deals outside the rule (made by the orders flow in another pipeline) still send their changes.
            filters.append({**flt, "ORIGINATOR_ID": self.ours})
        seen: set[str] = set()
        select = ["ID", "DATE_MODIFY", "ORIGINATOR_ID", "ORIGIN_ID", *(self.inputs or [])]
        for one in filters:
            for rows in self.client.list_fast("crm.deal.list", one, list(dict.fromkeys(select))):
                fresh = [r for r in rows if not self._theirs(r) and str(r["ID"]) not in seen]
                seen.update(str(r["ID"]) for r in fresh)
                changes = self._changes(fresh)
                if changes or changes.state:
                    yield changes

    def _digest(self, deal: dict[str, Any]) -> str:
        values = {f: deal[f] for f in self.inputs or [] if deal.get(f) not in (None, "", [], {})}
        text = json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _changes(self, rows: list[dict[str, Any]]) -> Changes:
        """(ID, DATE_MODIFY) of unlinked deals; (ID, None) of linked deals whose update fields changed since
        they were last looked at (a linked deal never looked at counts as having them empty)."""
        if self.inputs is None or self.ledger is None or not rows:
            return Changes([(str(r["ID"]), r.get("DATE_MODIFY")) for r in rows])
        flow = f"{self.spec.flow}:deals"
        known = self.ledger.source_state(flow, LINKED, [str(r["ID"]) for r in rows])
        empty = self._digest({})
        pairs: list[tuple[str, str | None]] = []
        state: list[SourceState] = []
        for r in rows:
            key, digest = str(r["ID"]), self._digest(r)
            before = known[key].version if key in known else None
            if self._linked(r):
                if digest == (before or empty):
                    continue  # only our own writes moved DATE_MODIFY: nothing an update would carry
                pairs.append((key, None))
            else:
                pairs.append((key, r.get("DATE_MODIFY")))
            if digest != before:
                state.append(SourceState(flow, LINKED, key, digest))
        return Changes(pairs, state)

    def _linked(self, deal: dict[str, Any]) -> bool:
        """Stamped by this installation with its order's key: linked to that order (docs/identity.md)."""
        return bool(self.ours) and deal.get("ORIGINATOR_ID") == self.ours and bool(deal.get("ORIGIN_ID"))

    def _theirs(self, deal: dict[str, Any]) -> bool:
        """Stamped by another installation or system: never read further (its fields, its rows)."""
        stamp = str(deal.get("ORIGINATOR_ID") or "")
        return bool(stamp) and stamp != self.ours and stamp not in self.adopt and self.ours is not None

    def _select(self) -> list[str]:
        select = list(self.spec.source.select or ["*", "UF_*"])
        if self.spec.source.select and self.takes is not None:
            select += ["ORIGINATOR_ID", self.takes.field or "CATEGORY_ID"]
        return list(dict.fromkeys(select))

    def _mine(self, deal: dict[str, Any]) -> bool:
        """A deal this installation may read: no rule, stamped by us, or named by our rule (a deal moved to
        another pipeline between the list and the read is left to the base that takes it)."""
        if self.takes is None or (self.ours and deal.get("ORIGINATOR_ID") == self.ours):
            return True
        return self.takes.names(deal)

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        """Deals with every field and their product rows (one batch for up to 50 deals' rows)."""
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), 50):
            part = keys[i : i + 50]
            flt = {**self._filter(), "@ID": part}
            for rows in self.client.list_keyset("crm.deal.list", flt, self._select()):
                for row in rows:
                    if self._mine(row):
                        found[str(row["ID"])] = dict(row)
        wanted = [k for k in keys if k in found]
        if self.spec.rows is not None and self.spec.rows.source == ROWS:
            for i in range(0, len(wanted), BATCH_LIMIT):
                part = wanted[i : i + BATCH_LIMIT]
                reply = self.client.batch(
                    {f"r{n}": ("crm.deal.productrows.get", {"id": k}) for n, k in enumerate(part)}
                )
                for n, k in enumerate(part):
                    found[k][ROWS] = list(reply.result.get(f"r{n}") or [])
        # DATE_MODIFY has whole seconds: a deal changed again within the second we read it would look unchanged
        # forever. Such fresh versions are not trusted (recorded as unknown, so the next cycle looks again and the
        # content hash decides).
        fresh = self.clock.now() - timedelta(seconds=5)
        for k in wanted:
            version = found[k].get(self.spec.source.version_field or "DATE_MODIFY")
            try:
                if version and datetime.fromisoformat(str(version)) >= fresh:
                    found[k]["@unsettled_version"] = True
            except ValueError:
                pass
        return [found[k] for k in wanted]

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        return {}
