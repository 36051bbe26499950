"""Reproducible fault injection shared by both emulators: random by seed, or forced one at a time by tests.

Kinds: ``latency`` (a slow reply), ``error500`` (JSON 500), ``html502``/``html504`` (nginx pages),
``reset`` (connection dropped before executing), ``lost_reply`` (a write that commits, then the connection
is reset), ``lost_timeout`` (a write that commits, then no reply until the client times out), ``overload``
(503 OVERLOAD_LIMIT) and ``redirect`` (302 portal domain change).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

KINDS = (
    "latency",
    "error500",
    "html502",
    "html504",
    "reset",
    "lost_reply",
    "overload",
    "redirect",
    "lost_timeout",
)
# Kinds that only make sense for writes: the write executes and only its reply is lost.
AFTER_COMMIT = frozenset({"lost_reply", "lost_timeout"})

PROFILES: dict[str, dict[str, float]] = {
    "none": {},
    "light": {"latency": 0.02, "error500": 0.01, "html502": 0.01, "reset": 0.01, "lost_reply": 0.01},
    "flaky": {
        "latency": 0.03,
        "error500": 0.02,
        "html502": 0.02,
        "html504": 0.01,
        "reset": 0.02,
        "lost_reply": 0.03,
    },
    "lost-replies": {"lost_reply": 0.05},
    "chaos": {
        "latency": 0.03,
        "error500": 0.02,
        "html502": 0.02,
        "html504": 0.01,
        "reset": 0.02,
        "lost_reply": 0.05,
        "overload": 0.01,
    },
}


@dataclass
class Fault:
    """One forced fault, optionally only for one method (lowercase)."""

    kind: str
    method: str | None = None


def _check(rates: dict[str, float]) -> None:
    unknown = set(rates) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")


class FaultInjector:
    """Decides, per request, whether and how to misbehave. After-commit kinds only hit writes."""

    def __init__(
        self,
        rates: dict[str, float] | None = None,
        seed: int = 0,
        latency: float = 0.05,
        methods: set[str] | None = None,
        method_rates: dict[str, dict[str, float]] | None = None,
    ) -> None:
        _check(dict(rates or {}))
        for per in (method_rates or {}).values():
            _check(per)
        self.rates = dict(rates or {})
        self.seed = seed
        self.random = random.Random(seed)
        self.latency = latency
        self.methods = {m.lower() for m in methods} if methods is not None else None
        self.method_rates = {m.lower(): dict(r) for m, r in (method_rates or {}).items()}
        self.forced: deque[Fault] = deque()
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.log: list[
            tuple[str, str]
        ] = []  # (method, kind) in the order injected, for reproducibility checks

    @classmethod
    def profile(cls, name: str, seed: int = 0) -> FaultInjector:
        """A named profile from PROFILES."""
        if name not in PROFILES:
            raise ValueError(f"unknown fault profile '{name}' (known: {', '.join(PROFILES)})")
        return cls(PROFILES[name], seed)

    def force(self, kind: str, method: str | None = None, times: int = 1) -> None:
        """Make the next matching request(s) fail this way."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        with self.lock:
            for _ in range(times):
                self.forced.append(Fault(kind, method.lower() if method else None))

    def set_method_rates(self, method: str, rates: dict[str, float]) -> None:
        """Random faults for one method only (on top of the global rates)."""
        _check(rates)
        with self.lock:
            self.method_rates[method.lower()] = dict(rates)

    def pick(self, method: str, write: bool) -> str | None:
        """The fault for this request, or None."""
        method = method.lower()
        with self.lock:
            for fault in list(self.forced):
                if fault.method in (None, method) and (fault.kind not in AFTER_COMMIT or write):
                    self.forced.remove(fault)
                    return self._count(method, fault.kind)
            rates = dict(self.method_rates.get(method, {}))
            if self.methods is None or method in self.methods:
                for kind, rate in self.rates.items():
                    rates.setdefault(kind, rate)
            for kind, rate in rates.items():
                if kind in AFTER_COMMIT and not write:
                    continue
                if rate > 0 and self.random.random() < rate:
                    return self._count(method, kind)
        return None

    def _count(self, method: str, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        self.log.append((method, kind))
        return kind


GATEWAY_PAGE = (
    "<html>\r\n<head><title>{code} {title}</title></head>\r\n<body>\r\n<center><h1>{code} {title}</h1>"
    "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
