"""The deals → orders chain rules, pure: given an action and what prepare read (orders, deal stamps, bodies), the
steps still missing, and the ones found done (no I/O, the shipped mapping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.flows.deals_to_orders import rules
from connector.flows.deals_to_orders.prepare import Prepared
from connector.mapping.client import NEW_CLIENT
from connector.mapping.schema import load_mapping
from connector.records import Action, Mapped

ROOT = Path(__file__).resolve().parents[2]
SPEC = load_mapping(ROOT / "mappings" / "deals_to_orders.yaml")
ODATA = rules.Options.of(SPEC, soap=False, bitrix24=True, originator="1C-abcdef12")
SOAP = rules.Options.of(SPEC, soap=True, bitrix24=True, originator="1C-abcdef12")
REF = "11111111-2222-3333-4444-555555555555"


def action(kind: str, target: str | None = None, **fields: Any) -> Action:
    record = Mapped("41", "v2", {"ЖелаемаяДатаОтгрузки": "2026-12-10T00:00:00", **fields}, label="deal 41")
    return Action(kind, record, target)  # type: ignore[arg-type]


def body(**more: Any) -> dict[str, Any]:
    return {
        "Контрагент_Key": "cp",
        "НомерПоДаннымКлиента": "B24-41",
        "ЖелаемаяДатаОтгрузки": "2026-12-10T00:00:00",
    } | more


UPDATE = {"ЖелаемаяДатаОтгрузки": "2026-12-10T00:00:00"}  # an update's body: the fields the deal owns


def order(**more: Any) -> dict[str, Any]:
    base = {"Ref_Key": REF, "Posted": True, "Number": "ЦБ-7", "НомерПоДаннымКлиента": "B24-41"}
    return base | {"ЖелаемаяДатаОтгрузки": "2026-12-10T00:00:00"} | more


def names(plan: Any) -> list[str]:
    return [s.name for s in plan.steps]


def test_a_create_runs_the_whole_chain_across_both_systems() -> None:
    plan = rules.plan_record(SPEC, ODATA, action("create"), Prepared(bodies={"41": body()}))
    assert names(plan) == ["create", "post", "read number", "write-back"]
    assert [s.system for s in plan.steps] == ["onec", "onec", "onec", "bitrix24"]
    write_back = plan.steps[-1]
    assert write_back.target_id == "41"
    assert write_back.fields == ("UF_CRM_1C_ORDER_NUMBER", "ORIGINATOR_ID", "ORIGIN_ID")


def test_a_client_1c_does_not_know_is_made_first_and_soap_creates_and_posts_in_one_step() -> None:
    prepared = Prepared(bodies={"41": body(Контрагент_Key={NEW_CLIENT: {"company": "98"}})})
    plan = rules.plan_record(SPEC, ODATA, action("create"), prepared)
    assert names(plan) == ["client", "create", "post", "read number", "write-back"]
    assert plan.steps[0].target_id == "98" and plan.steps[0].fields == ("Контрагент_Key",)
    assert names(rules.plan_record(SPEC, SOAP, action("create"), prepared)) == [
        "client",
        "CreateOrder",
        "write-back",
    ]


def test_an_update_of_a_finished_chain_sends_only_what_differs() -> None:
    prepared = Prepared(
        orders={REF: order(ЖелаемаяДатаОтгрузки="2026-12-01T00:00:00")},
        deals={"41": {"ID": "41", "ORIGIN_ID": REF, "ORIGINATOR_ID": "1C-abcdef12"}},
        bodies={"41": UPDATE},
    )
    plan = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert names(plan) == ["update"] and plan.steps[0].fields == ("ЖелаемаяДатаОтгрузки",)
    assert plan.done == ["post", "read number", "write-back"]
    prepared.orders[REF] = order()
    nothing = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert nothing.steps == [] and "update" in nothing.done


def test_our_order_whose_deal_is_not_stamped_gets_the_missing_steps_only() -> None:
    prepared = Prepared(orders={REF: order(Posted=False)}, deals={"41": {"ID": "41"}}, bodies={"41": UPDATE})
    plan = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert names(plan) == ["post", "write-back"] and plan.done == ["update", "read number"]
    prepared.orders[REF] = order()  # posted (the post's reply was lost, or 1C posted it): only the write-back
    plan = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert names(plan) == ["write-back"] and "post" in plan.done


def test_an_order_made_in_1c_is_never_posted_or_stamped_by_us() -> None:
    prepared = Prepared(orders={REF: order(Posted=False, НомерПоДаннымКлиента="")}, bodies={"41": UPDATE})
    plan = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert "post" not in names(plan) and "write-back" not in names(plan)


def test_a_gone_order_and_an_unresolved_reference_are_problems_with_nothing_to_send() -> None:
    gone = rules.plan_record(SPEC, ODATA, action("update", REF), Prepared())
    assert gone.steps == [] and "is gone (deleted in 1C)" in gone.problems[0]
    bad = Prepared(problems={"41": "Номенклатура_Key: no Catalog_Номенклатура = 'x' in 1C"})
    plan = rules.plan_record(SPEC, ODATA, action("create"), bad)
    assert plan.steps == [] and plan.problems == [bad.problems["41"]]


def test_an_update_for_a_client_1c_does_not_know_sends_the_client_and_what_derives_from_it() -> None:
    wanted = {**UPDATE, "Контрагент_Key": {NEW_CLIENT: {"company": "98"}}}
    prepared = Prepared(orders={REF: order(НомерПоДаннымКлиента="")}, bodies={"41": wanted})
    plan = rules.plan_record(SPEC, ODATA, action("update", REF), prepared)
    assert names(plan) == ["client", "update"]
    assert plan.steps[1].fields == (
        "Контрагент_Key",
        "Партнер_Key",
    )  # УТ: the partner read from the counterparty
