"""Managers: 1C users ⇄ Bitrix24 users, matched through a table in the mapping or by e-mail. Never creates users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.records import Action, Outcome


class UserMatcher:
    """A target that only links: each 1C user gets the Bitrix24 user with the same e-mail (or the table's id)."""

    links_only = True  # a dry run shows the match it would record, never a create

    def __init__(self, client: Bitrix24Client, table: dict[str, str], email_field: str = "EMAIL") -> None:
        self.client = client
        self.table = {k.lower(): str(v) for k, v in table.items()}
        self.email_field = email_field
        self._by_email: dict[str, str] | None = None
        self._ids: set[str] = set()

    def _users(self) -> dict[str, str]:
        """Active portal users by lower-cased e-mail, read once per run (user.get pages by 50)."""
        if self._by_email is None:
            found: dict[str, str] = {}
            start = 0
            for _ in range(10_000):  # bounded: 500,000 users
                reply = self.client.call("user.get", {"FILTER": {"ACTIVE": True}, "start": start})
                for user in reply.result or []:
                    self._ids.add(str(user["ID"]))
                    email = str(user.get("EMAIL") or "").strip().lower()
                    if email:
                        found.setdefault(email, str(user["ID"]))
                if reply.next is None:
                    break
                start = reply.next
            self._by_email = found
        return self._by_email

    def _match(self, key: str, fields: Mapping[str, Any]) -> tuple[str | None, str]:
        """(Bitrix24 user id, how it was found) or (None, why there is none)."""
        if key.lower() in self.table:
            return self.table[key.lower()], "from table:"
        email = str(fields.get(self.email_field) or "").strip().lower()
        user_id = self._users().get(email) if email else None
        if user_id is not None:
            return user_id, f"by e-mail {email}"
        return (
            None,
            f"no active Bitrix24 user has the e-mail {email!r}" if email else "the 1C user has no e-mail",
        )

    def preview(self, actions: Sequence[Action]) -> dict[str, str]:
        """For a dry run: what each record would be linked to (reads the portal's users; writes nothing)."""
        out = {}
        for action in actions:
            user_id, how = self._match(action.record.key, action.record.fields)
            out[action.record.key] = f"Bitrix24 user {user_id} ({how})" if user_id else f"no link: {how}"
        return out

    def apply(self, actions: Sequence[Action]) -> list[Outcome]:
        outcomes = []
        for action in actions:
            rec = action.record
            if action.kind == "skip":
                outcomes.append(
                    Outcome(
                        rec.key, "skip", "skipped", action.target_id, rec.hash, rec.version, label=rec.label
                    )
                )
                continue
            user_id, why = self._match(rec.key, rec.fields)
            if user_id is None:
                outcomes.append(
                    Outcome(
                        rec.key,
                        action.kind,
                        "failed",
                        version=rec.version,
                        error=f"{rec.label}: {why}; add the pair "
                        f"'{rec.key}: <Bitrix24 user id>' under table: in mappings/managers.yaml",
                        label=rec.label,
                    )
                )
                continue
            outcomes.append(
                Outcome(rec.key, action.kind, "applied", user_id, rec.hash, rec.version, label=rec.label)
            )
        return outcomes

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        return {}  # nothing is ever created, so there is nothing to recover
