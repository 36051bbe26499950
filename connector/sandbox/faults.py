"""Reproducible fault injection shared by both emulators: random by seed, or forced one at a time by tests."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass

KINDS = ("latency", "error500", "html502", "html504", "reset", "lost_reply", "overload", "redirect")

PROFILES: dict[str, dict[str, float]] = {
    "none": {},
    "light": {"latency": 0.02, "error500": 0.01, "html502": 0.01, "reset": 0.01, "lost_reply": 0.01},
    "flaky": {"latency": 0.03, "error500": 0.02, "html502": 0.02, "html504": 0.01, "reset": 0.02,
              "lost_reply": 0.03},
    "lost-replies": {"lost_reply": 0.05},
    "chaos": {"latency": 0.03, "error500": 0.02, "html502": 0.02, "html504": 0.01, "reset": 0.02,
              "lost_reply": 0.05, "overload": 0.01},
}


@dataclass
class Fault:
    kind: str
    method: str | None = None  # only for this method (lowercase); None = any


class FaultInjector:
    """Decides, per request, whether and how to misbehave. `lost_reply` only hits writes: it commits, then resets."""

    def __init__(self, rates: dict[str, float] | None = None, seed: int = 0, latency: float = 0.05,
                 methods: set[str] | None = None) -> None:
        unknown = set(rates or {}) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
        self.rates = dict(rates or {})
        self.random = random.Random(seed)
        self.latency = latency
        self.methods = methods
        self.forced: deque[Fault] = deque()
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}

    @classmethod
    def profile(cls, name: str, seed: int = 0) -> FaultInjector:
        if name not in PROFILES:
            raise ValueError(f"unknown fault profile '{name}' (known: {', '.join(PROFILES)})")
        return cls(PROFILES[name], seed)

    def force(self, kind: str, method: str | None = None, times: int = 1) -> None:
        """Make the next matching request(s) fail this way."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind}")
        for _ in range(times):
            self.forced.append(Fault(kind, method.lower() if method else None))

    def pick(self, method: str, write: bool) -> str | None:
        method = method.lower()
        with self.lock:
            for fault in list(self.forced):
                if fault.method in (None, method) and (fault.kind != "lost_reply" or write):
                    self.forced.remove(fault)
                    return self._count(fault.kind)
            if self.methods is not None and method not in self.methods:
                return None
            for kind, rate in self.rates.items():
                if kind == "lost_reply" and not write:
                    continue
                if rate > 0 and self.random.random() < rate:
                    return self._count(kind)
        return None

    def _count(self, kind: str) -> str:
        self.injected[kind] = self.injected.get(kind, 0) + 1
        return kind


GATEWAY_PAGE = ("<html>\r\n<head><title>{code} {title}</title></head>\r\n<body>\r\n<center><h1>{code} {title}</h1>"
                "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
