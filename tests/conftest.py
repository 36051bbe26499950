"""Shared fixtures: a running sandbox, a config pointing at it, a connector on a temporary ledger.

Imports of the sandbox happen inside the fixtures, so pure unit tests never depend on the emulators.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Suites whose subject is not a date: crash and lost-reply proofs, the bad-input proof, `--help` texts, the online
# check's names, the ledger's file handling, the 1C emulator's `$metadata` size. `.ci/run` runs the fast suite twice,
# the second time under a time zone on another date than Moscow's, and leaves these out of that second pass (their
# date paths are the same flows the rest of the suite runs there) to keep CI under its 15 minutes. `make test` and
# `make test-all` run them as usual; `pytest -m tz_free` runs only them.
TZ_FREE = (
    "tests/integration/test_proof_phases.py",
    "tests/integration/test_proof_crash.py",
    "tests/integration/test_proof_bad_input.py",
    "tests/integration/test_proof_faults.py",
    "tests/integration/test_check_online.py",
    "tests/integration/test_cli_ledger.py",
    "tests/integration/test_cli.py::test_help_explains_every_command",
    "tests/integration/test_cli.py::test_backfill_killed_with_sigkill_resumes_without_duplicates",
    "tests/integration/test_cli.py::test_check_passes_on_the_example_and_fails_clearly_on_a_broken_copy",
    "tests/sandbox/onec/test_onecemu_fullmeta.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(TZ_FREE):
            item.add_marker(pytest.mark.tz_free)


if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

    from connector.app import Connector
    from connector.config import Config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config.example.yaml"
SINCE = datetime(2017, 1, 1)
# What config.example.yaml needs to load (it has no fallbacks): addresses on 127.0.0.1 where nothing listens, for
# commands that never reach the network (check, status, failed, a bad ledger).
OFFLINE_ENV = {
    "B24_WEBHOOK_URL": "http://127.0.0.1:9/rest/1/offlinetestcode/",
    "ONEC_ODATA_URL": "http://127.0.0.1:9/ut/odata/standard.odata/",
    "ONEC_USER": "Администратор",
    "ONEC_PASSWORD": "offline-test-password",
}


def sandbox_installation() -> str:
    """The installation id a config pointed at any sandbox derives (host and base name; the port is left out)."""
    from connector.config import derived_installation_id

    return derived_installation_id("http://127.0.0.1/ut/odata/standard.odata/")


def make_config(box: Sandbox, ledger: Path, **extra: str) -> Config:
    """config.example.yaml as shipped, pointed at a sandbox through the environment."""
    from connector.config import load_config

    env = {**box.env(), "B24_1C_LEDGER": str(ledger), **extra}
    return load_config(EXAMPLE, env=env)


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """A small sandbox (80 orders) with limits off: fast, and still the real HTTP wire formats."""
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=80, seed=11, rate_limit="off")) as box:
        yield box


@pytest.fixture
def connector(sandbox: Sandbox, tmp_path: Path) -> Iterator[Connector]:
    from connector.app import Connector

    with Connector(make_config(sandbox, tmp_path / "ledger.sqlite3")) as conn:
        conn.setup()
        # Orders point at counterparties (COMPANY_ID): that flow runs first, as config.flows orders it.
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        yield conn


@pytest.fixture
def allow_contract_violations() -> None:
    """Requested by a test that sends calls outside the Bitrix24 contract on purpose."""


@pytest.fixture(autouse=True)
def _bitrix24_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which a Bitrix24 emulator received a call outside the contract
    (connector/contracts/bitrix24.yaml): a method, parameter or field the vendor's docs do not give, or a value of
    the wrong type. The emulator's own tests (tests/sandbox/) probe it with such calls on purpose."""
    import sys

    exempt = "allow_contract_violations" in request.fixturenames or "sandbox" in request.path.parts
    module = sys.modules.get("b24_1c_sandbox.bitrix24.contract")
    mark = module.mark() if module is not None else 0
    yield
    module = sys.modules.get("b24_1c_sandbox.bitrix24.contract")
    if exempt or module is None:
        return
    found = sorted({str(v) for v in module.violations_since(mark)})
    if found:
        pytest.fail("calls outside the Bitrix24 contract:\n  " + "\n  ".join(found), pytrace=False)


@pytest.fixture(autouse=True)
def _onec_contract(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails a test during which a 1C emulator served a request outside the contract
    (connector/contracts/onec.yaml): an entity set, tabular section, function or property ($select, $filter,
    $orderby, $expand, body) its profile does not have. tests/sandbox/ probes the emulator with such requests."""
    import sys

    exempt = "allow_contract_violations" in request.fixturenames or "sandbox" in request.path.parts
    module = sys.modules.get("b24_1c_sandbox.onec.contract")
    mark = module.mark() if module is not None else 0
    yield
    module = sys.modules.get("b24_1c_sandbox.onec.contract")
    if exempt or module is None:
        return
    found = sorted({str(v) for v in module.violations_since(mark)})
    if found:
        pytest.fail("requests outside the 1C contract:\n  " + "\n  ".join(found), pytrace=False)
