"""Regressions from trying `b24-1c check` on broken copies of the shipped mappings: each mistake is reported once,
at its line, with a suggestion where there is one; every problem of every file in one run; no follow-on noise."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.flows.facts import facts_of
from connector.mapping.crosscheck import MONEY_FACTS
from connector.mapping.schema import load_mappings

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ["counterparties", "managers", "orders", "deals_to_orders", "money"]


def folder(tmp_path: Path, **edits: tuple[str, str] | list[tuple[str, str]]) -> Path:
    """A copy of the shipped mappings with text replaced in the named files (`orders=(old, new)`)."""
    for path in (ROOT / "mappings").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for name, change in edits.items():
        path = tmp_path / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        for old, new in change if isinstance(change, list) else [change]:
            assert old in text, f"the shipped {name}.yaml no longer contains {old!r}"
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def problems(directory: Path, flows: list[str] = FLOWS) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_mappings(directory, flows)
    return caught.value.problems


def line_of(directory: Path, name: str, text: str) -> int:
    rows = (directory / f"{name}.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, row in enumerate(rows, start=1) if text in row)


def test_the_shipped_mappings_pass_every_check() -> None:
    assert set(load_mappings(ROOT / "mappings", [*FLOWS, "invoices"])) >= {*FLOWS, "invoices"}


def test_a_field_linking_to_its_own_flow_is_an_error_at_its_line(tmp_path: Path) -> None:
    d = folder(tmp_path, orders=("link: managers          #", "link: orders          #"))
    (found,) = problems(d)
    line = line_of(d, "orders", "link: orders")
    assert found.startswith(
        f"{d / 'orders.yaml'}:{line}: fields.ASSIGNED_BY_ID.link: links to its own flow 'orders'"
    )


def test_an_unknown_stage_in_the_source_filter_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    d = folder(tmp_path, deals_to_orders=("C1:EXECUTING]", "C1:EXECUTNG]"))
    (found,) = problems(d)
    assert f"{d / 'deals_to_orders.yaml'}:{line_of(d, 'deals_to_orders', 'C1:EXECUTNG')}:" in found
    assert (
        "source.filter.STAGE_ID[3]: unknown deal stage 'C1:EXECUTNG'; did you mean 'C1:EXECUTING'?" in found
    )


def test_custom_and_declared_stages_are_known(tmp_path: Path) -> None:
    d = folder(
        tmp_path,
        deals_to_orders=("C1:EXECUTING]", "C1:UC_7KQ2ZX, C2:SHIPPING]"),
        money=("user_fields:\n", 'stages:\n  C2:SHIPPING: {name: "Отгрузка"}\n\nuser_fields:\n'),
    )
    assert "deals_to_orders" in load_mappings(d, FLOWS)


def test_an_unknown_stage_in_a_stage_rule_is_an_error(tmp_path: Path) -> None:
    d = folder(tmp_path, money=("then: FINAL_INVOICE ", "then: FINAL_INVOICES "))
    (found,) = problems(d)
    assert (
        "fields.STAGE_ID.when[1].then: unknown deal stage 'FINAL_INVOICES'; did you mean 'FINAL_INVOICE'?"
        in found
    )


@pytest.mark.parametrize(
    "broken",
    [("flow: deals_to_orders", "flow: deals_to_orders\nbogus: 1"), ("flow: deals_to_orders", "flow: [deals")],
    ids=["an unknown key", "a YAML syntax error"],
)
def test_a_broken_file_adds_no_unknown_flow_errors_elsewhere(tmp_path: Path, broken: tuple[str, str]) -> None:
    found = problems(folder(tmp_path, deals_to_orders=broken))
    assert len(found) == 1 and "deals_to_orders.yaml:" in found[0], found


def test_a_file_that_is_not_yaml_still_names_its_flow(tmp_path: Path) -> None:
    """The flow a broken file means is read from its `flow:` line, whatever the file is called."""
    d = folder(tmp_path, orders=("fields: [Description, Артикул]", "fields: [Description, Артикул"))
    (d / "orders.yaml").rename(d / "orders_custom.yaml")
    found = problems(d)
    assert len(found) == 1 and "orders_custom.yaml:" in found[0] and "YAML syntax error" in found[0], found


def test_a_broken_file_that_others_link_to_adds_no_unknown_flow_errors(tmp_path: Path) -> None:
    """Regression: a broken orders.yaml added 3 false errors (also_link, invoices' link, money.attach_to)."""
    found = problems(folder(tmp_path, orders=("type: money", "type: mony")))
    assert len(found) == 1 and "orders.yaml:" in found[0], found


def test_an_unknown_flow_is_named_with_a_suggestion_and_the_flows_the_mappings_define(tmp_path: Path) -> None:
    (found,) = problems(folder(tmp_path, orders=("link: managers          #", "link: manager          #")))
    assert "field ASSIGNED_BY_ID: link to unknown flow 'manager'; did you mean 'managers'?" in found
    # The list is what the mappings folder defines (invoices too), not what config.flows runs.
    assert (
        "(the mappings define: counterparties, deals_to_orders, fans, invoices, managers, money, orders, rollups)"
        in found
    )


def test_a_typo_in_a_when_rule_of_the_money_flow_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    d = folder(tmp_path, money=("{field: paid_percent, gt: 0}", "{field: paid_prcent, gt: 0}"))
    (found,) = problems(d)
    assert found.startswith(
        f"{d / 'money.yaml'}:{line_of(d, 'money', 'paid_prcent')}: fields.STAGE_ID.when[2]"
    )
    assert "'paid_prcent' is not a fact of money records; did you mean 'paid_percent'?" in found


def test_a_typo_nested_in_a_when_group_and_in_an_invoice_rule_is_found(tmp_path: Path) -> None:
    d = folder(
        tmp_path,
        money=("{field: fully_shipped, eq: true}", "{field: fully_shiped, eq: true}"),
        invoices=("{field: order_fully_paid, eq: true}", "{field: order_fuly_paid, eq: true}"),
    )
    found = problems(d, [*FLOWS, "invoices"])
    assert any("when[0].if.all[1].field: 'fully_shiped'" in p and "'fully_shipped'?" in p for p in found), (
        found
    )
    assert any(
        "'order_fuly_paid' is not a fact of invoice records; did you mean 'order_fully_paid'?" in p
        for p in found
    )


def test_a_mistyped_type_gets_a_suggestion(tmp_path: Path) -> None:
    (found,) = problems(folder(tmp_path, orders=("type: money", "type: mony")))
    assert "fields.OPPORTUNITY.type: 'mony' is not one of 'string', 'money'" in found
    assert found.endswith("did you mean 'money'?")


def test_every_problem_of_every_file_is_reported_in_one_run(tmp_path: Path) -> None:
    """Regression: a lookup typo appeared only once the file's other errors were fixed."""
    d = folder(
        tmp_path,
        orders=[("type: money", "type: mony"), ("lookup: currencies.Code", "lookup: currency.Code")],
        money=("{field: paid_percent, gt: 0}", "{field: paid_prcent, gt: 0}"),
        deals_to_orders=("C1:EXECUTING]", "C1:EXECUTNG]"),
    )
    found = problems(d)
    for words in ("'mony'", "lookup table 'currency' is not declared", "'paid_prcent'", "'C1:EXECUTNG'"):
        assert sum(words in p for p in found) == 1, (words, found)
    assert len(found) == 4, found


def test_a_managers_table_takes_bare_and_quoted_user_ids(tmp_path: Path) -> None:
    d = folder(tmp_path, managers=("table: {}", 'table:\n  "0a1b": 3\n  "0a1c": "4"'))
    assert load_mappings(d, FLOWS)["managers"].table == {"0a1b": "3", "0a1c": "4"}


def test_the_fact_names_the_check_knows_are_the_facts_the_money_flow_computes() -> None:
    order = {"Ref_Key": "o", "СуммаДокумента": 100}
    assert tuple(facts_of(order, [], (Decimal(0), Decimal(0)), False, date(2024, 1, 1))) == MONEY_FACTS
