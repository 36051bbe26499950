"""The one Bitrix24 writer: packing units into batches, settling every command, lost replies, requests in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from connector.bitrix24.client import BatchReply
from connector.engine.executor import BatchExecutor, pack
from connector.errors import OutcomeUnknown


def unit(n: int, size: int = 2) -> dict[str, tuple[str, dict[str, Any]]]:
    head = {f"a{n}": ("crm.deal.add", {"fields": {"TITLE": str(n)}})}
    rows = {f"r{n}_{i}": ("crm.deal.productrows.set", {"id": f"$result[a{n}]"}) for i in range(size - 1)}
    return {**head, **rows}


class FakeClient:
    """Executes batches: every command succeeds, except those named in `refuse`; batches named in `lose` run but
    their reply is lost. Records what it was sent."""

    def __init__(
        self, lose: set[int] = frozenset(), refuse: set[str] = frozenset(), barrier: Any = None
    ) -> None:  # type: ignore[assignment]
        self.lose, self.refuse, self.barrier = lose, refuse, barrier
        self.batches: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def batch(self, commands: dict[str, Any], *, halt: bool = False, write: bool = False) -> BatchReply:
        assert write and len(commands) <= 50
        with self.lock:
            index = len(self.batches)
            self.batches.append(dict(commands))
        if self.barrier is not None:
            self.barrier.wait()  # both batches must be in flight at the same time to get past this
        if index in self.lose:
            raise OutcomeUnknown("reply lost after the write")
        if halt and self.refuse & commands.keys():  # the portal stops at the first failed command
            keys = list(commands)
            commands = {
                k: commands[k] for k in keys[: 1 + min(keys.index(k) for k in self.refuse & commands.keys())]
            }
        ok = {k: 1 for k in commands if k not in self.refuse}
        errors = {
            k: {"error": "ERROR_CORE", "error_description": "nope"} for k in commands if k in self.refuse
        }
        return BatchReply(ok, errors, {}, {}, {})


def test_pack_keeps_each_unit_whole_and_batches_at_most_fifty_commands() -> None:
    units = [unit(n, size=3) for n in range(40)]  # 120 commands, units of 3
    batches = pack(units)
    assert [len(b) for b in batches] == [48, 48, 24]
    for n in range(40):
        assert sum(1 for b in batches if f"a{n}" in b and f"r{n}_0" in b and f"r{n}_1" in b) == 1


def test_pack_refuses_what_cannot_be_sent_correctly() -> None:
    with pytest.raises(ValueError, match="cannot fit"):
        pack([unit(1, size=51)])
    with pytest.raises(ValueError, match="used twice"):
        pack([unit(1), unit(1)])


def test_every_command_is_settled_on_its_own() -> None:
    client = FakeClient(refuse={"r3_0"})
    sent = BatchExecutor(client).run([unit(n) for n in range(30)])  # type: ignore[arg-type]
    assert len(client.batches) == 2
    assert sent.errors.keys() == {"r3_0"} and "a3" in sent.results and len(sent.results) == 59
    assert sent.unknown == set() and sent.lost is None


def test_a_lost_reply_leaves_only_its_batch_unknown_and_nothing_is_sent_twice() -> None:
    client = FakeClient(lose={0})
    sent = BatchExecutor(client).run([unit(n) for n in range(30)])  # type: ignore[arg-type]
    assert len(client.batches) == 2  # the second batch still went, the first was not re-sent
    assert sent.unknown == set(client.batches[0]) and not (sent.unknown & sent.results.keys())
    assert set(client.batches[1]) <= sent.results.keys() and isinstance(sent.lost, OutcomeUnknown)


def test_several_batches_are_in_flight_at_once_when_the_setting_allows() -> None:
    barrier = threading.Barrier(2, timeout=10)
    client = FakeClient(barrier=barrier)
    sent = BatchExecutor(client, in_flight=2).run([unit(n) for n in range(50)])  # type: ignore[arg-type]
    assert len(client.batches) == 2 and len(sent.results) == 100 and not barrier.broken


def test_one_request_in_flight_by_default() -> None:
    barrier = threading.Barrier(2, timeout=0.5)
    client = FakeClient(barrier=barrier)
    with pytest.raises(threading.BrokenBarrierError):  # the second batch never starts while the first waits
        BatchExecutor(client).run([unit(n) for n in range(50)])  # type: ignore[arg-type]


def sized(n: int, size: int, target: str | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
    """A unit of `size` commands; with `target`, its last command writes that object (`id`)."""
    out: dict[str, tuple[str, dict[str, Any]]] = {
        f"u{n}_{i}": ("crm.item.update", {"entityTypeId": 2, "fields": {}}) for i in range(size)
    }
    if target is not None:
        out[f"u{n}_{size - 1}"] = ("crm.deal.update", {"id": target, "fields": {}})
    return out


def test_pack_fills_a_batch_a_large_unit_left_short_with_smaller_units_after_it() -> None:
    """32 units of 3 commands, then 4 of 1: one after another they need 3 batches (48, 50, 2), first fit 2."""
    units = [sized(n, 3) for n in range(32)] + [sized(n, 1) for n in range(32, 36)]
    batches = pack(units)
    assert [len(b) for b in batches] == [50, 50]
    for u in units:  # each unit whole, in one batch, its commands side by side and in their order
        (home,) = [b for b in batches if next(iter(u)) in b]
        keys = list(home)
        at = keys.index(next(iter(u)))
        assert keys[at : at + len(u)] == list(u)


def test_pack_never_moves_a_write_ahead_of_an_earlier_write_of_the_same_object() -> None:
    units = [sized(n, 3) for n in range(16)]  # 48 commands
    units += [sized(16, 3, target="7"), sized(17, 1, target="7"), sized(18, 1, target="8")]
    batches = pack(units)
    assert "u18_0" in batches[0]  # a write of another object fills the first batch
    assert "u17_0" in batches[1] and list(batches[1]).index("u17_0") > list(batches[1]).index("u16_2")


def test_a_unit_referring_to_another_units_result_goes_into_its_batch_or_is_refused() -> None:
    head = sized(0, 48)
    ref = {"r": ("crm.deal.productrows.set", {"id": "$result[u0_0]", "rows": []})}
    batches = pack([head, ref, sized(1, 3)])
    assert [sorted(b) for b in batches] == [sorted({**head, **ref}), sorted(sized(1, 3))]
    with pytest.raises(ValueError, match="cannot join"):
        pack([sized(0, 50), ref])


def test_with_halt_a_batch_stops_at_its_first_failed_command_and_the_rest_is_neither_result_nor_error() -> (
    None
):
    client = FakeClient(refuse={"a3"})
    sent = BatchExecutor(client).run([unit(n) for n in range(30)], halt=True)  # type: ignore[arg-type]
    assert len(client.batches) == 2  # 25 units (50 commands), then 5
    assert "a2" in sent.results and "a3" in sent.errors and sent.unknown == set()
    assert not {"r3_0", "a4"} & (sent.results.keys() | sent.errors.keys())  # not run
    assert "a25" in sent.results  # the next batch ran on its own
