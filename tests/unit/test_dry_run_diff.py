"""What a dry run prints: creates and updates as a diff; a flow that never creates (managers) shows the links it
would record."""

from __future__ import annotations

from typing import Any, cast

from connector.bitrix24.client import Bitrix24Client, Reply
from connector.dryrun import plan_lines
from connector.engine.report import RunReport
from connector.flows.managers.target import UserMatcher
from connector.records import Action, Mapped


class _Portal:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def call(self, method: str, params: dict[str, Any] | None = None, *, write: bool = False) -> Reply:
        self.calls.append(method)
        assert method == "user.get" and not write
        return Reply([{"ID": "7", "EMAIL": "Ivanov@Example.ru"}, {"ID": "9", "EMAIL": ""}])


def _report(*actions: Action) -> RunReport:
    report = RunReport("managers", "sync", dry_run=True)
    report.planned.extend(actions)
    return report


def test_a_dry_run_of_managers_shows_links_never_creates() -> None:
    portal = _Portal()
    matcher = UserMatcher(cast(Bitrix24Client, portal), {"u-3": 3})  # type: ignore[dict-item]  # a bare YAML id
    report = _report(
        Action("create", Mapped("u-1", "v", {"EMAIL": "ivanov@example.ru"}, label="Иванов")),
        Action("create", Mapped("u-2", "v", {"EMAIL": "petrov@example.ru"}, label="Петров")),
        Action("create", Mapped("U-3", "v", {"EMAIL": ""}, label="Сидоров")),
    )
    lines = plan_lines(report, matcher)
    assert lines == [
        "= link: Иванов → Bitrix24 user 7 (by e-mail ivanov@example.ru)",
        "= link: Петров → no link: no active Bitrix24 user has the e-mail 'petrov@example.ru'",
        "= link: Сидоров → Bitrix24 user 3 (from table:)",
    ]
    assert portal.calls == ["user.get"]  # read once, nothing written


def test_a_dry_run_of_a_creating_flow_lists_the_fields_of_each_create() -> None:
    report = _report(Action("create", Mapped("o-1", "v", {"TITLE": "Заказ 1", "@x": 1}, label="Заказ 1")))
    assert plan_lines(report, object()) == ["+ create: Заказ 1", "    + TITLE = 'Заказ 1'"]
