"""The portal's state: entities, user fields, users, apps and tokens, limits, events, clock and the call log."""

from __future__ import annotations

import json
import pickle
import random
import threading
import zlib
from collections import deque
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from b24_1c_sandbox.bitrix24.limits import PLAN_LIMITS, OperatingBudget, RequestCounter
from b24_1c_sandbox.calllog import CallLog
from b24_1c_sandbox.clock import Clock, SystemClock
from b24_1c_sandbox.compact import LiveTable, Table


@dataclass
class Webhook:
    """An incoming webhook: the user it acts as, its secret code and its scopes."""

    user_id: int
    code: str
    scopes: frozenset[str] = frozenset({"crm", "sale", "user", "task", "im", "basic"})


@dataclass
class OAuthApp:
    """An installed application: credentials, scopes, and whether its subscription lapsed."""

    client_id: str
    client_secret: str
    scopes: frozenset[str] = frozenset({"crm", "sale", "user", "task", "im", "basic"})
    application_token: str = ""
    payment_required: bool = False


@dataclass
class Token:
    """An access or refresh token as the portal (or oauth.bitrix.info) remembers it."""

    value: str
    client_id: str
    user_id: int
    expires_at: float  # unix seconds on the portal clock
    used: bool = False


@dataclass
class Settings:
    """How this portal behaves; every knob a test or benchmark needs."""

    plan: str = "standard"  # standard | enterprise | off
    scale: float = 1.0  # multiply the bucket's drain rate (benchmarks)
    burst: float | None = None  # override the bucket size
    operating_limit: float = 480.0  # seconds of server time per method per 10 minutes (420 self-hosted)
    budget_scale: float = 1.0  # multiply operating_limit (benchmarks)
    operating_enabled: bool = True  # cloud: on; self-hosted: off (no operating keys in `time` either)
    method_cost: dict[str, float] = field(default_factory=dict)  # simulated seconds per call of a method
    default_cost: float = 0.0  # simulated seconds for methods not listed (0 = measured time)
    # A portal across the internet: each request travels `latency` seconds in all (half before the portal sees it,
    # half for the reply) and spends `server_time` seconds inside the portal after admission (outside the store's
    # lock: requests in flight overlap, as on a real server). Both on the portal's clock; 0 = a local portal.
    latency: float = 0.0
    server_time: float = 0.0
    offset_hours: int = 3  # portal time zone offset (date fields, DATE_MODIFY)
    https_required: bool = False
    auth_error_status: int = 401  # 401 per the code, 403 per the docs (INVALID_CREDENTIALS, scope)
    shuffle_unordered: bool = True  # lists without `order` come back in no stable order
    access_ttl: float = 3600.0
    refresh_ttl: float = 180 * 86400.0
    rest_time_headers: bool = True  # X-Bitrix-Rest-Time and friends, as on cloud
    domain: str = "sandbox.bitrix24.ru"
    moved_to: str = "https://moved.sandbox.bitrix24.ru"  # Location of the 302 domain-change fault
    event_delay: float = 0.0  # seconds before an online event is POSTed
    event_drop_rate: float = 0.0  # share of online events lost on the way (no retries)
    contract_only: bool = False  # methods outside the Bitrix24 contract answer ERROR_METHOD_NOT_FOUND

    def cost_of(self, method: str) -> float:
        """Simulated seconds a call of this method costs (0 = use the measured time)."""
        return self.method_cost.get(method.lower(), self.default_cost)


class Call:
    """One call received (batch sub-commands included), for inspection.

    The parameters are kept pickled and compressed, and `params` gives a new copy each time: with them as dicts
    the call log (the newest 100,000 calls) was about 2.5 KB a call, 250 MB once full (issue 13 goal 6)."""

    __slots__ = ("_params", "at", "batch", "client", "error", "fault", "method", "status", "via")

    def __init__(
        self,
        at: float,
        method: str,
        params: dict[str, Any],
        status: int,
        error: str | None = None,
        batch: bool = False,
        via: str = "webhook",
        client: str = "",
        fault: str | None = None,
    ) -> None:
        self.at = at
        self.method = method
        self.params = params
        self.status = status
        self.error = error
        self.batch = batch
        self.via = via
        self.client = client
        self.fault = fault

    @property
    def params(self) -> dict[str, Any]:
        kept = self._params
        if isinstance(kept, bytes):
            params: dict[str, Any] = pickle.loads(zlib.decompress(kept))
            return params
        return dict(kept)

    @params.setter
    def params(self, value: dict[str, Any]) -> None:
        if not value:
            self._params: bytes | dict[str, Any] = {}
            return
        try:
            self._params = zlib.compress(pickle.dumps(value, pickle.HIGHEST_PROTOCOL), 1)
        except (pickle.PicklingError, TypeError, AttributeError):  # a value pickle cannot take: kept as it is
            self._params = dict(value)

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.at,
            self.method,
            self.params,
            self.status,
            self.error,
            self.batch,
            self.via,
            self.client,
            self.fault,
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is Call and self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        names = ("at", "method", "params", "status", "error", "batch", "via", "client", "fault")
        return "Call(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"


class Portal:
    """Everything the emulated portal knows. Thread-safe: one lock, as PHP serialises writes per row anyway."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None, seed: int = 1) -> None:
        self.settings = settings or Settings()
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.random = random.Random(seed)
        self.webhooks: dict[int, Webhook] = {}
        self.apps: dict[str, OAuthApp] = {}
        self.access_tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}
        # CRM objects by store and id, kept packed (compact.LiveTable): a record read or written during a call is
        # a plain dict until `settle()` packs it back after the call (issue 13 goal 6).
        self.entities: dict[str, LiveTable] = {"deal": LiveTable()}
        # Stored packed (compact.py): a read gives new dicts, a change is an assignment of the owner's rows.
        self.product_rows: Table = Table()
        self.userfields: dict[str, dict[str, dict[str, Any]]] = {"deal": {}}
        self.users: dict[int, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}
        # Side tables of the CRM: multifields by (entityTypeId, id), deal contacts, requisites, payments...
        self.tables: dict[str, MutableMapping[int, dict[str, Any]]] = {}
        self.multifields: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.contact_links: dict[tuple[int, int], list[int]] = {}
        self.categories: dict[int, list[dict[str, Any]]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.calls = CallLog()  # bounded: the newest calls in full, every call counted
        self.violations: deque[Any] = deque(maxlen=1000)  # the latest calls outside the Bitrix24 contract
        self.keep_calls = True
        self.faults: Any = None  # a FaultInjector, set by the runner
        self.events: Any = None  # the EventBus, set by the app
        self._tz: tuple[int, timezone] | None = None
        self.configure_limits()
        from b24_1c_sandbox.bitrix24.seed import seed_portal  # the directories every portal starts with

        seed_portal(self)

    # -- limits -------------------------------------------------------------------------------------------------

    def configure_limits(self) -> None:
        """(Re)build the leaky buckets and operating windows from the settings."""
        s = self.settings
        self.buckets: dict[str, RequestCounter] = {}
        self.bucket: RequestCounter | None = None
        if s.plan != "off":
            capacity, rate = PLAN_LIMITS[s.plan]
            self.bucket = RequestCounter(s.burst or capacity, rate * s.scale)
        self.operating: dict[Any, OperatingBudget] = {}

    def bucket_for(self, client: str) -> RequestCounter | None:
        """The request counter is per portal and source IP; the first client uses `self.bucket`."""
        if self.bucket is None:
            return None
        if not self.buckets:
            self.buckets[client] = self.bucket
        found = self.buckets.get(client)
        if found is None:
            found = self.buckets[client] = RequestCounter(self.bucket.ceiling, self.bucket.drain_per_second)
        return found

    def operating_for(self, caller: Any) -> OperatingBudget:
        """The operating-time window of one webhook or app (budgets are per caller and method)."""
        window = self.operating.get(caller)
        if window is None:
            limit = self.settings.operating_limit * self.settings.budget_scale
            window = self.operating[caller] = OperatingBudget(limit)
        return window

    # -- ids and time -------------------------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        """Auto-increment per table."""
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def store(self, name: str) -> LiveTable:
        """The objects of one CRM store ("deal", "company", "smart_invoice"...), created empty on first use."""
        found = self.entities.get(name)
        if found is None:
            found = self.entities[name] = LiveTable()
        return found

    def record(self, store: str, record_id: int) -> dict[str, Any] | None:
        """The stored CRM object itself (changes to it are the store's until the call ends), or None."""
        objects = self.entities.get(store)
        found: dict[str, Any] | None = None if objects is None else objects.get(record_id)
        return found

    def settle(self) -> None:
        """Pack back the CRM objects the last call read or wrote (the app calls this after every call)."""
        with self.lock:
            for objects in self.entities.values():
                objects.settle()
            for table in self.tables.values():
                if isinstance(table, LiveTable):
                    table.settle()  # the sale module's tables (saleindex.IndexedTable)

    def table(self, name: str) -> MutableMapping[int, dict[str, Any]]:
        """A side table (requisites, payments, activities, tasks, notifications...)."""
        return self.tables.setdefault(name, {})

    @property
    def tz(self) -> timezone:
        """The portal's fixed offset."""
        hours = self.settings.offset_hours
        cached = self._tz
        if cached is None or cached[0] != hours:  # settings may change at run time (tests)
            cached = self._tz = (hours, timezone(timedelta(hours=hours)))
        return cached[1]

    def now(self) -> datetime:
        """Portal-local time at whole seconds."""
        return self.clock.now().astimezone(self.tz).replace(microsecond=0)

    def unix(self) -> float:
        """Unix seconds on the portal clock."""
        return self.clock.now().timestamp()

    def iso_now(self) -> str:
        """`date('c')` now."""
        return self.now().isoformat()

    def render_date(self, day: str) -> str:
        """Date-only fields come back as midnight shifted by the portal offset (CRestUtil::ConvertDate)."""
        h = self.settings.offset_hours
        sign = "+" if h >= 0 else "-"
        return f"{day[:10]}T{abs(h):02d}:00:00{sign}{abs(h):02d}:00"

    def parse_datetime(self, value: Any) -> datetime | None:
        """Input dates: ISO with an offset, or without (portal local time), or a bare date."""
        if value in (None, "") or isinstance(value, dict | list | bool):
            return None
        text = str(value).strip().replace(" ", "T")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=self.tz)
        return dt.astimezone(self.tz).replace(microsecond=0)

    def user_field_defs(self, entity: str) -> dict[str, dict[str, Any]]:
        """UF definitions of one entity store ("deal", "company", ...)."""
        return self.userfields.setdefault(entity, {})

    # -- inspection (never goes through auth or limits) ---------------------------------------------------------

    def record_call(self, call: Call) -> None:
        """Append to the call log (thread-safe)."""
        if self.keep_calls:
            self.calls.append(call)

    def calls_snapshot(self, method: str | None = None) -> list[Call]:
        """A copy of the call log, optionally for one method."""
        calls = self.calls.snapshot()
        return [c for c in calls if method is None or c.method == method.lower()]

    def clear_calls(self) -> None:
        """Forget the calls received so far."""
        self.calls.clear()

    def deals(self) -> list[dict[str, Any]]:
        """All deals as stored, bypassing limits and auth (for tests)."""
        return self.objects("deal")

    def objects(self, store: str) -> list[dict[str, Any]]:
        """Every stored object of one store ("deal", "company", "contact", "smart_invoice", "dynamic_1038"...)."""
        with self.lock:
            return [dict(d) for d in self.entities.get(store, {}).values()]

    def rows_of(self, name: str) -> list[dict[str, Any]]:
        """Every row of a side table ("payment", "activity", "task", "notification", "requisite"...)."""
        with self.lock:
            return [dict(r) for r in self.tables.get(name, {}).values()]

    def deal_rows(self, deal_id: int) -> list[dict[str, Any]]:
        """Product rows of one deal."""
        with self.lock:
            return [dict(r) for r in self.product_rows.get(("D", deal_id), [])]

    # -- persistence --------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything worth keeping across restarts, as JSON-able data."""
        with self.lock:
            return {
                "entities": {k: {str(i): v for i, v in rows.items()} for k, rows in self.entities.items()},
                "product_rows": {f"{o}:{i}": rows for (o, i), rows in self.product_rows.items()},
                "userfields": self.userfields,
                "users": {str(k): v for k, v in self.users.items()},
                "counters": self.counters,
                "tables": {k: {str(i): v for i, v in rows.items()} for k, rows in self.tables.items()},
                "multifields": {f"{t}:{i}": v for (t, i), v in self.multifields.items()},
                "contact_links": {f"{t}:{i}": v for (t, i), v in self.contact_links.items()},
                "apps": {k: {**asdict(a), "scopes": sorted(a.scopes)} for k, a in self.apps.items()},
                "access_tokens": {k: asdict(t) for k, t in self.access_tokens.items()},
                "refresh_tokens": {k: asdict(t) for k, t in self.refresh_tokens.items()},
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot (older snapshots without the newer tables load too)."""

        def pair(key: str) -> tuple[int, int]:
            a, b = key.split(":")
            return int(a), int(b)

        with self.lock:
            self.entities = {
                k: LiveTable({int(i): v for i, v in rows.items()}) for k, rows in data["entities"].items()
            }
            self.product_rows = Table(
                {(k.split(":")[0], int(k.split(":")[1])): v for k, v in data["product_rows"].items()}
            )
            self.userfields = data["userfields"]
            self.users.update({int(k): v for k, v in data["users"].items()})
            self.counters = data["counters"]
            self.tables = {
                k: {int(i): v for i, v in rows.items()} for k, rows in data.get("tables", {}).items()
            }
            self.multifields = {pair(k): v for k, v in data.get("multifields", {}).items()}
            self.contact_links = {pair(k): v for k, v in data.get("contact_links", {}).items()}
            for k, a in data.get("apps", {}).items():
                self.apps[k] = OAuthApp(**{**a, "scopes": frozenset(a["scopes"])})
            self.access_tokens.update({k: Token(**t) for k, t in data.get("access_tokens", {}).items()})
            self.refresh_tokens.update({k: Token(**t) for k, t in data.get("refresh_tokens", {}).items()})

    def save(self, path: Path) -> None:
        """Write the snapshot atomically."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        """Load a snapshot file if it exists."""
        if not path.exists():
            return False
        self.restore(json.loads(path.read_text(encoding="utf-8")))
        return True


@dataclass
class CallContext:
    """Who is calling and how: the user, scopes, webhook or app, inside a batch or not."""

    user_id: int
    scopes: frozenset[str]
    via: str = "webhook"  # "webhook" | "access" (an OAuth app's access token)
    in_batch: bool = False
    started: float = 0.0
    client_id: str | None = None  # the app, for OAuth calls
    auth_connector: str | None = None  # changes made with it are not queued for the same connector
    caller: Any = None  # key of the operating-time budget (webhook or app)
    client: str = ""  # source IP


def utc_ts(dt: datetime) -> float:
    """Unix seconds of an aware datetime."""
    return dt.astimezone(UTC).timestamp()
