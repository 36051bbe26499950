"""Managers: 1C users ⇄ Bitrix24 users, matched through a table in the mapping or by e-mail. Never creates users."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.engine.planned import NO_DAY, CommandPlan, PlannedTarget, applied, failed
from connector.engine.steps import RecordPlan
from connector.records import Action, Outcome


class UserMatcher(PlannedTarget):
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

    def _match(self, key: str, fields: Mapping[str, Any], users: dict[str, str]) -> tuple[str | None, str]:
        """(Bitrix24 user id, how it was found) or (None, why there is none)."""
        if key.lower() in self.table:
            return self.table[key.lower()], "from table:"
        email = str(fields.get(self.email_field) or "").strip().lower()
        user_id = users.get(email) if email else None
        if user_id is not None:
            return user_id, f"by e-mail {email}"
        return (
            None,
            f"no active Bitrix24 user has the e-mail {email!r}" if email else "the 1C user has no e-mail",
        )

    def prepare(self, actions: Sequence[Action], today: date) -> dict[str, str]:
        """Reads only: the portal's active users by e-mail (once per run; none when the table names them all)."""
        if all(a.record.key.lower() in self.table for a in actions):
            return {}
        return self._users()

    def rules(self, actions: Sequence[Action], prepared: dict[str, str], today: date) -> list[CommandPlan]:
        """Pure: per 1C user, no step at all, only the link it gets (`done`) or why it gets none (`problems`)."""
        plans = []
        for action in actions:
            rec = action.record
            user_id, how = self._match(rec.key, rec.fields, prepared)
            if user_id is None:
                why = f"{rec.label}: {how}; add the pair '{rec.key}: <Bitrix24 user id>' under table: in "
                plans.append(CommandPlan(action, problems=[why + "mappings/managers.yaml"]))
            else:
                plans.append(
                    CommandPlan(action, done=[f"link to Bitrix24 user {user_id} ({how})"], target_id=user_id)
                )
        return plans

    def execute(self, plans: Sequence[RecordPlan], prepared: dict[str, str]) -> list[Outcome]:
        """Nothing is sent: each record is linked to its user, or fails with the reason."""
        outcomes = []
        for plan in plans:
            target = plan.target_id if isinstance(plan, CommandPlan) else None
            if plan.problems or target is None:
                outcomes.append(failed(plan.action, "; ".join(plan.problems)))
            else:
                outcomes.append(applied(plan.action, target))
        return outcomes

    def preview(self, actions: Sequence[Action]) -> dict[str, str]:
        """For a dry run: what each record would be linked to (reads the portal's users; writes nothing)."""
        users, out = self.prepare(actions, NO_DAY), {}
        for action in actions:
            user_id, how = self._match(action.record.key, action.record.fields, users)
            out[action.record.key] = f"Bitrix24 user {user_id} ({how})" if user_id else f"no link: {how}"
        return out

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        return {}  # nothing is ever created, so there is nothing to recover
