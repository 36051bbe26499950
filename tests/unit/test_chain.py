"""The chain executor without I/O: fake 1C steps and a fake portal behind the real BatchExecutor. Rounds across both
systems, partial batches, a lost reply at each step settling only that step, a failed step stopping only its own
record, and 1C steps in flight at once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from connector.bitrix24.client import BatchReply
from connector.engine.chain import Chain, ChainExecutor, Lost, Verdict, outcomes
from connector.engine.executor import BatchExecutor, Command
from connector.engine.steps import RecordPlan, Step
from connector.errors import OutcomeUnknown, RemoteRejected, TransientError, TransientWriteError
from connector.records import Action, Mapped

CREATE = Step("onec", "create")
POST = Step("onec", "post")
WRITE_BACK = Step("bitrix24", "write-back")
CHAIN = [CREATE, POST, WRITE_BACK]


def plan(key: str, steps: Sequence[Step] = CHAIN, kind: str = "create") -> RecordPlan:
    record = Mapped(key, "v1", {"TITLE": key}, label=f"deal {key}")
    return RecordPlan(Action(kind, record), list(steps))  # type: ignore[arg-type]


class World:
    """Both systems at once: which steps took effect, what every send met, and a scripted fault per send."""

    def __init__(
        self, faults: dict[tuple[str, str, int], str] | None = None, lose: set[int] = frozenset()
    ) -> None:  # type: ignore[assignment]
        self.faults = (
            faults or {}
        )  # (record, step, nth send) -> lost | lost-unwritten | refuse | transient | 5xx
        self.lose = lose  # batch indexes whose reply is lost (after they ran)
        self.written: set[tuple[str, str]] = set()
        self.sends: Counter[tuple[str, str]] = Counter()
        self.batches: list[dict[str, Command]] = []
        self.settled: list[list[tuple[str, str]]] = []
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None

    # the runner's side ------------------------------------------------------------------------------------------

    def run_onec(self, chain: Chain, step: Step) -> bool:
        key = chain.plan.key
        with self.lock:
            self.sends[(key, step.name)] += 1
            fault = self.faults.get((key, step.name, self.sends[(key, step.name)]))
        if self.barrier is not None:
            self.barrier.wait()
        if step.name == "post":
            assert chain.state["ref"] == f"ref-{key}"  # what the create learned reaches the next step
        if fault == "refuse":
            raise RemoteRejected("1C refused: Не удалось провести")
        if fault == "transient":
            raise TransientError("1C is busy")
        if fault != "lost-unwritten":
            self.written.add((key, step.name))
            if step.name == "create":
                chain.state["ref"] = f"ref-{key}"
        if fault in ("lost", "lost-unwritten"):
            raise OutcomeUnknown("the reply was lost")
        if fault == "5xx":
            raise TransientWriteError("1C answered 500")
        return True

    def command(self, chain: Chain, step: Step) -> Command | None:
        return ("crm.deal.update", {"id": chain.plan.key, "fields": {"ORIGIN_ID": chain.state["ref"]}})

    def took(self, chain: Chain, step: Step, result: Any) -> None:
        chain.state["stamped"] = result

    def settle(self, lost: Sequence[Lost]) -> list[Verdict]:
        self.settled.append([(x.chain.plan.key, x.step.name) for x in lost])
        out: list[Verdict] = []
        for x in lost:
            done = (x.chain.plan.key, x.step.name) in self.written
            if done and x.step.name == "create":
                x.chain.state["ref"] = f"ref-{x.chain.plan.key}"  # found by its external key
            out.append("done" if done else "resend")
        return out

    # the portal's side ------------------------------------------------------------------------------------------

    def batch(self, commands: dict[str, Command], *, write: bool = False) -> BatchReply:
        assert write and len(commands) <= 50
        with self.lock:
            index = len(self.batches)
            self.batches.append(dict(commands))
        ok: dict[str, Any] = {}
        errors: dict[str, dict[str, Any]] = {}
        for k, (_, params) in commands.items():
            key = str(params["id"])
            self.sends[(key, "write-back")] += 1
            if self.faults.get((key, "write-back", self.sends[(key, "write-back")])) == "refuse":
                errors[k] = {"error": "ACCESS_DENIED", "error_description": "Access denied"}
                continue
            self.written.add((key, "write-back"))
            ok[k] = True
        if index in self.lose:
            raise OutcomeUnknown("the batch's reply was lost")
        return BatchReply(ok, errors, {}, {}, {})


def executor(world: World, in_flight: int = 1) -> ChainExecutor:
    return ChainExecutor(world, BatchExecutor(world, in_flight), in_flight=in_flight)  # type: ignore[arg-type]


def test_a_chain_across_both_systems_runs_step_by_step_and_packs_the_bitrix24_steps() -> None:
    world = World()
    chains = executor(world).run([plan(str(n)) for n in range(3)])
    assert [o.status for o in outcomes(chains)] == ["applied"] * 3
    assert [o.kind for o in outcomes(chains)] == ["create"] * 3
    assert set(world.sends.values()) == {1}  # every step of every record sent exactly once
    (batch,) = world.batches  # the three write-backs in one request, each with what its own create learned
    assert sorted(p["fields"]["ORIGIN_ID"] for _, p in batch.values()) == ["ref-0", "ref-1", "ref-2"]
    assert all(c.state["stamped"] is True for c in chains)


def test_bitrix24_steps_go_in_batches_of_at_most_fifty_and_a_refused_command_fails_only_its_record() -> None:
    world = World(faults={("7", "write-back", 1): "refuse"})
    chains = executor(world).run([plan(str(n)) for n in range(120)])
    assert [len(b) for b in world.batches] == [50, 50, 20]
    failed = [o for o in outcomes(chains) if o.status == "failed"]
    assert [o.key for o in failed] == ["7"]
    assert "step 3 of 3 (write-back)" in str(failed[0].error) and "Access denied" in str(failed[0].error)
    assert failed[0].target_id is None and not failed[0].deferred  # a refusal waits for someone, not a retry
    assert sum(1 for o in outcomes(chains) if o.status == "applied") == 119


@pytest.mark.parametrize("step", ["create", "post"])
def test_a_lost_1c_reply_is_settled_by_lookup_and_nothing_is_sent_twice(step: str) -> None:
    world = World(faults={("1", step, 1): "lost"})
    chains = executor(world).run([plan("0"), plan("1"), plan("2")])
    assert [o.status for o in outcomes(chains)] == ["applied"] * 3
    assert world.settled == [[("1", step)]]  # only that step of that record was looked up
    assert set(world.sends.values()) == {1}  # and it was found written: not sent again, nor anything else
    assert chains[1].state["ref"] == "ref-1"


def test_a_lost_batch_reply_settles_only_its_write_backs() -> None:
    world = World(lose={0})
    chains = executor(world).run([plan(str(n)) for n in range(60)])
    assert [len(b) for b in world.batches] == [50, 10]
    assert world.settled == [[(str(n), "write-back") for n in range(50)]]
    assert set(world.sends.values()) == {1}
    assert all(o.status == "applied" for o in outcomes(chains))


@pytest.mark.parametrize("step", ["create", "post", "write-back"])
def test_a_step_the_lookup_finds_unwritten_is_sent_once_more_and_only_that_step(step: str) -> None:
    faults = {("1", step, 1): "lost-unwritten"} if step != "write-back" else {}
    world = World(faults=faults, lose=set())
    if step == "write-back":  # the batch lost its reply before anything ran: nothing written
        world.batch = _lost_before_running(world)  # type: ignore[method-assign]
    chains = executor(world).run([plan("0"), plan("1")])
    assert [o.status for o in outcomes(chains)] == ["applied"] * 2
    resent = {k: n for k, n in world.sends.items() if n > 1}
    if step == "write-back":
        assert resent == {("0", "write-back"): 2, ("1", "write-back"): 2}
    else:
        assert resent == {("1", step): 2}


def _lost_before_running(world: World) -> Any:
    real = world.batch
    lost = [True]

    def batch(commands: dict[str, Command], *, write: bool = False) -> BatchReply:
        if lost:
            lost.pop()
            world.batches.append(dict(commands))
            for _, params in commands.values():
                world.sends[(str(params["id"]), "write-back")] += 1
            raise OutcomeUnknown("reset before the portal read the request")
        return real(commands, write=write)

    return batch


def test_a_step_that_stays_unsettled_stops_its_chain_as_waiting_after_two_sends() -> None:
    world = World(faults={("1", "post", 1): "lost-unwritten", ("1", "post", 2): "lost-unwritten"})
    chains = executor(world).run([plan("0"), plan("1")])
    ok, stuck = outcomes(chains)
    assert ok.status == "applied"
    assert stuck.status == "failed" and stuck.deferred
    assert "step 2 of 3 (post)" in str(stuck.error) and "(post, write-back)" in str(stuck.error)
    assert world.sends[("1", "post")] == 2 and world.sends[("1", "write-back")] == 0


def test_a_refused_or_failing_step_stops_only_its_own_record() -> None:
    world = World(faults={("1", "post", 1): "refuse", ("2", "create", 1): "transient"})
    chains = executor(world).run([plan("0"), plan("1"), plan("2")])
    ok, refused, busy = outcomes(chains)
    assert ok.status == "applied" and world.sends[("0", "write-back")] == 1
    assert refused.status == "failed" and not refused.deferred
    assert "step 2 of 3 (post)" in str(refused.error) and "Не удалось провести" in str(refused.error)
    assert world.sends[("1", "write-back")] == 0  # the chain stopped at its failed step
    assert busy.status == "failed" and busy.deferred and "retried next cycle" in str(busy.error)
    assert world.sends[("2", "post")] == 0


def test_a_5xx_on_a_1c_write_is_looked_up_before_anything_else() -> None:
    world = World(faults={("0", "post", 1): "5xx"})
    chains = executor(world).run([plan("0")])
    assert world.settled == [[("0", "post")]] and outcomes(chains)[0].status == "applied"


def test_chains_of_different_lengths_and_systems_run_side_by_side() -> None:
    world = World()
    only_1c = plan("0", steps=[Step("onec", "update")], kind="update")
    only_b24 = plan("1", steps=[WRITE_BACK], kind="update")
    only_b24_state = {"1": {"ref": "ref-1"}}
    chains = executor(world).run([only_1c, only_b24, plan("2")], only_b24_state)
    assert [o.status for o in outcomes(chains)] == ["applied"] * 3
    assert [sorted(str(p["id"]) for _, p in b.values()) for b in world.batches] == [["1"], ["2"]]


def test_plans_with_problems_or_no_steps_send_nothing() -> None:
    world = World()
    bad = plan("0")
    bad.problems.append("Контрагент_Key: no Catalog_Контрагенты = 'x' in 1C")
    nothing = plan("1", steps=[], kind="update")
    chains = executor(world).run([bad, nothing])
    failed, skipped = outcomes(chains)
    assert failed.status == "failed" and "no Catalog_Контрагенты" in str(failed.error)
    assert skipped.status == "applied" and skipped.kind == "skip"
    assert not world.sends and not world.batches


def test_several_1c_steps_are_in_flight_at_once_when_the_setting_allows() -> None:
    world = World()
    world.barrier = threading.Barrier(2, timeout=10)  # both creates must be in flight to get past it
    chains = executor(world, in_flight=2).run([plan("0"), plan("1")])
    assert all(o.status == "applied" for o in outcomes(chains)) and not world.barrier.broken


def test_one_1c_request_at_a_time_by_default() -> None:
    world = World()
    world.barrier = threading.Barrier(2, timeout=0.5)
    with pytest.raises(threading.BrokenBarrierError):  # the second create never starts while the first waits
        executor(world).run([plan("0"), plan("1")])


def test_a_lookup_that_fails_leaves_those_steps_waiting_for_the_next_run() -> None:
    world = World(faults={("1", "create", 1): "lost"})

    def broken(lost: Sequence[Lost]) -> list[Verdict]:
        raise TransientError("1C did not answer the lookup")

    world.settle = broken  # type: ignore[method-assign]
    chains = executor(world).run([plan("0"), plan("1")])
    ok, waiting = outcomes(chains)
    assert ok.status == "applied" and waiting.status == "failed" and waiting.deferred
    assert "the lookup failed too" in str(waiting.error) and world.sends[("1", "post")] == 0
