"""Proof (b) of issue 6: with 10% mixed faults on both emulators (slow replies, 500s, nginx 502/504 pages, reset
connections, writes that commit and then lose their reply, overload) a backfill ends exactly like a clean run, with
no duplicate. A run may stop on a fault that outlasts its retries; it is then rerun, a bounded number of times.

Backoff waits go through a fast-forward clock (time jumps instead of sleeping): the retry logic is the real one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.proof_state import (
    FLOW,
    NOW,
    SINCE,
    FastForwardClock,
    clean_state,
    connector_for,
    deal_state,
    eligible,
    ledger_problems,
    origins,
    state_differences,
    write_setup,
)

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import SandboxOptions

pytestmark = pytest.mark.integration
B24_KINDS = ("latency", "error500", "html502", "html504", "reset", "lost_reply", "overload")
ONEC_KINDS = ("latency", "error500", "html502", "html504", "reset", "lost_reply")
SHARE = 0.10
MAX_PASSES = 8


def injector(kinds: tuple[str, ...], seed: int) -> object:
    """Each kind equally likely, so that a request (a write, for Bitrix24) meets some fault with probability 10%."""
    from b24_1c_sandbox.faults import FaultInjector

    rate = 1 - (1 - SHARE) ** (1 / len(kinds))
    return FaultInjector(dict.fromkeys(kinds, rate), seed=seed, latency=0.01)


@dataclass
class FaultLog:
    orders: int = 0
    passes: int = 0
    b24_requests: int = 0
    onec_requests: int = 0
    b24_faults: dict[str, int] = field(default_factory=dict)
    onec_faults: dict[str, int] = field(default_factory=dict)
    stops: list[str] = field(default_factory=list)
    backoff_seconds: float = 0.0
    seconds: float = 0.0


def backfill_under_faults(
    options: SandboxOptions, tmp_path: Path, page_size: int, batch: int, seed: int, force_each: bool = False
) -> FaultLog:
    """Run the backfill pass after pass under faults until it completes; assert it ends like a clean run.

    `force_each`: also make the first write batches meet each Bitrix24 fault kind once, and the first 1C reads of
    orders and products two kinds each (small runs, where chance alone may miss a kind)."""
    from b24_1c_sandbox.runner import Sandbox

    from connector.errors import ConnectorError

    want = clean_state(options, tmp_path / "clean")
    b24 = injector(B24_KINDS, seed)
    onec = injector(ONEC_KINDS, seed + 1)
    if force_each:
        for kind in B24_KINDS:
            b24.force(kind, "batch")  # type: ignore[attr-defined]
        for kind, entity in (
            ("error500", "Document_ЗаказКлиента"),
            ("html502", "Document_ЗаказКлиента"),
            ("html504", "Catalog_Номенклатура"),
            ("reset", "Catalog_Номенклатура"),
        ):
            onec.force(kind, entity)  # type: ignore[attr-defined]
    result = FaultLog()
    started = time.monotonic()
    with Sandbox(options) as box:
        setup = write_setup(tmp_path / "faulty", box, page_size=page_size, batch=batch)
        clock = FastForwardClock()
        with connector_for(setup, clock) as conn:
            conn.setup()  # the portal's user fields exist before the faults start; the proof is about the data
        box.portal.faults = b24  # type: ignore[assignment]
        box.onec_app.faults = onec  # type: ignore[assignment]
        calls_before, onec_before = len(box.portal.calls), box.onec_app.requests
        done = False
        while not done:
            assert result.passes < MAX_PASSES, f"not done after {MAX_PASSES} passes; stops: {result.stops}"
            result.passes += 1
            with connector_for(setup, clock) as conn:  # a fresh process each pass, as a rerun would be
                try:
                    report = conn.runner(FLOW).backfill(SINCE, None)
                except ConnectorError as exc:
                    result.stops.append(f"{type(exc).__name__}: {exc}")
                    continue
            assert report.failed == 0, report.errors
            done = not report.stopped
        box.portal.faults = None
        box.onec_app.faults = None
        result.orders = len(eligible(box))
        result.b24_requests = sum(1 for c in box.portal.calls[calls_before:] if not c.batch)  # HTTP requests
        result.onec_requests = box.onec_app.requests - onec_before
        result.b24_faults = dict(b24.injected)  # type: ignore[attr-defined]
        result.onec_faults = dict(onec.injected)  # type: ignore[attr-defined]
        result.backoff_seconds = round(clock.skipped, 1)

        counted = origins(box)
        duplicates = {k: n for k, n in counted.items() if n > 1}
        assert not duplicates, f"{len(duplicates)} orders have several deals: {list(duplicates.items())[:5]}"
        assert set(counted) == eligible(box)
        assert state_differences(deal_state(box), want) == []
        assert ledger_problems(setup.ledger, box) == []
    result.seconds = round(time.monotonic() - started, 1)
    print(
        f"\nfaults proof: {result.orders} orders in {result.passes} pass(es) (stops: {result.stops}); "
        f"Bitrix24 faults {result.b24_faults} in {result.b24_requests} requests; 1C faults "
        f"{result.onec_faults} in {result.onec_requests} requests; backoff skipped {result.backoff_seconds} s; {result.seconds} s"
    )
    return result


def test_ten_percent_faults_on_150_orders_end_like_a_clean_run(tmp_path: Path) -> None:
    """The fast, representative variant."""
    from b24_1c_sandbox.runner import SandboxOptions

    options = SandboxOptions(orders=160, seed=31, rate_limit="off", now=NOW)
    result = backfill_under_faults(options, tmp_path, page_size=10, batch=1, seed=3101, force_each=True)
    assert result.orders >= 140 and result.passes <= MAX_PASSES
    assert set(result.b24_faults) == set(B24_KINDS) and sum(result.b24_faults.values()) >= 15
    assert {"error500", "html502", "html504", "reset"} <= set(result.onec_faults)


@pytest.mark.slow
@pytest.mark.parametrize(("page_size", "batch"), [(10, 5), (500, 25)], ids=["small-pages", "shipped-sizes"])
def test_ten_percent_faults_on_2000_orders_end_like_a_clean_run(
    tmp_path: Path, page_size: int, batch: int
) -> None:
    """The full proof: every kind of fault, many times, on both sides; with small pages (many 1C reads, many
    commits) and with the shipped sizes (pages of 500 written in batches of 25)."""
    from b24_1c_sandbox.runner import SandboxOptions

    options = SandboxOptions(orders=2200, seed=17, rate_limit="off", now=NOW)
    result = backfill_under_faults(options, tmp_path, page_size=page_size, batch=batch, seed=1701 + page_size)
    assert result.orders >= 2000 and result.passes <= MAX_PASSES
    if (
        page_size < 100
    ):  # many requests: every kind on Bitrix24, and enough 1C reads (a lost reply needs a write)
        assert sum(result.b24_faults.values()) >= 0.08 * result.b24_requests
        assert set(result.b24_faults) >= set(B24_KINDS) - {"latency"}, result.b24_faults
        assert len(result.onec_faults) >= 3 and sum(result.onec_faults.values()) >= 10, result.onec_faults


def test_fast_forward_clock_moves_time_instead_of_sleeping() -> None:
    clock = FastForwardClock()
    before, wall = clock.monotonic(), time.monotonic()
    clock.sleep(30)
    assert clock.monotonic() - before >= 30 and time.monotonic() - wall < 5 and clock.sleeps == 1


def test_lost_replies_on_several_batches_of_a_page_resend_only_those_batches(tmp_path: Path) -> None:
    """Regression: a lost reply used to abort the page's writes and re-send every batch of the page, so at 10% faults
    a big page lost some reply in nearly every round and the run gave up after five rounds; now the other batches go
    on, and only the batches whose replies were lost are looked up and sent again."""
    from b24_1c_sandbox.faults import FaultInjector
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=60, seed=41, rate_limit="off", now=NOW)) as box:
        setup = write_setup(tmp_path, box, page_size=200, batch=2)  # one page, many batches
        with connector_for(setup, FastForwardClock()) as conn:
            conn.setup()
            box.portal.faults = FaultInjector()
            box.portal.faults.force("lost_reply", "batch", times=6)  # more lost replies than recovery rounds
            report = conn.runner(FLOW).backfill(SINCE, None)
        orders = eligible(box)
        sent = sum(1 for c in box.portal.calls if c.method == "batch" and not c.batch)
        assert report.failed == 0 and report.created + report.updated == len(orders) and not report.stopped
        assert box.portal.faults.injected == {"lost_reply": 6}
        # one batch per 2 writes, one settling lookup per lost reply, and the one batch of lookups before the creates
        # (up to 50 crm.deal.list commands of 50 keys each: 60 keys are one request)
        assert sent == -(-len(orders) // 2) + 6 + 1
        counted = origins(box)
        assert set(counted) == orders and max(counted.values()) == 1
        assert ledger_problems(setup.ledger, box) == []
