"""Reads the deals created in the last `lookback_days` (and, for the rows rule, their product rows) and serves a
record for each deal in a fan and each deal still flagged as one that no longer is."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.clock import Clock
from connector.flows.computed import ComputedSource
from connector.flows.fans.model import DealFacts, fans_of, inn_of, rows_of
from connector.mapping.schema import Mapping
from connector.records import content_hash


def _flagged(value: Any) -> bool:
    return str(value or "").strip().upper() in ("1", "Y", "TRUE")


class FanSource(ComputedSource):
    """Deals compared for fans; computed once per run (a source is built per run)."""

    def __init__(self, client: Bitrix24Client, spec: Mapping, clock: Clock, portal_tz: tzinfo) -> None:
        assert spec.fans is not None
        self.client = client
        self.spec = spec
        self.rule = spec.fans
        self.page_size = 50
        self.clock = clock
        self.portal_tz = portal_tz
        flags = [name for name, rule in spec.fields.items() if rule.source == "fan"]
        self.flag_field = flags[0] if flags else None
        self._records: dict[str, dict[str, Any]] | None = None

    def today(self) -> date:
        return self.clock.now().astimezone(self.portal_tz).date()

    def records(self) -> dict[str, dict[str, Any]]:
        """{deal id: record} of deals in a fan, and of deals flagged before that are no longer in one."""
        if self._records is None:
            self._records = self._compute()
        return self._records

    def _compute(self) -> dict[str, dict[str, Any]]:
        rule = self.rule
        since = datetime.combine(self.today() - timedelta(days=rule.lookback_days), time(0), self.portal_tz)
        select = ["ID", "DATE_CREATE", rule.dealer_field]
        select += [rule.inn_field] if rule.by == "inn" else []
        select += [self.flag_field] if self.flag_field else []
        flt: dict[str, Any] = {**self.spec.source.filter, ">=DATE_CREATE": since.isoformat()}
        deals = [d for page in self.client.list_keyset("crm.deal.list", flt, select) for d in page]
        rows = self._rows([str(d["ID"]) for d in deals]) if rule.by == "rows" else {}
        facts = fans_of(
            (
                DealFacts(
                    str(d["ID"]),
                    datetime.fromisoformat(str(d["DATE_CREATE"])).astimezone(self.portal_tz).date(),
                    "" if str(d.get(rule.dealer_field) or "0") == "0" else str(d[rule.dealer_field]),
                    inn_of(d.get(rule.inn_field)),
                    rows.get(str(d["ID"]), ()),
                )
                for d in deals
            ),
            rule.by,
            rule.window_days,
        )
        flagged = {str(d["ID"]) for d in deals if self.flag_field and _flagged(d.get(self.flag_field))}
        out: dict[str, dict[str, Any]] = {}
        for deal_id in sorted(facts, key=int):
            if facts[deal_id]["fan"] or deal_id in flagged:
                record = {"ID": deal_id, **facts[deal_id]}
                record["DataVersion"] = content_hash(record)
                out[deal_id] = record
        return out

    def _rows(self, ids: list[str]) -> dict[str, tuple[tuple[str, str], ...]]:
        """Product rows of the deals, 50 crm.deal.productrows.get a batch."""
        out: dict[str, tuple[tuple[str, str], ...]] = {}
        for i in range(0, len(ids), BATCH_LIMIT):
            part = ids[i : i + BATCH_LIMIT]
            reply = self.client.batch(
                {f"r{deal}": ("crm.deal.productrows.get", {"id": deal}) for deal in part}
            )
            for deal in part:
                result = reply.result.get(f"r{deal}")
                out[deal] = rows_of(result if isinstance(result, list) else [])
        return out
