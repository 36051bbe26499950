"""The product's wheel ships no emulator code; without the sandbox package, `demo` and `sandbox` say how to get it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import OFFLINE_ENV, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return next(out.glob("b24_1c-*.whl"))


def test_product_wheel_holds_no_emulator_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("connector/") for n in names)
    assert "connector/contracts/bitrix24.yaml" in names  # the Bitrix24 contract ships as package data
    assert "connector/contracts/onec.yaml" in names  # and the 1C one
    assert not [n for n in names if "sandbox" in n.split("/")[0] or n.startswith("connector/sandbox")]
    assert not [n for n in names if n.endswith(".py") and "b24_1c_sandbox" in n]


def test_product_never_imports_the_sandbox_statically() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "connector").rglob("*.py")
        if "import b24_1c_sandbox" in p.read_text(encoding="utf-8")
        or "from b24_1c_sandbox" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


@pytest.mark.parametrize("command", [["demo"], ["sandbox", "--orders", "5"]])
def test_commands_name_the_missing_sandbox_package(command: list[str], tmp_path: Path) -> None:
    # A site hook that hides the installed sandbox, as on a host where only the product was pip-installed.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'b24_1c_sandbox':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Hide())\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "connector", *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    assert "b24-1c-sandbox" in done.stderr and "pip install ./sandbox" in done.stderr


def test_the_wheel_ships_the_default_config_mappings_and_schedules(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"connector/defaults/config.example.yaml", "connector/defaults/schedules/default.yaml"}
    expected |= {f"connector/defaults/mappings/{p.name}" for p in (ROOT / "mappings").glob("*.yaml")}
    assert expected <= names, sorted(expected - names)


def test_init_from_the_installed_wheel_alone_writes_a_config_that_checks(wheel: Path, tmp_path: Path) -> None:
    """The wheel unpacked where no source tree is (as pip installs it): init, then check, pass."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "work"
    work.mkdir()
    env = {**OFFLINE_ENV, "PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    where = subprocess.run(
        [sys.executable, "-c", "import connector; print(connector.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    # The wheel's code runs, not the checkout's.
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector",
            "init",
            str(work / "etc"),
            "--ledger",
            str(work / "ledger.sqlite3"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {work / 'etc' / 'mappings' / 'orders.yaml'}" in done.stdout
    checked = subprocess.run(
        [sys.executable, "-m", "connector", "check", "--config", str(work / "etc" / "config.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    assert "ok:" in checked.stdout and str(work / "etc" / "mappings") not in checked.stderr
