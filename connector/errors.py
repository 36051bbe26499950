"""The connector's exception tree, grouped by what the caller should do.

ConnectorError                      base; carries context (system, method, record) with secrets redacted
├── ConfigError                     stop: config, mapping or schedule is invalid (lists every problem)
├── StopRun                         stop the run: nothing more can succeed until a human acts
│   ├── AuthError                   credentials rejected, token cannot be refreshed
│   ├── InstanceLockedError         another process holds the ledger
│   └── LedgerError                 the ledger file is damaged, not writable, or its disk is full
├── RetryLater                      transient: back off and try the same request again
│   ├── RateLimited                 503 QUERY_LIMIT_EXCEEDED / OVERLOAD_LIMIT
│   ├── OperationTimeLimited        429 OPERATION_TIME_LIMIT on one method
│   └── TransientError              5xx, HTML gateway page, connection reset, timeout on a read
├── OutcomeUnknown                  a write was sent but its reply was lost: recover by external key
└── RecordError                     skip the record: the remote system rejected this one item
    ├── RemoteRejected              a 4xx / 1C business error ("-1") on one record
    │   └── TransientWriteError     a 5xx, reset or timeout on an update or posting (not a create): the record
    │                               fails this run and is written again on the next cycle (updates are idempotent)
    └── MappingError                the record cannot be mapped (empty reference, bad value)
"""

from __future__ import annotations

from typing import Any

from connector.redact import redact


class ConnectorError(Exception):
    """Base class: a message that says what to do next, plus redacted context."""

    def __init__(self, message: str, **context: Any) -> None:
        self.context = {k: redact(str(v)) for k, v in context.items() if v is not None}
        self.message = redact(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        if not self.context:
            return self.message
        ctx = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({ctx})"


class ConfigError(ConnectorError):
    """Config, mapping or schedule is invalid; `problems` lists every one of them."""

    def __init__(self, message: str, problems: list[str] | None = None, **context: Any) -> None:
        self.problems = [redact(p) for p in (problems or [])]
        super().__init__(message, **context)

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class StopRun(ConnectorError):
    """Nothing more can succeed in this run until a human acts."""


class AuthError(StopRun):
    """Credentials were rejected or a token cannot be refreshed."""


class InstanceLockedError(StopRun):
    """Another connector process holds the ledger."""


class LedgerError(StopRun):
    """The ledger cannot be opened or written (damaged file, missing rights, full disk); the message says what to do.

    Restarting does not help until a human acts, so the CLI exits with a code of its own (5)."""


class RetryLater(ConnectorError):
    """A transient failure: back off and retry the same request."""

    def __init__(self, message: str, retry_after: float | None = None, **context: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **context)


class RateLimited(RetryLater):
    """The portal's request-intensity limit answered 503."""


class OperationTimeLimited(RetryLater):
    """One method exhausted its server-time budget (429); only that method must pause."""


class TransientError(RetryLater):
    """A 5xx, an HTML gateway page, a reset connection or a timed-out read."""


class OutcomeUnknown(ConnectorError):
    """A write was sent but its reply was lost; the engine must look it up by external key.

    `settled` holds the outcomes of the writes of the same call that did get their replies (a target that writes
    in several batches goes on after a lost one), so that only the unsettled writes are looked up and sent again.
    """

    def __init__(self, message: str, **context: Any) -> None:
        self.settled: list[Any] = []
        super().__init__(message, **context)


class RecordError(ConnectorError):
    """This record cannot be written; other records go on."""


class RemoteRejected(RecordError):
    """The remote system rejected this one record (validation, business rule)."""

    def __init__(self, message: str, code: str | int | None = None, **context: Any) -> None:
        self.code = code
        super().__init__(message, **context)


class TransientWriteError(RemoteRejected):
    """An update or a posting of one record failed transiently (5xx, a body that is not JSON, reset, timeout).

    Not a rejection by the remote system: the same write is sent again on the next cycle, which is safe because
    updates and postings are idempotent. It is a RemoteRejected so that every target which turns a rejected
    record into a failed outcome does the same with it, and the run goes on. A create never raises it: a create
    whose reply is unknown is OutcomeUnknown and is looked up by external key, never blindly sent again."""


class MappingError(RecordError):
    """The record cannot be mapped: an empty reference, a value of the wrong type, a missing lookup."""
