"""1C as a flow source: date-windowed pages for documents, key-ordered pages for catalogs, lookups with a cache."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from connector.engine.protocols import Page
from connector.errors import ConfigError, ConnectorError
from connector.mapping.engine import LINKS, Lookups
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.onec.query import F

LOOKUP_CACHE_LIMIT = 50_000
# Exchange-plan nodes this process has used: (base URL, plan, node code) -> (node Ref_Key, next message number). The
# node never changes its reference, and the number is ours to count once read, so an idle cycle is one SelectChanges.
_NODES: dict[tuple[str, str, str], tuple[str, int]] = {}
_NODES_LOCK = threading.Lock()
# The plan a base adds for CRM exchange (an extension, docs/admin-guide.md). Where the base publishes it and holds our
# flow's node (Code `<installation id>-<flow>`), the flow reads its changes from the plan without any mapping change.
DEFAULT_PLAN = "ExchangePlan_ДляCRM"
Extra = Callable[[list[dict[str, Any]]], Iterator[list[tuple[str, str | None]]]]
# (base URL, node code) found missing in this process: windows, as before.
_ABSENT: set[tuple[str, str]] = set()


def default_node(spec: Mapping, installation: str) -> str:
    """The Code of a flow's node in the default plan: the mapping's `source.changes.node`, else
    `<installation id>-<flow>` (what `b24-1c setup --exchange-nodes` makes and the sources look for)."""
    return str(spec.source.changes.node or f"{installation}-{spec.flow}")


class OneCSource:
    """Documents page as `Date ge D` ordered by (Date, Ref_Key) from a (date, skip) cursor; catalogs by Ref_Key."""

    def __init__(
        self, client: ODataClient, spec: Mapping, page_size: int, installation: str | None = None
    ) -> None:
        self.client = client
        changes = spec.source.changes
        # Without a plan in the mapping: the default plan's node for this installation and flow, if the base has it.
        self.auto_node = (
            default_node(spec, installation) if installation and not changes.exchange_plan else None
        )
        self.spec = spec
        self.page_size = page_size
        self.f = F(client.tz)
        self._cache: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in spec.lookups}
        self.deleted: list[str] = []  # keys an exchange-plan package reported deleted
        self.acknowledge = True  # a dry run reads a package without telling 1C it was received

    def base_filter(self) -> str:
        parts = []
        for field, value in self.spec.source.filter.items():
            parts.append(
                self.f.any_of(field, list(value)) if isinstance(value, list) else self.f.eq(field, value)
            )
        return F.and_(*parts)

    def _window(self, start: datetime | None, until: datetime | None) -> str:
        date_field = self.spec.source.date_field
        if date_field is None:
            return self.base_filter()
        return F.and_(
            self.base_filter(),
            self.f.ge(date_field, start) if start else None,
            self.f.lt(date_field, until) if until else None,
        )

    def count(self, start: datetime, until: datetime | None) -> int | None:
        return self.client.count(self.spec.source.entity, self._window(start, until) or None)

    def pages(self, start: datetime, until: datetime | None, cursor: dict[str, Any] | None) -> Iterator[Page]:
        if cursor is None:
            self.plan()  # known before the first cycle after this backfill, which then costs what an idle one does
        src = self.spec.source
        if src.date_field is None:
            yield from self._catalog_pages(cursor)
            return
        date = (
            datetime.fromisoformat(cursor["date"])
            if cursor
            else start.astimezone(self.client.tz).replace(tzinfo=None)
        )
        skip = int(cursor["skip"]) if cursor else 0
        until_local = until.astimezone(self.client.tz).replace(tzinfo=None) if until else None
        while True:
            flt = F.and_(
                self.base_filter(),
                self.f.ge(src.date_field, date),
                self.f.lt(src.date_field, until_local) if until_local else None,
            )
            rows = self.client.query(
                src.entity,
                filter=flt,
                orderby=f"{src.date_field} asc,{src.key} asc",
                top=self.page_size,
                skip=skip,
            )
            if not rows:
                return
            last = datetime.fromisoformat(rows[-1][src.date_field])
            if last == date:
                skip += len(rows)
            else:  # keyset on the date; `skip` counts the rows of the last date already read
                date, skip = last, sum(1 for r in rows if r[src.date_field] == rows[-1][src.date_field])
            yield Page(rows, {"date": date.isoformat(), "skip": skip})
            if len(rows) < self.page_size:
                return

    def _catalog_pages(self, cursor: dict[str, Any] | None) -> Iterator[Page]:
        src = self.spec.source
        start = int(cursor["skip"]) if cursor else 0
        for skip, rows in self.client.pages(
            src.entity,
            filter=self.base_filter() or None,
            orderby=f"{src.key} asc",
            page_size=self.page_size,
            skip=start,
        ):
            yield Page(rows, {"skip": skip + len(rows)})

    def plan(self) -> tuple[str, str] | None:
        """(exchange plan, node code) this flow reads its changes from, or None (date windows and full scans): the
        mapping's, else the default plan's node for this installation and flow where the base has both (asked once
        per process; a node added later is used after a restart)."""
        changes = self.spec.source.changes
        if changes.exchange_plan:
            return str(changes.exchange_plan), str(changes.node or "")
        if self.auto_node is None:
            return None
        code, base = self.auto_node, self.client.base_url
        if (base, DEFAULT_PLAN, code) in _NODES:
            return DEFAULT_PLAN, code
        if (base, code) in _ABSENT:
            return None
        try:
            node = self._node(DEFAULT_PLAN, code) if DEFAULT_PLAN in self.client.metadata.entities else None
        except ConnectorError:
            node = (
                None  # no such node, or a base that cannot tell (no rights on the plan): windows, as before
            )
        if node is None:
            _ABSENT.add((base, code))
            return None
        with _NODES_LOCK:
            _NODES.setdefault((base, DEFAULT_PLAN, code), node)
        return DEFAULT_PLAN, code

    def versions(
        self, since: datetime | None, extra: Extra | None = None
    ) -> Iterator[list[tuple[str, str | None]]]:
        """(key, version) pages; from the exchange plan where there is one, and then whatever `extra` makes of the
        rest of the same package (a tracker's documents), before the package is acknowledged."""
        if self.plan():
            yield from self._exchange_plan(extra)
            return
        src = self.spec.source
        select = [src.key] + ([src.version_field] if src.version_field else [])
        order = f"{src.date_field} asc,{src.key} asc" if src.date_field else f"{src.key} asc"
        flt = self._window(since, None) if since is not None else self.base_filter()
        for _, rows in self.client.pages(
            src.entity, filter=flt or None, orderby=order, page_size=max(self.page_size, 1000), select=select
        ):
            yield [(r[src.key], r.get(src.version_field) if src.version_field else None) for r in rows]

    def _exchange_plan(self, extra: Extra | None = None) -> Iterator[list[tuple[str, str | None]]]:
        """Changes registered for our node (edits of old documents and deletions included): SelectChanges, then,
        once every yielded page is committed, NotifyChangesReceived so 1C drops the registrations."""
        plan, code = self.plan() or ("", "")
        cache = (self.client.base_url, plan, code)
        with _NODES_LOCK:
            known = _NODES.pop(cache, None)  # put back only once this cycle has used it without an error
        try:
            ref, message = known or self._node(plan, code)
            point = "'" + self.client.base_url + f"{plan}(guid'{ref}')" + "'"
            payload = self.client.request(
                "POST", "SelectChanges", {"DataExchangePoint": point, "MessageNo": message}, write=False
            )
        except ConnectorError:
            if known is None:
                raise
            # The node we remembered is gone (re-created in 1C, another base on this address): read it again.
            ref, message = self._node(plan, code)
            point = "'" + self.client.base_url + f"{plan}(guid'{ref}')" + "'"
            payload = self.client.request(
                "POST", "SelectChanges", {"DataExchangePoint": point, "MessageNo": message}, write=False
            )
        items = payload.get("value", []) if isinstance(payload, dict) else []
        prefix = f"{self.spec.source.entity}(guid'"
        changed: list[tuple[str, str | None]] = []
        self.deleted = []
        for item in items:
            ident = str(item.get("odata.id", ""))
            at = ident.find(prefix)
            if at < 0:
                continue  # another entity set registered on the same node
            key = ident[at + len(prefix) : at + len(prefix) + 36]
            if item.get("odata.deleted"):
                self.deleted.append(key)
            else:
                changed.append((key, None))
        for i in range(0, len(changed), self.page_size):
            yield changed[i : i + self.page_size]
        if extra is not None:
            yield from extra(items)
        if items and self.acknowledge:  # an empty package has nothing to acknowledge: the same number again
            # Idempotent for the same message number, so retried like a read.
            self.client.request(
                "POST", "NotifyChangesReceived", {"DataExchangePoint": point, "MessageNo": message}
            )
            message += 1
        with _NODES_LOCK:
            _NODES[cache] = (ref, message)

    def _node(self, plan: str, code: str) -> tuple[str, int]:
        """The node's Ref_Key and the message number to ask for (ReceivedNo + 1)."""
        nodes = self.client.query(
            plan, filter=self.f.eq("Code", code), select=["Ref_Key", "Code", "ReceivedNo"]
        )
        if not nodes:
            raise ConfigError(
                f"mappings/{self.spec.flow}.yaml: source.changes.node: 1C has no node with Code "
                f"{code!r} in {plan}; create it in 1C (exchange plan settings) first"
            )
        return str(nodes[0]["Ref_Key"]), int(str(nodes[0].get("ReceivedNo") or 0)) + 1

    def fetch(self, keys: list[str]) -> list[dict[str, Any]]:
        found = self.client.by_refs(self.spec.source.entity, keys)
        wanted = self.spec.source.filter

        def matches(row: dict[str, Any]) -> bool:
            return all(row.get(f) in v if isinstance(v, list) else row.get(f) == v for f, v in wanted.items())

        return [found[k] for k in keys if k in found and matches(found[k])]

    def lookups(self, need: dict[str, set[str]]) -> Lookups:
        out: Lookups = {}
        for name, refs in need.items():
            if name.startswith(LINKS):
                continue  # resolved from the ledger by the engine
            table = self.spec.lookups[name]
            cache = self._cache[name]
            missing = [r for r in refs if r not in cache]
            if missing:
                rows = self.client.by_refs(table.entity, missing, select=[table.key, *table.fields])
                if len(cache) + len(rows) > LOOKUP_CACHE_LIMIT:  # bounded memory on huge catalogs
                    cache.clear()
                cache.update(rows)
            out[name] = {r: cache[r] for r in refs if r in cache}
        return out


SourceReader = OneCSource  # the name the walking skeleton used
