"""systemd notifications (Type=notify): READY, WATCHDOG, STOPPING and STATUS through sdnotify; silent elsewhere."""

from __future__ import annotations

import os
from collections.abc import Mapping

import sdnotify


class Notifier:
    """Sends sd_notify messages when systemd asked for them (NOTIFY_SOCKET is set), and says how often the
    watchdog wants a ping (half of WATCHDOG_USEC, when the watchdog is meant for this process)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.enabled else None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        mine = not pid or pid == str(os.getpid())
        self.watchdog_seconds = int(usec) / 2_000_000 if usec and usec.isdigit() and mine else None

    def send(self, *lines: str) -> None:
        if self._notifier is not None:
            self._notifier.notify("\n".join(lines))

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str) -> None:
        self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        sock = getattr(self._notifier, "socket", None)
        if sock is not None:
            sock.close()
        self._notifier = None
