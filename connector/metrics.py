"""Prometheus metrics of the daemon (prometheus-client): records by outcome per flow, requests and the portal's
503s and 429s per system, 1C's 5xx replies, timeouts and broken connections, operating time used per method,
and per flow the lag and the age of the last success.

Counters of records grow from each cycle's report; everything else is read at scrape time from the connector (its
clients' counters, the ledger's cursors) and the daemon (last successes), so a scrape never sends a request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

OUTCOMES = ("created", "updated", "skipped", "failed", "recovered", "deleted")
OPERATING_LIMIT = 480.0  # seconds of server time per method per 10 minutes (Bitrix24 REST limits)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Live(Collector):
    """Values read when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        traffic = self.metrics.traffic()
        requests = CounterMetricFamily("b24_1c_requests", "HTTP requests sent, per system", labels=["system"])
        for system, n in traffic.get("requests", {}).items():
            requests.add_metric([system], n)
        yield requests
        limited = CounterMetricFamily(
            "b24_1c_refused_requests",
            "requests the remote system refused for load: 503 (QUERY_LIMIT_EXCEEDED) or 429 (OPERATION_TIME_LIMIT)",
            labels=["system", "status"],
        )
        for system, n in traffic.get("rate_limited", {}).items():
            limited.add_metric([system, "503"], n)
        for system, n in traffic.get("time_limited", {}).items():
            limited.add_metric([system, "429"], n)
        yield limited
        failed = CounterMetricFamily(
            "b24_1c_failed_requests",
            "requests that failed on the remote side, per system and kind: a 5xx status (not a business error), "
            "timeout or connection",
            labels=["system", "kind"],
        )
        for system, kinds in sorted(traffic.get("failed", {}).items()):
            for kind, n in sorted(kinds.items()):
                failed.add_metric([system, kind], n)
        yield failed
        budget = GaugeMetricFamily(
            "b24_1c_operating_budget_used_ratio",
            "share of a Bitrix24 method's operating-time budget (480 s per 10 min) used, as the portal reports",
            labels=["method"],
        )
        for method, used in sorted(traffic.get("operating", {}).items()):
            budget.add_metric([method], min(used / OPERATING_LIMIT, 10.0))
        yield budget
        lag = GaugeMetricFamily(
            "b24_1c_lag_seconds", "how far behind now the flow's incremental reads are", labels=["flow"]
        )
        age = GaugeMetricFamily(
            "b24_1c_last_success_age_seconds",
            "seconds since the flow's last successful cycle",
            labels=["flow"],
        )
        now = self.metrics.now()
        for flow, facts in self.metrics.flows().items():
            if facts.get("lag") is not None:
                lag.add_metric([flow], facts["lag"])
            success = facts.get("last_success")
            if isinstance(success, datetime):
                age.add_metric([flow], max(0.0, (now - success).total_seconds()))
        yield lag
        yield age


class Metrics:
    """The daemon's metrics registry. `record(flow, report)` after each cycle; `render()` for /metrics."""

    def __init__(self, connector: Any, daemon: Any = None) -> None:
        self.connector = connector
        self.daemon = daemon
        self.registry = CollectorRegistry()
        self.records = Counter(
            "b24_1c_records",
            "records handled, per flow and outcome",
            ["flow", "outcome"],
            registry=self.registry,
        )
        self.cycles = Counter(
            "b24_1c_cycles", "cycles run, per flow and result", ["flow", "result"], registry=self.registry
        )
        self.registry.register(_Live(self))
        self._lock = threading.Lock()

    def record(self, flow: str, report: Any) -> None:
        """Count one successful cycle's outcomes."""
        facts = report.as_dict() if hasattr(report, "as_dict") else dict(report)
        for outcome in OUTCOMES:
            n = int(facts.get(outcome) or 0)
            if n:
                self.records.labels(flow, outcome).inc(n)
        self.cycles.labels(flow, "ok").inc()

    def failed_cycle(self, flow: str) -> None:
        self.cycles.labels(flow, "error").inc()

    def traffic(self) -> dict[str, Any]:
        traffic: dict[str, Any] = self.connector.traffic()
        return traffic

    def now(self) -> datetime:
        moment: datetime = self.connector.clock.now()
        return moment

    def flows(self) -> dict[str, dict[str, Any]]:
        """Per flow: the lag (from the ledger's cursor) and the last success (the daemon's, else the ledger's)."""
        status = self.connector.status()
        out: dict[str, dict[str, Any]] = {}
        for f in status.flows:
            success = f.last_success
            if (
                self.daemon is not None
                and f.flow in self.daemon.flows
                and self.daemon.flows[f.flow].last_success
            ):
                success = self.daemon.flows[f.flow].last_success
            out[f.flow] = {"lag": f.lag_seconds, "last_success": _moment(success)}
        return out

    def render(self) -> bytes:
        with self._lock:
            return generate_latest(self.registry)


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
