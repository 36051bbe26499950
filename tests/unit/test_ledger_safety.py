"""The ledger under threads and under a hostile file system: concurrent flows, a damaged file, no rights, a full disk."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.errors import ConfigError, LedgerError
from connector.ledger import Ledger, ledger_problem
from connector.records import Action, Mapped, Outcome


def test_flows_in_threads_committing_pages_never_share_a_transaction(tmp_path: Path) -> None:
    """The daemon runs flows in scheduler threads over one Ledger: with one shared connection, the second thread's
    BEGIN failed with "cannot start a transaction within a transaction" (or committed the other flow's half page)."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    errors: list[str] = []
    start = threading.Barrier(4)

    def flow(name: str) -> None:
        try:
            start.wait()
            for page in range(40):
                keys = [f"{page}-{i}" for i in range(20)]
                ledger.begin(name, None, [Action("create", Mapped(k, "v1", {"T": k})) for k in keys])
                assert len(ledger.pending(name)) == 20  # this thread sees its own intents, no other flow's
                ledger.commit(
                    name,
                    None,
                    [Outcome(k, "create", "applied", f"t{k}", "h", "v1") for k in keys],
                    (f"{name}:sync", page),
                )
        except Exception as exc:  # collected: a thread's failure must fail the test, not vanish
            errors.append(repr(exc))

    threads = [threading.Thread(target=flow, args=(f"flow{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(4):
        assert ledger.link_count(f"flow{i}") == 800
        assert ledger.pending(f"flow{i}") == []
        assert ledger.cursor(f"flow{i}:sync") == 39
    ledger.close()


def test_a_transaction_in_one_thread_is_invisible_to_another_until_committed(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    inside, seen = threading.Event(), threading.Event()
    observed: list[int] = []

    def reader() -> None:
        inside.wait(5)
        observed.append(ledger.link_count("orders"))
        seen.set()

    thread = threading.Thread(target=reader)
    thread.start()
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO links (flow, source_key, target_id, updated_at) VALUES ('orders', 'k', 't', 'now')"
        )
        inside.set()
        seen.wait(5)
    thread.join()
    assert observed == [0]
    assert ledger.link_count("orders") == 1
    ledger.close()


def test_a_ledger_that_is_not_sqlite_names_the_file_and_says_restore_or_backfill(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not a database, it is a text file that someone copied over the ledger\n" * 100)
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    text = str(info.value)
    assert str(path) in text and "backup" in text and "b24-1c backfill" in text and "never duplicates" in text


def test_a_corrupt_page_is_reported_as_a_damaged_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    Ledger(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after the 100-byte header
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerError) as info:
        Ledger(path)
    assert "damaged" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize(
    ("message", "errorname", "says"),
    [
        ("database or disk is full", "SQLITE_FULL", "free space"),
        ("attempt to write a readonly database", "SQLITE_READONLY", "fix the permissions"),
        ("unable to open database file", "SQLITE_CANTOPEN", "fix the permissions"),
        ("file is not a database", "SQLITE_NOTADB", "restore the file from a backup"),
        ("database disk image is malformed", "SQLITE_CORRUPT", "restore the file from a backup"),
        ("disk I/O error", "SQLITE_IOERR_WRITE", "check the disk"),
    ],
)
def test_each_storage_failure_says_what_to_do(
    tmp_path: Path, message: str, errorname: str, says: str
) -> None:
    exc = sqlite3.OperationalError(message)
    problem = ledger_problem(tmp_path / "l.db", exc)
    assert (
        isinstance(problem, LedgerError) and says in str(problem) and str(tmp_path / "l.db") in str(problem)
    )
    exc.sqlite_errorname = errorname  # type: ignore[attr-defined]
    exc.args = ("some other wording",)
    again = ledger_problem(tmp_path / "l.db", exc)
    assert isinstance(again, LedgerError) and says in str(again)


def test_busy_and_programming_errors_are_not_storage_problems(tmp_path: Path) -> None:
    assert ledger_problem(tmp_path / "l.db", sqlite3.OperationalError("database is locked")) is None
    assert ledger_problem(tmp_path / "l.db", sqlite3.IntegrityError("UNIQUE constraint failed")) is None


class _FullDisk:
    """A connection whose COMMIT fails like SQLite on a full disk."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.real = conn

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self.real.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_full_disk_on_commit_rolls_the_page_back_and_says_free_space(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    real = ledger.conn
    ledger._local.conn = _FullDisk(real)
    with pytest.raises(LedgerError) as info:
        ledger.commit("orders", None, [Outcome("k", "create", "applied", "1", "h", "v")], ("orders:c", 1))
    assert "free space" in str(info.value) and str(tmp_path / "ledger.sqlite3") in str(info.value)
    assert not real.in_transaction
    ledger._local.conn = real
    assert ledger.links("orders", ["k"]) == {} and ledger.cursor("orders:c") is None  # nothing half-written
    ledger.commit("orders", None, [Outcome("k", "create", "applied", "1", "h", "v")])
    assert "k" in ledger.links("orders", ["k"])


def test_a_ledger_path_that_is_a_folder_is_a_config_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Ledger(tmp_path)
    assert "ledger.path" in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError):
        Ledger(tmp_path / "file" / "ledger.sqlite3")
    # a folder that cannot be made at all (/proc/nope on Linux)
    cannot = FileNotFoundError(2, "No such file or directory", "/proc/nope")
    assert isinstance(ledger_problem(Path("/proc/nope/ledger.sqlite3"), cannot), ConfigError)


# -- real file systems: a small tmpfs for a full disk, a read-only mount (root ignores file modes) -------------------


@contextlib.contextmanager
def _mounted(where: Path, options: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with _mounted(tmp_path / "disk", "size=256k") as where:
        yield where


def test_a_really_full_disk_stops_with_a_ledger_error(small_disk: Path) -> None:
    ledger = Ledger(small_disk / "ledger.sqlite3")
    filler = small_disk / "filler"
    with filler.open("wb") as fh, contextlib.suppress(OSError):  # the rest of the disk: other programs' files
        fh.write(b"\0" * (1 << 20))
    with pytest.raises(LedgerError) as info:
        for page in range(200):
            outcomes = [Outcome(f"{page}-{i}", "create", "applied", "x" * 200, "h", "v") for i in range(50)]
            ledger.commit("orders", None, outcomes)
    assert "is full" in str(info.value) and "free space" in str(info.value)
    filler.unlink()
    ledger.commit("orders", None, [Outcome("after", "create", "applied", "1", "h", "v")])  # works once freed
    ledger.close()


def test_a_read_only_ledger_says_fix_permissions(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        Ledger(folder / "ledger.sqlite3").close()
        (folder / "ledger.sqlite3").chmod(0o444)
        folder.chmod(0o555)
        try:
            with pytest.raises(LedgerError) as info:
                Ledger(folder / "ledger.sqlite3").commit("o", None, [Outcome("k", "create", "applied", "1")])
        finally:
            folder.chmod(0o755)
        assert "permissions" in str(info.value)
        return
    with _mounted(tmp_path / "ro", "size=1m") as where:
        Ledger(where / "ledger.sqlite3").close()
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        with pytest.raises(LedgerError) as info:
            Ledger(where / "ledger.sqlite3")
        assert str(where / "ledger.sqlite3") in str(info.value) and "fix the permissions" in str(info.value)
        with pytest.raises(LedgerError) as info:
            Ledger(where / "new" / "ledger.sqlite3")  # cannot even create its folder
        assert "fix the permissions" in str(info.value)
