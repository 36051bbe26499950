"""The go-live checklist: one line per check, problems first named by the file and key to fix."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One line of the checklist: ok, or a problem with what to fix (its `where` names file and key)."""

    ok: bool
    text: str
    where: str = ""

    def line(self) -> str:
        mark = "ok " if self.ok else "FIX"
        return f"[{mark}] " + (f"{self.where}: {self.text}" if self.where else self.text)


@dataclass
class Checklist:
    """Everything verify found; `ready` only when every item is ok and both systems answered."""

    items: list[Item] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # systems that did not answer or refused credentials
    attempts: dict[str, int] = field(default_factory=dict)  # HTTP requests sent, per system

    def ok(self, text: str, where: str = "") -> None:
        self.items.append(Item(True, text, where))

    def fix(self, text: str, where: str = "") -> None:
        item = Item(False, text, where)
        if item not in self.items:
            self.items.append(item)

    def fix_all(self, texts: list[str]) -> None:
        for text in texts:
            self.fix(text)

    @property
    def problems(self) -> list[Item]:
        return [i for i in self.items if not i.ok]

    @property
    def ready(self) -> bool:
        return not self.problems and not self.unreachable

    def lines(self) -> list[str]:
        return [i.line() for i in self.items]

    def summary(self) -> str:
        if self.ready:
            return "ready for go-live: every check passed"
        n = len(self.problems)
        return f"not ready: {n} problem(s) to fix before go-live" + (
            f" ({', '.join(self.unreachable)} could not be checked)" if self.unreachable else ""
        )
