"""A dry run's planned writes as a reviewable diff: `+` creates with their fields, `~` updates as old → new.

Pure text: the command line prints the lines, nothing here writes to a terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.errors import ConnectorError


def plan_lines(report: Any, target: Any = None, note: Callable[[str], None] | None = None) -> list[str]:
    """The diff of `report.planned`; updates are compared with `target.current` when the target can read them.

    A failed read of the current values is passed to `note` (the updates are then shown with their new values only).
    """
    updates = [a.target_id for a in report.planned if a.kind == "update" and a.target_id]
    now: dict[str, dict[str, Any]] = {}
    if updates and hasattr(target, "current"):
        try:
            now = target.current(updates)
        except ConnectorError as exc:
            if note is not None:
                note(f"(cannot read the current values for the diff: {exc})")
    lines: list[str] = []
    if note is not None:
        for text in getattr(report, "notes", []):
            note(text)
    plans = {p.key: p for p in getattr(report, "plans", [])}
    if getattr(
        target, "links_only", False
    ):  # a flow that never creates (managers): the links it would record
        return _link_lines(report, target, note)
    adopted: dict[str, tuple[str, str]] = {}
    if plans and hasattr(target, "adopted_in"):  # what the plans' prepare found: no second read
        adopted = target.adopted_in(plans.values())
    elif any(a.kind == "create" for a in report.planned) and hasattr(target, "adoptions"):
        try:  # what a real run would recognise (a company found by ИНН/КПП) is linked, not created
            adopted = target.adoptions(report.planned)
        except ConnectorError as exc:
            if note is not None:
                note(f"(cannot look for existing companies and contacts for the dry run: {exc})")
    for action in report.planned:
        fields = {k: v for k, v in action.record.fields.items() if not k.startswith("@")}
        found = adopted.get(action.record.key) if action.kind == "create" else None
        if found is not None:
            lines.append(f"= link ({found[1]}): {action.record.label} → {found[0]}")
        elif action.kind == "create":
            lines.append(f"+ create: {action.record.label}")
            for name, value in action.record.create_fields().items():
                if not name.startswith("@"):
                    lines.append(f"    + {name} = {value!r}")
        else:
            old = now.get(str(action.target_id), {})
            lines.append(f"~ update {action.target_id}: {action.record.label}")
            for name, value in fields.items():
                before = old.get(name)
                if not old:
                    lines.append(f"    ~ {name} = {value!r}")
                elif differs(before, value):
                    lines.append(f"    ~ {name}: {before!r} → {value!r}")
        if action.record.rows is not None and (action.kind == "create" or not action.record.rows_on_create):
            lines.append(f"    rows: {len(action.record.rows)}")
        lines.extend(step_lines(plans.get(action.record.key)))
    return lines


def step_lines(plan: Any) -> list[str]:
    """A record's plan under its diff: the steps it would run, what the rules found already done, and why it
    would fail before sending anything."""
    if plan is None:
        return []
    names = ", ".join(step.name for step in plan.steps)
    lines = [f"    steps: {names or 'none'}"]
    lines += [f"    done: {text}" for text in plan.done]
    lines += [f"    problem: {text}" for text in plan.problems]
    return lines


def _link_lines(report: Any, target: Any, note: Callable[[str], None] | None) -> list[str]:
    """`= link` lines of a target that only links: what each record would be linked to, nothing written."""
    try:
        found: dict[str, str] = target.preview(report.planned)
    except ConnectorError as exc:
        found = {}
        if note is not None:
            note(f"(cannot read the matches for the dry run: {exc})")
    return [f"= link: {a.record.label} → {found.get(a.record.key, '(not read)')}" for a in report.planned]


def differs(before: Any, after: Any) -> bool:
    """Whether a field's current value shows differently from the planned one (money to the kopeck, dates by day)."""
    if before is None and after in ("", None):
        return False
    try:
        return abs(float(str(before)) - float(str(after))) > 0.005
    except (TypeError, ValueError):
        return (
            str(before)[:10] != str(after)[:10]
            if str(after)[:4].isdigit() and len(str(after)) == 10
            else str(before) != str(after)
        )
