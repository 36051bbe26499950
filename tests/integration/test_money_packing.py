"""The money flow's writes fill their batches (issue 13 goal 1): an order's units differ in size (a deal update is
one command, a payment's add, keyed update and pay three that must share a batch), and the executor packs them
first fit, so a batch a payment left at 48 or 49 commands takes the next order's deal update instead of going short.
What a first fit may not reorder is shown in tests/unit/test_executor.py; the flow's results are those of
test_money_payments.py."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_money_payments import backfill, connect
from tests.integration.test_money_reads import requests_of

pytestmark = pytest.mark.integration
WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=120, seed=5, rate_limit="off")) as sandbox:
        yield sandbox


def test_a_fresh_backfill_sends_its_writes_in_full_batches(box: Any, tmp_path: Path) -> None:
    with connect(box, tmp_path / "ledger.sqlite3") as conn:
        backfill(conn, ("counterparties", "orders"))
        before = len(box.portal.calls)
        backfill(conn, ("money",))
        sent = requests_of(box, before)
    writes = [r for r in sent if any(m.endswith(WRITES) for m in r)]
    commands = sum(len(r) for r in writes)
    assert commands > 100 and "crm.item.payment.add" in writes[0]  # units of 1 and 3 commands, 3+ batches
    assert all(len(r) == 50 for r in writes[:-1]), [len(r) for r in writes]
    assert len(writes) == math.ceil(commands / 50)
