"""What the money flow last wrote to an order's deal, so a change of money figures only costs its update.

Kept in the ledger's source state (flow `<flow>:deal`, entity `deal`, one row an order) and recorded in the same
commit as the outcome that wrote it: the deal, the hash of the record written, a digest of the deal's money fields,
one of the stage rule's result, and the deal's stage, pipeline and stage semantics as that outcome left them. It is
valid while the money link still holds that hash (a failed outcome, a reconcile repair or a lost ledger clears or
loses it) and the `attach_to` flow still links the same deal.

An order is *quiet* when its change needs nothing but the deal's money fields: a valid memo; no stage move (the
stage rule's result unchanged, or the stage rules say no move from the stage the memo left, e.g. a result behind
it, with the stage order known in this process); no payment to write (the ledger's links hold every 1C row as it
is); no to-do step, no overdue task, and nothing the current code would look for on the deal (a to-do or task the
ledger does not know). A quiet order is not read: its deal gets all its money fields in one idempotent update when
they differ from the memo, nothing when they do not. Everything else (a payment, a to-do, a task, a stage that may
move) reads the deal first, as before. Identity is untouched: a quiet order creates nothing, and without the memo
(lost ledger) every order is read. What differs from reading: a stage a user moved back by hand since is left as
they set it (the read would move it forward again), and a money field edited by hand through REST is restored only
with the next change of the fields (read-only in the deal card)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from connector.records import Mapped, SourceState, content_hash

MEMO = "deal"  # the source state's entity


def memo_flow(flow: str) -> str:
    return f"{flow}:deal"


def deal_fields(rec: Mapped, stage: str) -> dict[str, Any]:
    """The money fields a record writes on its deal (not the stage, not the facts)."""
    return {k: v for k, v in rec.fields.items() if k != stage and not k.startswith("@")}


@dataclass(frozen=True)
class Memo:
    """One order's memo: the record's hash, its deal, digests of the fields written and of the stage wanted, and
    the deal's STAGE_ID, CATEGORY_ID and STAGE_SEMANTIC_ID as left ("" when we moved it: not known, taken as open,
    which can only make the next change read)."""

    record: str
    deal: str
    fields: str
    stage: str
    left: tuple[str, int, str]

    @classmethod
    def of(cls, rec: Mapped, deal: str, stage: str, left: tuple[str, int, str]) -> Memo:
        fields, wanted = content_hash(deal_fields(rec, stage)), content_hash(rec.fields.get(stage))
        return cls(rec.hash, deal, fields, wanted, left)

    @classmethod
    def load(cls, text: str | None) -> Memo | None:
        """A stored memo, or None when absent or unreadable (then the order is read, as without one)."""
        try:
            raw = json.loads(text or "")
            stage, category, semantic = raw["left"]
            left = (str(stage), int(category), str(semantic))
            return cls(str(raw["record"]), str(raw["deal"]), str(raw["fields"]), str(raw["stage"]), left)
        except (ValueError, TypeError, KeyError):
            return None

    def deal_left(self) -> dict[str, Any]:
        """The deal's stage as this memo's outcome left it, as the stage rules read a deal."""
        stage, category, semantic = self.left
        return {"STAGE_ID": stage, "CATEGORY_ID": category, "STAGE_SEMANTIC_ID": semantic}

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def state(self, flow: str, order: str) -> SourceState:
        return SourceState(memo_flow(flow), MEMO, order, self.dump())


def forget(flow: str, order: str) -> SourceState:
    return SourceState(memo_flow(flow), MEMO, order, drop=True)
