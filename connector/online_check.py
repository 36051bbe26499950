"""Kept for `b24-1c check --online` callers: the names check now lives in connector.verify.names."""

from __future__ import annotations

from connector.verify.names import check_online

__all__ = ["check_online"]
