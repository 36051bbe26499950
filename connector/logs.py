"""structlog set-up: a console renderer on a terminal, JSON lines otherwise, secrets always redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from connector.redact import redact_value


def _redact_event(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: redact_value(k, v) for k, v in event_dict.items()}


class _CurrentStderr:
    """Whatever `sys.stderr` is at the moment of writing, not the object it was at `configure` time.

    A command run inside another program (a test's CliRunner, an embedding service) may swap stderr for a buffer and
    close it afterwards; logging bound to that buffer would fail every later log line with "I/O operation on closed
    file" in code that has nothing to do with the command."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _ToStructlog(logging.Handler):
    """Hands a stdlib library's log records (APScheduler's: a job that raised, a missed run) to structlog, so they
    come out as the connector's own lines: same format, JSON in the journal, secrets redacted."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info:
                fields["exc_info"] = record.exc_info
            log = structlog.get_logger(record.name)
            method = record.levelname.lower() if record.levelno < logging.CRITICAL else "critical"
            getattr(log, method if method in _LEVELS else "error")(record.getMessage(), **fields)
        except Exception:  # a log line must never break the scheduler's thread
            self.handleError(record)


_LEVELS = {"debug", "info", "warning", "error", "critical"}
ROUTED = ("apscheduler",)  # stdlib loggers whose records go through structlog


def _route_stdlib(level: str) -> None:
    for name in ROUTED:
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _ToStructlog)]:
            logger.removeHandler(handler)
        logger.addHandler(_ToStructlog())
        logger.setLevel(logging.getLevelName(level.upper()))
        logger.propagate = False


def configure(level: str = "INFO", json: bool | None = None, stream: Any = None) -> None:
    """Configure structlog once for the process; `json=None` picks by whether stderr is a terminal."""
    stream = stream or _CurrentStderr()
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(level)


def get_logger(name: str) -> Any:
    """A bound logger named after its module."""
    return structlog.get_logger(name)
