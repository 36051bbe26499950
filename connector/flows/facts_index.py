"""The money documents of a whole base, grouped by what they point at, in a temporary SQLite file (facts.py's
whole read): memory stays the same whatever the size of the base."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


def dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except ArithmeticError:
        return Decimal(0)


@dataclass
class Payment:
    """One row of a posted receipt (or refund, negative) that settles the order."""

    key: str  # <document Ref_Key>:<LineNumber>
    document: str
    number: str
    date: str  # 1C local datetime
    amount: Decimal
    kind: str  # bank | cash
    refund: bool


class DocumentIndex:
    """Every posted money document of the base, grouped by what it points at (read once in a run), kept in a
    private temporary SQLite file rather than in memory: at 100,000 orders the groups are a few hundred thousand
    rows, and a run must hold the same memory on its last page as on its first. Deleted when the reader is.

    `payments.get(key, [])`, `shipped.get(ref, (0, 0))` and `ref in invoiced` read it as the dicts they were."""

    def __init__(self) -> None:
        # "" is SQLite's private temporary database: pages beyond its small cache go to a file deleted on close.
        # A run reads the next page in a thread while it writes this one (engine/readahead.py): one lock.
        self._db = sqlite3.connect("", check_same_thread=False)
        self._lock = threading.Lock()
        self._db.executescript(
            """
            CREATE TABLE payment (key TEXT, id TEXT, document TEXT, number TEXT, date TEXT, amount TEXT,
                                  kind TEXT, refund INTEGER);
            CREATE TABLE shipped (ref TEXT, amount TEXT, quantity TEXT);
            CREATE TABLE invoiced (ref TEXT PRIMARY KEY) WITHOUT ROWID;
            """
        )
        self.payments = _Payments(self)
        self.shipped = _Shipped(self)
        self.invoiced = _Invoiced(self)

    def add_payments(self, rows: Iterable[tuple[str, Payment]]) -> None:
        self._write(
            "INSERT INTO payment VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((k, p.key, p.document, p.number, p.date, str(p.amount), p.kind, int(p.refund)) for k, p in rows),
        )

    def add_shipped(self, doc: dict[str, Any]) -> None:
        rows = doc.get("Товары") or []
        self._write(
            "INSERT INTO shipped VALUES (?, ?, ?)",
            (
                (str(r.get("ЗаказКлиента")), str(dec(r.get("Сумма"))), str(dec(r.get("Количество"))))
                for r in rows
            ),
        )

    def add_invoiced(self, refs: Iterable[str]) -> None:
        self._write("INSERT OR IGNORE INTO invoiced VALUES (?)", ((r,) for r in refs))

    def indexed(self) -> DocumentIndex:
        """Done writing: index the lookups (once, faster than keeping the index up to date row by row)."""
        with self._lock:
            self._db.execute("CREATE INDEX payment_key ON payment (key)")
            self._db.execute("CREATE INDEX shipped_ref ON shipped (ref)")
            self._db.commit()
        return self

    def _write(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._lock:
            self._db.executemany(sql, rows)

    def rows(self, sql: str, arg: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, (arg,)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __del__(self) -> None:
        with suppress(Exception):
            self._db.close()


class _Payments:
    def __init__(self, index: DocumentIndex) -> None:
        self._index = index

    def get(self, key: str, default: list[Payment]) -> list[Payment]:
        rows = self._index.rows(
            "SELECT id, document, number, date, amount, kind, refund FROM payment WHERE key = ? ORDER BY rowid",
            key,
        )
        return [Payment(i, d, n, t, Decimal(a), k, bool(r)) for i, d, n, t, a, k, r in rows] or default


class _Shipped:
    def __init__(self, index: DocumentIndex) -> None:
        self._index = index

    def get(self, ref: str, default: tuple[Decimal, Decimal]) -> tuple[Decimal, Decimal]:
        rows = self._index.rows("SELECT amount, quantity FROM shipped WHERE ref = ? ORDER BY rowid", ref)
        if not rows:
            return default
        return (
            sum((Decimal(a) for a, _ in rows), Decimal(0)),
            sum((Decimal(q) for _, q in rows), Decimal(0)),
        )


class _Invoiced:
    def __init__(self, index: DocumentIndex) -> None:
        self._index = index

    def __contains__(self, ref: object) -> bool:
        return bool(self._index.rows("SELECT 1 FROM invoiced WHERE ref = ?", str(ref)))
