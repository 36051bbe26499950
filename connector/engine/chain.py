"""The chain executor: every record's steps across both systems (1C operations, Bitrix24 commands), run in rounds.

Round k runs step k of every record whose chain is still going: the 1C steps one request each, up to `in_flight`
at once (the OData client never holds more than `onec.max_connections` connections, 1C's licences, whatever is asked
here); the Bitrix24 steps of all those records together, one command each, packed into batches of at most 50 by the
BatchExecutor. A step whose effect is unknown (its reply was lost, or 1C failed a write with a 5xx) is settled by
the target's lookup on the objects: `done` (the chain goes on as if the reply had come), `resend` (the lookup proved
nothing was written: sent again next round, at most `max_sends` times in all) or `unsettled` (the chain stops; the
next run's rules read the objects and plan only the steps still missing). A refused or failed step stops its own
record's chain with an outcome naming the step and what the next run does; the other records go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from connector.engine.executor import BatchExecutor, Command
from connector.engine.planned import failed
from connector.engine.steps import RecordPlan, Step
from connector.errors import OutcomeUnknown, RecordError, RetryLater, TransientWriteError
from connector.records import Outcome

Verdict = Literal["done", "resend", "unsettled"]
MAX_SENDS = 2  # a step found not written after a lost reply is sent once more in the same run, never more


@dataclass(frozen=True)
class Failure:
    """Why a record's chain stopped: at which step (None: before any, the rules' problems) and whether it is
    temporary (retried every cycle) or a refusal someone must look at."""

    index: int
    step: Step | None
    why: str
    deferred: bool = False


@dataclass
class Chain:
    """One record's way through its plan: the next step, what earlier steps learned (`state`), how it ended."""

    plan: RecordPlan
    state: dict[str, Any] = field(default_factory=dict)
    at: int = 0
    sends: int = 0  # sends of the current step
    sent: int = 0  # steps that reached a system (or were settled as done there)
    failure: Failure | None = None

    @property
    def going(self) -> bool:
        return self.failure is None and self.at < len(self.plan.steps)

    @property
    def step(self) -> Step:
        return self.plan.steps[self.at]

    def advance(self, wrote: bool = True) -> None:
        self.at += 1
        self.sends = 0
        self.sent += int(wrote)

    def fail(self, why: str, deferred: bool = False) -> None:
        self.failure = Failure(self.at, self.step, why, deferred)

    def outcome(self, target_id: str | None = None) -> Outcome:
        """Applied when every step ran (a record that needed none is a skip); else failed, naming the step."""
        action, rec = self.plan.action, self.plan.action.record
        target_id = target_id or self.state.get("target_id") or action.target_id
        if self.plan.problems:
            return failed(action, f"{rec.label}: " + "; ".join(self.plan.problems), target_id)
        if self.failure is not None:
            steps = self.plan.steps
            missing = ", ".join(s.name for s in steps[self.failure.index :])
            name = self.failure.step.name if self.failure.step else "-"
            error = (
                f"{rec.label}: step {self.failure.index + 1} of {len(steps)} ({name}) did not finish"
                f": {self.failure.why}; the next run reads the objects again and runs only the steps "
                f"still missing ({missing})"
            )
            return failed(action, error, target_id, deferred=self.failure.deferred)
        kind = action.kind if self.sent else "skip"  # linked and recorded, nothing sent: counted as skipped
        return Outcome(rec.key, kind, "applied", target_id, rec.hash, rec.version, label=rec.label)


@dataclass(frozen=True)
class Lost:
    """A step whose effect is unknown, for the target to settle by a lookup."""

    chain: Chain
    step: Step
    error: str


class StepRunner(Protocol):
    """What the executor needs from a target: how each step is sent, and how a lost one is settled."""

    def run_onec(self, chain: Chain, step: Step) -> bool:
        """Sends the step's one 1C request and records what it learned in `chain.state`; False when the state
        showed nothing had to be sent. Raises the transport's errors."""
        ...

    def command(self, chain: Chain, step: Step) -> Command | None:
        """The Bitrix24 command of the step (None: nothing to send, the step is done)."""
        ...

    def took(self, chain: Chain, step: Step, result: Any) -> None:
        """A Bitrix24 step's result arrived."""
        ...

    def settle(self, lost: Sequence[Lost]) -> list[Verdict]:
        """One verdict per lost step, from a lookup on the objects (one read for all of them where possible)."""
        ...


class ChainExecutor:
    """Runs plans' steps round by round across both systems (see the module docstring)."""

    def __init__(
        self,
        runner: StepRunner,
        batches: BatchExecutor | None = None,
        in_flight: int = 1,
        max_sends: int = MAX_SENDS,
    ) -> None:
        self.runner = runner
        self.batches = batches
        self.in_flight = max(1, in_flight)
        self.max_sends = max(1, max_sends)
        self.rounds = 0

    def run(
        self, plans: Sequence[RecordPlan], states: dict[str, dict[str, Any]] | None = None
    ) -> list[Chain]:
        """Every plan's chain, run to its end or to its first unfinished step; in the plans' order."""
        chains = [Chain(p, dict((states or {}).get(p.key, {}))) for p in plans]
        for chain in chains:
            if chain.plan.problems:
                chain.failure = Failure(0, None, "; ".join(chain.plan.problems))
        while True:
            going = [c for c in chains if c.going]
            if not going:
                return chains
            self.rounds += 1
            onec = [c for c in going if c.step.system == "onec"]  # both taken before either runs: round k
            bitrix24 = [
                c for c in going if c.step.system == "bitrix24"
            ]  # is step k of every chain, never k+1
            self._onec(onec)
            self._bitrix24(bitrix24)

    # -- 1C: one request per step, up to in_flight at once ----------------------------------------------------

    def _onec(self, chains: list[Chain]) -> None:
        if not chains:
            return
        run: Callable[[Chain], Lost | None] = self._one
        if self.in_flight == 1 or len(chains) < 2:
            lost = [run(c) for c in chains]
        else:
            with ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="chain") as pool:
                lost = list(pool.map(run, chains))
        self._settle([x for x in lost if x is not None])

    def _one(self, chain: Chain) -> Lost | None:
        step = chain.step
        chain.sends += 1
        try:
            wrote = self.runner.run_onec(chain, step)
        except (OutcomeUnknown, TransientWriteError) as exc:  # may or may not have been written: look
            return Lost(chain, step, exc.message)
        except RecordError as exc:  # refused (RemoteRejected) or impossible: someone must look at it
            chain.fail(exc.message)
        except RetryLater as exc:  # a read inside the step kept failing: nothing written by it
            chain.fail(f"failed temporarily ({exc.message}); retried next cycle", deferred=True)
        else:
            chain.advance(wrote)
        return None

    # -- Bitrix24: every chain's command of this round in batches of at most 50 ---------------------------------

    def _bitrix24(self, chains: list[Chain]) -> None:
        if not chains:
            return
        if self.batches is None:
            for chain in chains:
                chain.fail("no Bitrix24 client to send it with")
            return
        keyed: dict[str, tuple[Chain, Command]] = {}
        for n, chain in enumerate(chains):
            command = self.runner.command(chain, chain.step)
            if command is None:
                chain.advance(wrote=False)
                continue
            chain.sends += 1
            keyed[f"s{n}"] = (chain, command)
        if not keyed:
            return
        try:
            sent = self.batches.run([{k: command} for k, (_, command) in keyed.items()])
        except (
            RetryLater
        ) as exc:  # the portal kept refusing: these updates are idempotent, the next run sends
            for chain, _ in keyed.values():
                chain.fail(f"Bitrix24 failed temporarily ({exc.message}); retried next cycle", deferred=True)
            return
        lost: list[Lost] = []
        for key, (chain, (method, _)) in keyed.items():
            if key in sent.results:
                self.runner.took(chain, chain.step, sent.results[key])
                chain.advance()
            elif key in sent.errors:
                err = sent.errors[key]
                text = err.get("error_description") or err.get("error") or "refused"
                chain.fail(f"Bitrix24 refused {method}: {text}")
            else:  # its batch's reply was lost
                why = sent.lost.message if sent.lost is not None else "no reply"
                lost.append(Lost(chain, chain.step, why))
        self._settle(lost)

    # -- settling -----------------------------------------------------------------------------------------------

    def _settle(self, lost: list[Lost]) -> None:
        if not lost:
            return
        try:
            verdicts = self.runner.settle(lost)
        except RetryLater as exc:
            verdicts = ["unsettled"] * len(lost)
            lost = [Lost(x.chain, x.step, f"{x.error}; the lookup failed too ({exc.message})") for x in lost]
        for item, verdict in zip(lost, verdicts, strict=True):
            chain = item.chain
            if verdict == "done":
                chain.advance()
            elif verdict == "resend" and chain.sends < self.max_sends:
                continue  # the lookup proved nothing was written: sent again next round
            elif verdict == "resend":
                why = f"it failed or lost its reply {chain.sends} times ({item.error}), not found done"
                chain.fail(why, deferred=True)
            else:
                chain.fail(
                    f"it failed or lost its reply ({item.error}) and was not found done", deferred=True
                )


def outcomes(chains: Sequence[Chain]) -> list[Outcome]:
    """The outcome of every chain, in order."""
    return [c.outcome() for c in chains]
