"""Alerts (issue 14 point 5): conditions after each daemon cycle, deduplicated with one "resolved" message, sent
to Bitrix24 admins and/or a webhook URL and e-mail."""

from connector.alerts.book import STATE_CURSOR, Alert, Message, step
from connector.alerts.monitor import Alerts

__all__ = ["STATE_CURSOR", "Alert", "Alerts", "Message", "step"]
