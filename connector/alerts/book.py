"""The alert state machine: an open alert is sent once; when its condition clears, one "resolved" message.

Pure: `step` takes the conditions true now and the stored state, and returns the messages to send and the new
state. The state is a JSON-ready dict kept in the ledger under the cursor name `alerts:state`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

STATE_CURSOR = "alerts:state"


@dataclass(frozen=True)
class Alert:
    """A condition that holds now. `key` identifies it across cycles (`failed:orders`, `auth`); `portal` is False
    when the portal itself is the failure, so a Bitrix24 notification cannot reach anyone."""

    key: str
    text: str
    portal: bool = True


@dataclass(frozen=True)
class Message:
    """One thing to send: an alert opened (`kind="alert"`) or cleared (`kind="resolved"`)."""

    kind: str
    key: str
    text: str
    since: str
    portal: bool = True

    @property
    def subject(self) -> str:
        word = "ALERT" if self.kind == "alert" else "RESOLVED"
        return f"b24-1c {word}: {self.key}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "text": self.text, "since": self.since}


def step(
    active: list[Alert], state: dict[str, Any] | None, now: datetime, scope: set[str] | None = None
) -> tuple[list[Message], dict[str, Any]]:
    """Compare what holds now with what is open. `scope` limits which keys this evaluation can judge (a cycle of
    one flow says nothing about another flow's failures): open alerts outside it stay as they are."""
    opened: dict[str, Any] = dict((state or {}).get("open") or {})
    at = now.isoformat(timespec="seconds")
    messages: list[Message] = []
    holding = {a.key: a for a in active}
    for key, alert in holding.items():
        if key not in opened:
            opened[key] = {"since": at, "text": alert.text, "portal": alert.portal}
            messages.append(Message("alert", key, alert.text, at, alert.portal))
    for key in sorted(opened):
        if key in holding or (scope is not None and key not in scope):
            continue
        was = opened.pop(key)
        text = f"resolved (open since {was.get('since')}): {was.get('text')}"
        messages.append(Message("resolved", key, text, str(was.get("since")), bool(was.get("portal", True))))
    return messages, {"open": opened, "updated_at": at}
