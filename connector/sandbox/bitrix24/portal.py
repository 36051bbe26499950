"""The portal's state: entities, user fields, users, limits, faults, clock and the log of calls received."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from connector.clock import Clock, SystemClock
from connector.ratelimit import PLANS, LeakyBucket, OperatingWindow


@dataclass
class Webhook:
    """An incoming webhook: the user it acts as, its secret code and its scopes."""

    user_id: int
    code: str
    scopes: frozenset[str] = frozenset({"crm", "user", "task", "im", "basic"})


@dataclass
class Settings:
    """How this portal behaves; every knob a test or benchmark needs."""

    plan: str = "standard"            # standard | enterprise | off
    scale: float = 1.0                 # multiply drain rate (benchmarks)
    burst: float | None = None         # override the bucket size
    operating_limit: float = 480.0     # seconds of server time per method per 10 minutes
    operating_enabled: bool = True
    method_cost: dict[str, float] = field(default_factory=dict)  # simulated seconds per call of a method
    default_cost: float = 0.0          # simulated seconds for methods not listed (0 = measured time)
    offset_hours: int = 3              # portal time zone offset (date fields, DATE_MODIFY)
    https_required: bool = False
    auth_error_status: int = 401       # 401 per the code, 403 per the docs
    shuffle_unordered: bool = True     # lists without `order` come back in no stable order


@dataclass
class Call:
    """One call received (batch sub-commands included), for inspection."""

    at: float
    method: str
    params: dict[str, Any]
    status: int
    error: str | None = None
    batch: bool = False


class Portal:
    """Everything the emulated portal knows. Thread-safe: one lock, as PHP serialises writes per row anyway."""

    def __init__(self, settings: Settings | None = None, clock: Clock | None = None, seed: int = 1) -> None:
        self.settings = settings or Settings()
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.random = random.Random(seed)
        self.webhooks: dict[int, Webhook] = {}
        self.entities: dict[str, dict[int, dict[str, Any]]] = {"deal": {}}
        self.product_rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self.userfields: dict[str, dict[str, dict[str, Any]]] = {"deal": {}}
        self.users: dict[int, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}
        self.calls: list[Call] = []
        self.keep_calls = True
        self.faults: Any = None  # a FaultInjector, set by the app
        self.configure_limits()

    # -- limits -------------------------------------------------------------------------------------------------

    def configure_limits(self) -> None:
        s = self.settings
        if s.plan == "off":
            self.bucket: LeakyBucket | None = None
        else:
            capacity, rate = PLANS[s.plan]
            self.bucket = LeakyBucket(s.burst or capacity, rate * s.scale)
        self.operating: dict[int, OperatingWindow] = {}

    def operating_for(self, webhook_user: int) -> OperatingWindow:
        window = self.operating.get(webhook_user)
        if window is None:
            window = self.operating[webhook_user] = OperatingWindow(self.settings.operating_limit)
        return window

    # -- ids and time -------------------------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.settings.offset_hours))

    def now(self) -> datetime:
        return self.clock.now().astimezone(self.tz).replace(microsecond=0)

    def iso_now(self) -> str:
        return self.now().isoformat()

    def render_date(self, day: str) -> str:
        """Date-only fields come back as midnight shifted by the portal offset (CRestUtil::ConvertDate)."""
        h = self.settings.offset_hours
        sign = "+" if h >= 0 else "-"
        return f"{day[:10]}T{abs(h):02d}:00:00{sign}{abs(h):02d}:00"

    def parse_datetime(self, value: Any) -> datetime | None:
        """Input dates: ISO with an offset, or without (portal local time), or a bare date."""
        if value in (None, ""):
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
        return self.userfields.setdefault(entity, {})

    # -- inspection ---------------------------------------------------------------------------------------------

    def record_call(self, call: Call) -> None:
        if self.keep_calls:
            self.calls.append(call)

    def deals(self) -> list[dict[str, Any]]:
        """All deals as stored, bypassing limits and auth (for tests)."""
        with self.lock:
            return [dict(d) for d in self.entities["deal"].values()]

    def deal_rows(self, deal_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.product_rows.get(("D", deal_id), [])]

    # -- persistence --------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "entities": {k: {str(i): v for i, v in rows.items()} for k, rows in self.entities.items()},
                "product_rows": {f"{o}:{i}": rows for (o, i), rows in self.product_rows.items()},
                "userfields": self.userfields, "users": {str(k): v for k, v in self.users.items()},
                "counters": self.counters,
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.entities = {k: {int(i): v for i, v in rows.items()} for k, rows in data["entities"].items()}
            self.product_rows = {(k.split(":")[0], int(k.split(":")[1])): v for k, v in data["product_rows"].items()}
            self.userfields = data["userfields"]
            self.users = {int(k): v for k, v in data["users"].items()}
            self.counters = data["counters"]

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)

    def load(self, path: Path) -> bool:
        if not path.exists():
            return False
        self.restore(json.loads(path.read_text(encoding="utf-8")))
        return True


@dataclass
class CallContext:
    """Who is calling and how: the webhook user, its scopes, whether inside a batch."""

    user_id: int
    scopes: frozenset[str]
    via: str = "webhook"
    in_batch: bool = False
    started: float = 0.0


def utc_ts(dt: datetime) -> float:
    return dt.astimezone(UTC).timestamp()
