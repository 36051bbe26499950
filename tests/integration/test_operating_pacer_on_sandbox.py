"""The Bitrix24 client's operating-time pacer against the emulator's own budget: a run that needs three budgets
gets no 429 and waits only for the window's refill (the emulator follows settings/performance/limits.md)."""

from __future__ import annotations

import pytest
import requests

from connector.bitrix24.auth import WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import ManualClock

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("per_request", [1, 5])
def test_thirty_calls_of_fifty_seconds_fit_three_windows_without_a_429(per_request: int) -> None:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    clock = ManualClock()  # calls take no simulated time: only the budget decides when they can run
    options = SandboxOptions(orders=0, rate_limit="off", method_cost={"crm.deal.list": 50.0})
    with Sandbox(options, clock=clock) as box:
        client = Bitrix24Client(requests.Session(), WebhookAuth(box.webhook_url), clock, None)
        start = clock.monotonic()
        for _ in range(30 // per_request):
            if per_request == 1:
                client.call("crm.deal.list", {"select": ["ID"]})
            else:
                batch = {f"l{n}": ("crm.deal.list", {"select": ["ID"]}) for n in range(per_request)}
                assert not client.batch(batch).errors
        elapsed = clock.monotonic() - start
        assert box.portal.calls.limit_errors == 0 and client.stats.time_limited == 0
    # The portal runs a call while the sum is at most 480 s: 10 calls (500 s) per window, whose bucket drops off
    # 600 s after its first call. Three windows, two waits (one second of margin each); a pacer that left one
    # call of slack, or waited for whole windows, would need a fourth.
    assert elapsed == pytest.approx(1200 + 2 * client.operating.margin)
