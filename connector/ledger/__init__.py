"""The SQLite ledger of one installation: `Ledger` and the values it hands out."""

from connector.ledger.rows import Child, DeadLetter, HistoryEntry, Intent, Link, State
from connector.ledger.schema import MIGRATIONS, ledger_problem
from connector.ledger.store import BUSY_TIMEOUT, Ledger

__all__ = [
    "BUSY_TIMEOUT",
    "MIGRATIONS",
    "Child",
    "DeadLetter",
    "HistoryEntry",
    "Intent",
    "Ledger",
    "Link",
    "State",
    "ledger_problem",
]
