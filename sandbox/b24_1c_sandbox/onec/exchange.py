"""Exchange-plan change registration: what `ПланыОбмена.ВыбратьИзменения` / `УдалитьРегистрациюИзменений` do.

Every write or deletion of a catalog or document is registered for every node but "this node" (auto-registration
of the whole content). `select` numbers unsent registrations with the message number and returns everything up to
it; `notify` forgets registrations up to the acknowledged number. A registration only says "changed": whether it
is a deletion is decided when the package is made (the object is gone), as in 1C.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from b24_1c_sandbox.onec.infobase import Infobase


class Registrations:
    """Per-node registrations: "entity|ref" -> message number (0 = not sent yet)."""

    def __init__(self, ib: Infobase) -> None:
        self.ib = ib
        self.by_node: dict[str, dict[str, int]] = {}

    def _nodes(self) -> list[str]:
        plan = self.ib.config.exchange_plan
        return [
            ref
            for ref, node in self.ib.sets[plan].items()
            if ref != getattr(self.ib, "this_node", None) and not node.get("DeletionMark")
        ]

    def register(self, entity: str, ref: str) -> None:
        """Mark an object changed for every node (re-registration makes it unsent again)."""
        for node in self._nodes():
            self.by_node.setdefault(node, {})[f"{entity}|{ref}"] = 0

    def pending(self, node: str) -> list[tuple[str, str]]:
        """(entity, ref) registered for a node, in registration order."""
        return [_split(k) for k in self.by_node.get(node, {})]

    def select(self, node: str, message_no: int) -> list[tuple[str, str, dict[str, Any] | None]]:
        """Assign `message_no` to unsent registrations and return (entity, ref, object or None if deleted)."""
        with self.ib.lock:
            regs = self.by_node.setdefault(node, {})
            out = []
            for key, no in regs.items():
                if no == 0:
                    regs[key] = no = message_no
                if no <= message_no:
                    entity, ref = _split(key)
                    out.append((entity, ref, self.ib.get(entity, ref)))
            self.ib.update(self.ib.config.exchange_plan, node, {"SentNo": str(message_no)})
            return out

    def notify(self, node: str, message_no: int) -> None:
        """The node confirmed receipt of messages up to `message_no`: drop those registrations."""
        with self.ib.lock:
            regs = self.by_node.setdefault(node, {})
            for key in [k for k, no in regs.items() if 0 < no <= message_no]:
                del regs[key]
            self.ib.update(self.ib.config.exchange_plan, node, {"ReceivedNo": str(message_no)})

    def dump(self) -> dict[str, dict[str, int]]:
        return self.by_node

    def restore(self, data: dict[str, dict[str, int]]) -> None:
        self.by_node = {node: dict(regs) for node, regs in data.items()}


def _split(key: str) -> tuple[str, str]:
    entity, _, ref = key.partition("|")
    return entity, ref
