"""The emulator's operating-time buckets drop off when the docs say: 10 minutes after the bucket's first call.

Docs (settings/performance/limits.md): "Отсчет для корзины начинается с первого учтенного вызова метода в
соответствующую минуту и длится 10 минут", and `operating_reset_at` is that moment. A bucket whose minute began
before its first call must not drop off at the minute's start + 10 minutes: a client that probed then would pass
here and get 429 from a real portal.
"""

from __future__ import annotations

from collections.abc import Callable

from b24_1c_sandbox.bitrix24.portal import Settings
from conftest import Emu


def test_a_full_bucket_counts_until_its_first_call_plus_ten_minutes(
    make_emu: Callable[[Settings], Emu],
) -> None:
    box = make_emu(Settings(plan="off", method_cost={"crm.deal.list": 500.0}))
    box.clock.advance(60 - box.clock.monotonic() % 60 + 40)  # 40 s into a minute of the portal's clock
    first = box.post("crm.deal.list").json()["time"]  # 500 s: over the 480 s limit from now on
    reset = first["operating_reset_at"]
    assert reset == int(first["start"]) + 600
    box.clock.advance(590)  # the minute's start + 10 minutes has passed, the first call's has not
    assert box.post("crm.deal.list").status_code == 429
    box.clock.advance(10)  # now at operating_reset_at
    assert box.post("crm.deal.list").status_code == 200
