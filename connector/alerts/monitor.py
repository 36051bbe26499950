"""Alert conditions, evaluated by the daemon after each cycle of a flow.

- `failed:<flow>`: the flow's open failed records reach `alerts.failed_threshold`;
- `drift:<flow>`: the last `b24-1c reconcile` (cursor `<flow>:reconcile`) left money drift unrepaired;
- `auth`: Bitrix24 rejected the credentials; `payment_required`: the portal's PAYMENT_REQUIRED (neither reaches
  the portal, so they go to the webhook and e-mail; both clear after a successful cycle);
- `budget`: a method's operating-time budget ran out (the portal answered OPERATION_TIME_LIMIT) in this cycle;
- `silent:<flow>`: `alerts.silent_cycles` cycles of the flow in a row without a success;
- `token`: the OAuth refresh token (180 days) was issued more than 180 - `alerts.token_warn_days` days ago.

The open alerts are kept in the ledger (cursor `alerts:state`, one commit per change), so a restart does not send
them again."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from connector.alerts.book import STATE_CURSOR, Alert, Message, step
from connector.alerts.channels import Channel, channels_for, deliver
from connector.config import AlertsConfig, Config
from connector.errors import AuthError, OperationTimeLimited
from connector.logs import get_logger
from connector.redact import redact

log = get_logger(__name__)

REFRESH_TOKEN_DAYS = 180


class Alerts:
    """One per daemon. `ledger` has cursor/commit (connector.ledger.Ledger); `traffic` returns the clients'
    counters (Connector.traffic); `call` sends a Bitrix24 method (None: no portal channel)."""

    def __init__(
        self,
        config: Config,
        ledger: Any,
        clock: Any,
        traffic: Any = None,
        call: Any = None,
        channels: list[Channel] | None = None,
    ) -> None:
        self.config = config
        self.settings: AlertsConfig = config.alerts
        self.ledger = ledger
        self.clock = clock
        self.traffic = traffic
        self.channels = channels_for(self.settings, call) if channels is None else channels
        self.quiet: dict[str, int] = {}
        self._time_limited: int | None = None
        self._lock = threading.Lock()

    # -- conditions -----------------------------------------------------------------------------------------------

    def conditions(self, flow: str, error: BaseException | str | None) -> tuple[list[Alert], set[str]]:
        """What holds now after a cycle of `flow`, and which keys this cycle can judge."""
        s = self.settings
        active: list[Alert] = []
        scope = {f"failed:{flow}", f"drift:{flow}", f"silent:{flow}", "budget", "token"}
        text = redact(str(error)) if error is not None else ""
        if error is None:
            scope |= {"auth", "payment_required"}  # a successful cycle reached the portal
        elif "PAYMENT_REQUIRED" in text or getattr(error, "code", None) == "PAYMENT_REQUIRED":
            active.append(
                Alert("payment_required", f"the portal answers PAYMENT_REQUIRED ({flow}): {text}", False)
            )
        elif isinstance(error, AuthError):
            active.append(Alert("auth", f"Bitrix24 rejected the credentials ({flow}): {text}", False))
        failed = len(self.ledger.dead_letters(flow))
        if failed >= s.failed_threshold:
            active.append(
                Alert(f"failed:{flow}", f"{failed} failed records in {flow} (threshold {s.failed_threshold})")
            )
        drift = _drift_left(self.ledger.cursor(f"{flow}:reconcile"))
        if drift:
            active.append(Alert(f"drift:{flow}", f"reconcile found money drift in {flow}: {drift}"))
        if self._budget_ran_out(error):
            active.append(Alert("budget", "a Bitrix24 method's operating-time budget is exhausted (429)"))
        self.quiet[flow] = 0 if error is None else self.quiet.get(flow, 0) + 1
        if self.quiet[flow] >= s.silent_cycles:
            active.append(
                Alert(
                    f"silent:{flow}", f"{flow}: {self.quiet[flow]} cycles in a row without a success: {text}"
                )
            )
        token = self._token_age()
        if token is not None and token >= timedelta(days=REFRESH_TOKEN_DAYS - s.token_warn_days):
            left = max(REFRESH_TOKEN_DAYS - token.days, 0)
            active.append(
                Alert("token", f"the OAuth refresh token expires in about {left} days: let the connector run")
            )
        return active, scope

    def _budget_ran_out(self, error: BaseException | str | None) -> bool:
        if isinstance(error, OperationTimeLimited):
            return True
        if self.traffic is None:
            return False
        now = int(sum((self.traffic().get("time_limited") or {}).values()))
        before, self._time_limited = self._time_limited, now
        return before is not None and now > before

    def _token_age(self) -> timedelta | None:
        oauth = self.config.bitrix24.oauth
        if oauth is None:
            return None
        try:
            data = json.loads(Path(self.config.resolve(oauth.token_store)).read_text(encoding="utf-8"))
            issued = datetime.fromisoformat(str(data["refreshed_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        age: timedelta = self.clock.now() - issued
        return age

    # -- the hook -------------------------------------------------------------------------------------------------

    def after_cycle(self, flow: str, error: BaseException | str | None) -> list[Message]:
        """Evaluate, send what opened or cleared, keep the state; the messages sent."""
        with self._lock:
            active, scope = self.conditions(flow, error)
            messages, state = step(active, self.ledger.cursor(STATE_CURSOR), self.clock.now(), scope)
            if not messages:
                return []
            installation = self.config.installation_id
            for m in messages:
                (log.warning if m.kind == "alert" else log.info)(m.kind, alert=m.key, text=m.text)
                deliver(self.channels, m, installation)
            self.ledger.commit("alerts", None, [], cursor=(STATE_CURSOR, state))
            return messages

    def emergency(self, key: str, text: str) -> None:
        """Send an alert without the ledger (it cannot be used): no state is kept, so it is sent each time."""
        text = redact(text)
        message = Message("alert", key, text, self.clock.now().isoformat(timespec="seconds"))
        log.error("alert", alert=key, text=text)
        deliver(self.channels, message, self.config.installation_id)


def _drift_left(last: Any) -> str:
    """The drift the last reconcile left, in words; "" when none."""
    if not isinstance(last, dict):
        return ""
    drifted = int(last.get("drifted") or 0)
    left = drifted - int(last.get("repaired") or 0)
    if left <= 0:
        return ""
    reasons = ", ".join(f"{n} {r}" for r, n in (last.get("reasons") or {}).items())
    return f"{left} of {drifted} orders left ({reasons}; checked {last.get('at')}; b24-1c reconcile --repair)"
