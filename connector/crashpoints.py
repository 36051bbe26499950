"""Test-only crash points: inert unless the environment variable B24_1C_CRASH_AT names a phase.

`B24_1C_CRASH_AT=written:3` kills this process with SIGKILL the third time a run reaches the phase `written`. The
exactly-once proofs (tests/integration/test_proof_phases.py) use it to land a kill in every dangerous window; in
production the variable is unset and a crash point costs one comparison. Phases:

- `page-committed`: a page's outcomes and cursor are committed, the next page is not read yet;
- `lookup`: the lookup by external key before creates has answered, nothing is planned from it yet;
- `announced`: creates are announced (intents) in the ledger, nothing is sent yet;
- `written`: the target holds the page's writes, the ledger has not recorded them;
- `posting`: a 1C order exists, its posting has not been sent;
- `write-back`: the 1C order is posted, the deal has not been told its number and key;
- `payment-step`: a Bitrix24 payment is added, its sum, date and key are not set yet;
- `partner-made`: the 1C partner of a deal's new client exists, its counterparty not yet;
- `client-made`: the 1C counterparty of a deal's new client exists, the company is not stamped and the order is
  not created yet.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

ENV = "B24_1C_CRASH_AT"
PHASES = (
    "page-committed",
    "lookup",
    "announced",
    "written",
    "posting",
    "write-back",
    "payment-step",
    "partner-made",
    "client-made",
)

_spec = os.environ.get(ENV, "")
_phase, _, _nth = _spec.partition(":")
_target = int(_nth or 1) if _phase else 0
_seen: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(phase: str) -> None:
    """Die here (SIGKILL, no cleanup) when B24_1C_CRASH_AT names this phase and its count is reached."""
    if phase != _phase:
        return
    with _lock:
        _seen[phase] += 1
        if _seen[phase] != _target:
            return
    os.kill(os.getpid(), signal.SIGKILL)
