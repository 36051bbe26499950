"""Reads a mapping's source documents from 1C: keyset-like date paging for backfills, lookups with a cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.mapping.engine import Lookups
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.onec.query import F


@dataclass
class Page:
    """One page of source records and the cursor that is true once they are committed."""

    records: list[dict[str, Any]]
    cursor: dict[str, Any]


class SourceReader:
    """Pages of `Date ge D` ordered by (Date, Ref_Key), resumable from a (date, skip) cursor."""

    def __init__(self, client: ODataClient, spec: Mapping, page_size: int) -> None:
        self.client = client
        self.spec = spec
        self.page_size = page_size
        self.f = F(client.tz)
        self._cache: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in spec.lookups}

    def base_filter(self) -> str:
        return F.and_(*(self.f.eq(k, v) for k, v in self.spec.source.filter.items()))

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        """Pages from the cursor (or `start`) up to `until`; each page's cursor covers everything before it."""
        src = self.spec.source
        date = datetime.fromisoformat(cursor["date"]) if cursor else start.replace(tzinfo=None)
        skip = int(cursor["skip"]) if cursor else 0
        until_local = until.astimezone(self.client.tz).replace(tzinfo=None) if until else None
        while True:
            flt = F.and_(self.base_filter(), self.f.ge(src.date_field, date),
                         self.f.lt(src.date_field, until_local) if until_local else None)
            rows = self.client.query(src.entity, filter=flt, orderby=f"{src.date_field} asc,{src.key} asc",
                                     top=self.page_size, skip=skip)
            if not rows:
                return
            last = datetime.fromisoformat(rows[-1][src.date_field])
            if last == date:
                skip += len(rows)
            else:
                date, skip = last, sum(1 for r in rows if r[src.date_field] == rows[-1][src.date_field])
            yield Page(rows, {"date": date.isoformat(), "skip": skip})
            if len(rows) < self.page_size:
                return

    def versions_since(self, start: datetime) -> Iterator[list[dict[str, Any]]]:
        """(key, version) of every matching record dated from `start`: a light scan for incremental cycles."""
        src = self.spec.source
        flt = F.and_(self.base_filter(), self.f.ge(src.date_field, start))
        for _, rows in self.client.pages(src.entity, filter=flt, orderby=f"{src.date_field} asc,{src.key} asc",
                                         page_size=max(self.page_size, 1000),
                                         select=[src.key, src.version_field, src.date_field]):
            yield rows

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        """Full records by key, in the order asked; records that no longer match the filter are left out."""
        found = self.client.by_refs(self.spec.source.entity, keys)
        wanted = self.spec.source.filter
        return [found[k] for k in keys if k in found and all(found[k].get(f) == v for f, v in wanted.items())]

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        """Lookup rows for the references a page needs; cached across pages of a run."""
        out: Lookups = {}
        for name, refs in need.items():
            table = self.spec.lookups[name]
            cache = self._cache[name]
            missing = [r for r in refs if r not in cache]
            if missing:
                rows = self.client.by_refs(table.entity, missing, select=[table.key, *table.fields])
                cache.update(rows)
                if len(cache) > 50_000:  # bounded memory on huge catalogs
                    for k in list(cache)[: len(cache) - 50_000]:
                        del cache[k]
                    cache.update(rows)
            out[name] = {r: cache[r] for r in refs if r in cache}
        return out
