"""Who is calling: Basic auth decoded as UTF-8, account lockout, per-user session (licence) limits, rights."""

from __future__ import annotations

import base64
import binascii
import threading
from collections import Counter
from dataclasses import dataclass

from b24_1c_sandbox.http import Response
from b24_1c_sandbox.onec.errors import ODataError
from b24_1c_sandbox.onec.infobase import Infobase

HTML_AUTH_PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>1С:Предприятие</title></head><body>'
    "<h1>Ошибка авторизации</h1><p>Не удалось выполнить аутентификацию пользователя</p></body></html>"
)


@dataclass
class AuthSettings:
    """Authentication knobs: HTML pages instead of 401 (misconfigured publication), lockout, session limit."""

    html_errors: bool = False
    lockout_after: int | None = None  # bad passwords in a row before the account is locked
    max_sessions_per_user: int | None = None  # concurrent requests a user may hold (licences / pool)


class Gate:
    """Authenticates requests and counts sessions; thread-safe."""

    def __init__(self, ib: Infobase, settings: AuthSettings | None = None) -> None:
        self.ib = ib
        self.settings = settings or AuthSettings()
        self.failures: Counter[str] = Counter()
        self.locked: set[str] = set()
        self.active: Counter[str] = Counter()
        self._lock = threading.Lock()

    @staticmethod
    def credentials(header: str) -> tuple[str, str] | None:
        """(user, password) from a Basic header, decoded as UTF-8 like 1C does."""
        if not header.lower().startswith("basic "):
            return None
        try:
            user, sep, password = (
                base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return (user, password) if sep else None

    def denied(self, text: str, wants_json: bool = False) -> Response:
        """The answer to a failed authentication (HTML 200 on a misconfigured publication)."""
        if self.settings.html_errors:
            return Response.text(HTML_AUTH_PAGE, 200, "text/html; charset=utf-8")
        headers = {"WWW-Authenticate": 'Basic realm="1C:Enterprise"'}
        if wants_json:  # [I] the body form of a 401 is not documented; JSON callers get an odata.error
            return Response.json(ODataError(401, "", text).body(), 401, headers)
        return Response(401, text.encode(), {**headers, "Content-Type": "text/plain; charset=utf-8"})

    def authenticate(self, header: str, wants_json: bool = False) -> str | Response:
        """The user name, or the response that refuses the request."""
        creds = self.credentials(header)
        if creds is None:
            return self.denied("Не удалось выполнить аутентификацию", wants_json)
        user, password = creds
        with self._lock:
            if user in self.locked:
                return self.denied(f"Пользователь ИБ заблокирован: {user}", wants_json)
            if user in self.ib.users and self.ib.users[user] == password:
                self.failures.pop(user, None)
                return user
            self.failures[user] += 1
            limit = self.settings.lockout_after
            if limit is not None and user in self.ib.users and self.failures[user] >= limit:
                self.locked.add(user)
        return self.denied(
            "Не удалось выполнить аутентификацию: неверное имя пользователя или пароль", wants_json
        )

    def unlock(self, user: str) -> None:
        """What an administrator does after a lockout."""
        with self._lock:
            self.locked.discard(user)
            self.failures.pop(user, None)

    def acquire(self, user: str) -> Response | None:
        """Take a session slot for the user; a refusal when the licence/pool limit is reached."""
        with self._lock:
            limit = self.settings.max_sessions_per_user
            if limit is not None and self.active[user] >= limit:
                return Response.text(
                    "Превышено максимальное количество одновременных сеансов пользователя "
                    f'"{user}" (нет свободной лицензии)',
                    503,
                )
            self.active[user] += 1
        return None

    def release(self, user: str) -> None:
        with self._lock:
            self.active[user] -= 1

    def check(self, user: str, entity: str, write: bool) -> None:
        """401 code "20" when the user's role has no right on this set."""
        grant = self.ib.grants.get(user)
        if grant is None:
            return
        allowed = grant.write if write else grant.read
        if allowed is not None and entity not in allowed:
            verb = "изменения" if write else "чтения"
            raise ODataError(401, "20", f"Нарушение прав доступа: нет права {verb} объекта {entity}")

    def row_filter(self, user: str, entity: str) -> str | None:
        """The row-level restriction of this user on a set, as a $filter."""
        grant = self.ib.grants.get(user)
        return grant.rls.get(entity) if grant else None
