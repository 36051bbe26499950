"""The single-instance lock meets every spelling of the same ledger file: symlinks, symlinked folders, relative paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.app import LedgerLock
from connector.errors import ConfigError, InstanceLockedError, LedgerError


@pytest.fixture
def held(tmp_path: Path) -> Iterator[LedgerLock]:
    real = tmp_path / "var" / "ledger.sqlite3"
    real.parent.mkdir()
    real.touch()
    lock = LedgerLock(real)
    lock.acquire()
    yield lock
    lock.release()


def test_a_symlink_to_the_ledger_meets_the_same_lock(tmp_path: Path, held: LedgerLock) -> None:
    link = tmp_path / "link.sqlite3"
    link.symlink_to(held.ledger_path)
    with pytest.raises(InstanceLockedError) as info:
        LedgerLock(link).acquire()
    assert str(held.ledger_path) in str(info.value) and "stop it first" in str(info.value)


def test_a_symlinked_folder_meets_the_same_lock(tmp_path: Path, held: LedgerLock) -> None:
    (tmp_path / "alias").symlink_to(held.ledger_path.parent, target_is_directory=True)
    with pytest.raises(InstanceLockedError):
        LedgerLock(tmp_path / "alias" / "ledger.sqlite3").acquire()


def test_a_relative_path_meets_the_lock_of_the_absolute_one(
    tmp_path: Path, held: LedgerLock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InstanceLockedError):
        LedgerLock(Path("var/ledger.sqlite3")).acquire()
    with pytest.raises(InstanceLockedError):
        LedgerLock(Path("var/../var/./ledger.sqlite3")).acquire()


def test_the_lock_is_free_again_after_release(tmp_path: Path, held: LedgerLock) -> None:
    held.release()
    link = tmp_path / "link.sqlite3"
    link.symlink_to(held.ledger_path)
    again = LedgerLock(link)
    again.acquire()
    again.release()
    held.acquire()


def test_a_lock_that_cannot_be_created_is_a_ledger_problem(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError) as info:  # a path that cannot name a file is a config problem (exit 2)
        LedgerLock(tmp_path / "file" / "ledger.sqlite3").acquire()
    assert "ledger.path" in str(info.value)


def test_a_lock_in_a_folder_without_rights_is_a_ledger_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / "ledger.sqlite3.lock"))

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(LedgerError) as info:
        LedgerLock(tmp_path / "ledger.sqlite3").acquire()
    assert "fix the permissions" in str(info.value) and str(tmp_path / "ledger.sqlite3") in str(info.value)
