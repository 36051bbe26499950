"""The order's contract kind (issue 15 point 4) in the money flow's pure parts: a stage rule on the fact
contract_kind, the overdue task's responsible picked by it, and the mapping's checks of money.contract."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.errors import ConfigError
from connector.flows.money.context import OrderContext
from connector.flows.money.payments import PaymentRules
from connector.flows.money.rules import MoneyRules
from connector.ledger import Child
from connector.mapping.engine import FACTS, PAYMENTS, map_record
from connector.mapping.schema import Mapping, MoneySpec, load_mapping
from connector.records import Action, Mapped

MOSCOW = ZoneInfo("Europe/Moscow")
TODAY = date(2026, 3, 10)
MONEY = MoneySpec.model_validate(
    {"overdue": {"responsible_id": 7, "responsible_by_contract_kind": {"Тендер": 17, "Госконтракт": 23}}}
)
OVERDUE = {"pay_due_date": "2026-02-05", "days_overdue": 33, "fully_paid": False, "Number": "ЦБ-1"}


def overdue_task_responsible(kind: str | None) -> Any:
    rules = MoneyRules(MONEY, "money", "1C-test", MOSCOW, PaymentRules("money", "1C-test", MOSCOW))
    record = Mapped("o1", "v1", {FACTS: {**OVERDUE, "contract_kind": kind}, PAYMENTS: []}, label="order ЦБ-1")
    deal = {"ID": "12", "STAGE_ID": "NEW", "CATEGORY_ID": "0", "ASSIGNED_BY_ID": "5"}
    todo = Child("o1", "todo", "due", "77", "open", "2026-02-05T10:00:00+03:00")
    plan = rules.plan(Action("update", record, "12"), OrderContext("12", deal, [todo]), {"NEW": 10}, TODAY, 0)
    ((method, params),) = [command for unit in plan.units for command in unit.values()]
    assert method == "tasks.task.add"
    return params["fields"]["RESPONSIBLE_ID"]


def test_the_overdue_task_goes_to_the_user_configured_for_the_contract_kind() -> None:
    assert overdue_task_responsible("Тендер") == 17
    assert overdue_task_responsible("Госконтракт") == 23
    assert overdue_task_responsible("ОтсрочкаПлатежа") == 7  # a kind not listed: responsible_id
    assert overdue_task_responsible(None) == 7  # no contract, or a contract without a kind


def money_mapping(tmp_path: Path, contract: str, lookups: str) -> Mapping:
    path = tmp_path / "money.yaml"
    path.write_text(
        f"""flow: money
source: {{entity: Document_ЗаказКлиента}}
target: {{entity: deal}}
{lookups}
money:
  attach_to: orders
{contract}
fields:
  STAGE_ID:
    when:
      - if: {{all: [{{field: contract_kind, eq: ОтсрочкаПлатежа}}, {{field: shipped_percent, gt: 0}}]}}
        then: EXECUTING
""",
        encoding="utf-8",
    )
    return load_mapping(path)


LOOKUP = "lookups: {contracts: {entity: Catalog_ДоговорыКонтрагентов, fields: [CRM_ТипДоговора]}}"
CONTRACT = "  contract: {kind: contracts.CRM_ТипДоговора}"


def test_a_stage_rule_reads_the_contract_kind(tmp_path: Path) -> None:
    spec = money_mapping(tmp_path, CONTRACT, LOOKUP)
    assert spec.money is not None and spec.money.contract is not None
    assert spec.money.contract.source == "Договор_Key"  # УТ's order; БП names ДоговорКонтрагента_Key
    order = {"Ref_Key": "o1", "Number": "ЦБ-1", "shipped_percent": "40", "contract_kind": "ОтсрочкаПлатежа"}
    mapped = map_record(spec, order, {}, MOSCOW)
    assert mapped.fields["STAGE_ID"] == "EXECUTING"
    assert mapped.fields[FACTS]["contract_kind"] == "ОтсрочкаПлатежа"  # in the hash and in titles
    prepaid = map_record(spec, {**order, "contract_kind": "ПолнаяПредоплата"}, {}, MOSCOW)
    assert prepaid.fields.get("STAGE_ID") is None


def test_money_contract_needs_its_lookup_and_the_fact_name_passes_the_offline_check(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"money\.contract\.kind 'contracts\.CRM_ТипДоговора': declare lookups"
    ):
        money_mapping(tmp_path, CONTRACT, "")
    lookup_without_the_column = LOOKUP.replace("CRM_ТипДоговора", "Номер")
    with pytest.raises(ConfigError, match="declare lookups"):
        money_mapping(tmp_path, CONTRACT, lookup_without_the_column)
    money_mapping(tmp_path, CONTRACT, LOOKUP)  # contract_kind is a fact of money records: no problem
    path = tmp_path / "money.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("contract_kind", "contract_knd"), "utf-8")
    with pytest.raises(ConfigError) as typo:
        load_mapping(path)
    assert "'contract_knd' is not a fact of money records" in str(typo.value.problems)
