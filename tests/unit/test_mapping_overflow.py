"""A text longer than the mapping's max_length is cut with a warning naming the record and field (in the log and
the run's report, which `sync` prints), or fails the record with `on_overflow: fail`; never cut silently."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from rich.console import Console

from connector.cli import common
from connector.engine.report import RunReport
from connector.mapping.engine import map_record
from connector.mapping.schema import Mapping, load_mapping
from connector.records import Action

TZ = ZoneInfo("Europe/Moscow")
LOOKUPS: dict[str, Any] = {}
LONG = "Комментарий." * 900  # about 10 K characters
YAML = """
flow: orders
source: {entity: Document_ЗаказКлиента, key: Ref_Key, label: "{Number}"}
target: {entity: deal, external_key: {field: ORIGIN_ID}}
fields:
  TITLE: {source: Number, max_length: 255}
  COMMENTS: {source: Комментарий, max_length: 2000}
"""


def order(**changes: Any) -> dict[str, Any]:
    return {
        "Ref_Key": "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01",
        "Number": "ЦБ00-000125",
        "Комментарий": "",
    } | changes


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Mapping:
    path: Path = tmp_path_factory.mktemp("overflow") / "orders.yaml"
    path.write_text(YAML, encoding="utf-8")
    return load_mapping(path)


def test_a_long_comment_is_cut_to_max_length_and_noted_with_its_field(spec: Mapping) -> None:
    m = map_record(spec, order(Комментарий=LONG), LOOKUPS, TZ)
    assert m.error is None
    assert len(m.fields["COMMENTS"]) == 2000 and m.fields["COMMENTS"].endswith("…")
    assert m.notes == (f"COMMENTS: {len(LONG)} characters, more than max_length 2000, cut to 2000",)
    assert map_record(spec, order(Комментарий="short"), LOOKUPS, TZ).notes == ()


def test_on_overflow_fail_fails_the_record_naming_it_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(
        YAML.replace("max_length: 2000}", "max_length: 2000, on_overflow: fail}"), encoding="utf-8"
    )
    failing = load_mapping(path)
    m = map_record(failing, order(Комментарий=LONG), LOOKUPS, TZ)
    assert m.error is not None and not m.deferred
    assert m.error.startswith(m.label) and "ЦБ00-000125" in m.label
    assert f"COMMENTS: {len(LONG)} characters, more than max_length 2000 (on_overflow: fail)" in m.error


def test_the_run_report_logs_and_lists_each_cut_and_sync_prints_it(spec: Mapping) -> None:
    cut = map_record(spec, order(Комментарий=LONG), LOOKUPS, TZ)
    report = RunReport("orders", "incremental")
    with structlog.testing.capture_logs() as logs:
        report.warn([Action("create", cut), Action("skip", cut)])  # an unchanged record is not written again
    (line,) = report.warnings
    assert line.startswith(cut.label) and "COMMENTS:" in line and "cut to 2000" in line
    (event,) = [e for e in logs if e["log_level"] == "warning"]
    assert event["record"] == cut.label and event["field"].startswith("COMMENTS:")
    console = Console(width=400, no_color=True)
    saved, common.out = common.out, console
    try:
        with console.capture() as got:
            common.print_report(report)
    finally:
        common.out = saved
    assert f"warning: {line}" in got.get()
