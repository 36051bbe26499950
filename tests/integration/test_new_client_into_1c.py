"""A deal for a client 1C does not know yet: the counterparty (and its УТ partner) is made in 1C first, then the
order, which posts; a SIGKILL between making them and making the order never leaves a twin (counted in 1C through
OData); a client 1C already has (by ИНН+КПП, by ИНН alone for an entrepreneur) is taken, not twinned."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.config import load_config
from tests.integration.test_proof_phases import KILLED, cli, write_config

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "deals_to_orders"]
ORDER = "Document_ЗаказКлиента"
CPS, PARTNERS = "Catalog_Контрагенты", "Catalog_Партнеры"


@pytest.fixture
def box() -> Iterator[Any]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=12, seed=5, rate_limit="off")) as sandbox:
        yield sandbox


@pytest.fixture
def setup(box: Any, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], Connector]]:
    path, env = write_config(tmp_path, box)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"(?m)^flows:.*$", f"flows: [{', '.join(FLOWS)}]", text), encoding="utf-8")
    own = {**env, "B24_1C_LEDGER": str(tmp_path / "in-process.sqlite3")}  # the CLI runs hold the other's lock
    with Connector(load_config(path, env=own)) as conn:
        conn.setup()
        yield path, env, conn


def hand_made_company(conn: Connector, inn: str, kpp: str = "", title: str = "ООО «Новый клиент»") -> str:
    """A company a manager typed into Bitrix24, with a requisite, a phone and an e-mail; 1C has never seen it."""
    fields = {
        "TITLE": title,
        "PHONE": [{"VALUE": "+7 912 555-01-02", "VALUE_TYPE": "WORK"}],
        "EMAIL": [{"VALUE": "zakaz@novyi-klient.ru", "VALUE_TYPE": "WORK"}],
    }
    company = str(conn.bitrix24.call("crm.company.add", {"fields": fields}, write=True).result)
    person = {"NAME": "Ольга", "LAST_NAME": "Смирнова", "POST": "Снабженец", "COMPANY_ID": company}
    person["PHONE"] = [{"VALUE": "+7 912 555-01-03", "VALUE_TYPE": "MOBILE"}]
    conn.bitrix24.call("crm.contact.add", {"fields": person}, write=True)
    requisite = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company, "PRESET_ID": 2 if len(inn) == 12 else 1}
    requisite |= {"NAME": title, "RQ_INN": inn, **({"RQ_KPP": kpp} if kpp else {})}
    conn.bitrix24.call("crm.requisite.add", {"fields": requisite}, write=True)
    return company


def deal_for(conn: Connector, box: Any, **client: str) -> str:
    product = box.dataset.products[0]
    fields = {"TITLE": "Заказ нового клиента", "STAGE_ID": "EXECUTING", "CURRENCY_ID": "RUB", **client}
    deal = str(conn.bitrix24.call("crm.deal.add", {"fields": fields}, write=True).result)
    row = {"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 3}
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
    return deal


def in_1c(conn: Connector, entity: str, **where: str) -> list[dict[str, Any]]:
    """Objects of a 1C entity set with these attribute values, read through OData."""
    flt = " and ".join(f"{k} eq '{v}'" for k, v in where.items())
    return conn.odata.query(entity, filter=flt)


def marked(conn: Connector, entity: str, marker: str) -> list[dict[str, Any]]:
    return [
        r for r in conn.odata.query(entity, select=["Ref_Key", "Комментарий"]) if marker in r["Комментарий"]
    ]


@pytest.mark.slow  # three runs of the CLI as processes (about 15 s); the in-process twin below is fast
@pytest.mark.parametrize("phase", ["partner-made", "client-made"])
def test_a_kill_between_the_new_client_and_its_order_never_makes_a_twin(
    box: Any, setup: tuple[Path, dict[str, str], Connector], phase: str
) -> None:
    path, env, conn = setup
    inn, kpp = "7712345678", "771201001"
    company = hand_made_company(conn, inn, kpp)
    deal = deal_for(conn, box, COMPANY_ID=company)
    killed = cli(path, env, "sync", "deals_to_orders", crash=f"{phase}:1")
    assert killed.returncode == KILLED, killed.stdout + killed.stderr
    assert in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}") == []

    done = cli(path, env, "sync", "deals_to_orders")
    assert done.returncode == 0, done.stdout + done.stderr
    (cp,) = in_1c(conn, CPS, ИНН=inn)  # one counterparty for the ИНН, whatever the kill interrupted
    marker = f"company {company}"
    assert len(marked(conn, PARTNERS, marker)) == 1 and len(marked(conn, CPS, marker)) == 1
    assert cp["КПП"] == kpp and cp["Description"] == "ООО «Новый клиент»" and cp["ЮрФизЛицо"] == "ЮрЛицо"
    kinds = {(r["Тип"], r["Представление"]) for r in cp["КонтактнаяИнформация"]}
    assert kinds == {("Телефон", "+7 912 555-01-02"), ("АдресЭлектроннойПочты", "zakaz@novyi-klient.ru")}
    (order,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}")
    assert order["Posted"] and order["Контрагент_Key"] == cp["Ref_Key"]
    assert order["Партнер_Key"] == cp["Партнер_Key"] != "00000000-0000-0000-0000-000000000000"
    (person,) = in_1c(
        conn, "Catalog_КонтактныеЛицаПартнеров", Description="Смирнова Ольга"
    )  # one, after the kill
    assert person["Owner_Key"] == cp["Партнер_Key"] and person["ДолжностьПоВизитке"] == "Снабженец"
    assert [r["Представление"] for r in person["КонтактнаяИнформация"]] == ["+7 912 555-01-03"]
    stamped = conn.bitrix24.call("crm.company.list", {"filter": {"ID": company}, "select": ["ORIGIN_ID"]})
    assert stamped.result[0]["ORIGIN_ID"] == cp["Ref_Key"]

    # The 1C → Bitrix24 counterparties flow sees the new counterparty and links the same company, no twin.
    report = conn.runner("counterparties").incremental(30)
    assert report.failed == 0, report.errors
    requisites = conn.bitrix24.call(
        "crm.requisite.list", {"filter": {"RQ_INN": inn}, "select": ["ENTITY_ID"]}
    )
    assert {r["ENTITY_ID"] for r in requisites.result} == {company}


def test_a_run_dying_after_the_new_client_leaves_a_client_the_next_run_takes(
    box: Any, setup: tuple[Path, dict[str, str], Connector], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast in-process twin of the SIGKILL proof: the run dies after the counterparty is made, when it stamps
    the company (so neither the stamp nor the order exists)."""
    _, _, conn = setup
    inn, kpp = "7798765432", "779801001"
    company = hand_made_company(conn, inn, kpp)
    deal = deal_for(conn, box, COMPANY_ID=company)
    call = conn.bitrix24.call

    def dies_at_the_stamp(method: str, params: Any = None, **kw: Any) -> Any:
        if method == "crm.company.update":
            raise KeyboardInterrupt  # the process ends here, as under a kill: nothing after it runs
        return call(method, params, **kw)

    monkeypatch.setattr(conn.bitrix24, "call", dies_at_the_stamp)
    with pytest.raises(KeyboardInterrupt):
        conn.runner("deals_to_orders").incremental(30)
    monkeypatch.setattr(conn.bitrix24, "call", call)
    assert (
        len(in_1c(conn, CPS, ИНН=inn)) == 1 and in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}") == []
    )
    report = conn.runner("deals_to_orders").incremental(30)
    assert report.failed == 0, report.errors
    (cp,) = in_1c(conn, CPS, ИНН=inn)
    assert len(marked(conn, PARTNERS, f"company {company}")) == 1
    assert len(in_1c(conn, "Catalog_КонтактныеЛицаПартнеров", Description="Смирнова Ольга")) == 1
    (order,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}")
    assert order["Posted"] and order["Контрагент_Key"] == cp["Ref_Key"]
    # A second deal for the same company takes the same counterparty.
    second = deal_for(conn, box, COMPANY_ID=company)
    assert conn.runner("deals_to_orders").incremental(30).failed == 0
    (again,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{second}")
    assert again["Контрагент_Key"] == cp["Ref_Key"] and len(in_1c(conn, CPS, ИНН=inn)) == 1


def test_an_entrepreneur_1c_has_is_found_by_inn_alone_and_a_deal_without_client_fails_with_its_reason(
    box: Any, setup: tuple[Path, dict[str, str], Connector]
) -> None:
    _, _, conn = setup
    inn = "771234567890"  # 12 digits: an individual entrepreneur, no КПП
    made = conn.odata.create(
        CPS, {"Description": "ИП Сидоров", "ИНН": inn, "ЮрФизЛицо": "ИндивидуальныйПредприниматель"}
    )
    company = hand_made_company(conn, inn, title="ИП Сидоров Семён")
    deal = deal_for(conn, box, COMPANY_ID=company)
    nobody = deal_for(conn, box)
    report = conn.runner("deals_to_orders").incremental(30)
    (order,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}")
    assert order["Контрагент_Key"] == made["Ref_Key"] and len(in_1c(conn, CPS, ИНН=inn)) == 1
    assert report.failed == 1 and in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{nobody}") == []
    (reason,) = [e for e in report.errors if f"deal {nobody}" in e]
    assert "neither a company (COMPANY_ID) nor a contact (CONTACT_ID)" in reason
    (letter,) = conn.ledger.dead_letters("deals_to_orders")  # open, not waiting: it cannot resolve by itself
    assert letter.source_key == nobody and "neither a company" in letter.reason


def test_a_company_without_inn_or_with_a_wrong_one_fails_its_deal_instead_of_reaching_1c(
    box: Any, setup: tuple[Path, dict[str, str], Connector]
) -> None:
    _, _, conn = setup
    bare = str(
        conn.bitrix24.call("crm.company.add", {"fields": {"TITLE": "Без реквизитов"}}, write=True).result
    )
    without = deal_for(conn, box, COMPANY_ID=bare)
    wrong = deal_for(conn, box, COMPANY_ID=hand_made_company(conn, "77123", title="Кривой ИНН"))
    report = conn.runner("deals_to_orders").incremental(30)
    reasons = {e.split("(deal ")[1].split(")")[0]: e for e in report.errors}
    assert "has no ИНН in its requisites" in reasons[without] and "ИНН '77123'" in reasons[wrong]
    assert (
        conn.odata.query(CPS, filter="Description eq 'Без реквизитов' or Description eq 'Кривой ИНН'") == []
    )


def test_a_deal_with_only_a_contact_makes_a_private_person(
    box: Any, setup: tuple[Path, dict[str, str], Connector]
) -> None:
    _, _, conn = setup
    fields = {
        "NAME": "Анна",
        "LAST_NAME": "Кузнецова",
        "PHONE": [{"VALUE": "+7 903 111-22-33", "VALUE_TYPE": "MOBILE"}],
    }
    contact = str(conn.bitrix24.call("crm.contact.add", {"fields": fields}, write=True).result)
    deal = deal_for(conn, box, CONTACT_ID=contact)
    report = conn.runner("deals_to_orders").incremental(30)
    assert report.failed == 0, report.errors
    (order,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}")
    (cp,) = conn.odata.by_refs(CPS, [order["Контрагент_Key"]]).values()
    assert cp["Description"] == "Кузнецова Анна" and cp["ЮрФизЛицо"] == "ФизЛицо" and order["Posted"]


def test_1c_refusing_the_new_client_fails_that_deal_with_1c_s_reason(
    box: Any, setup: tuple[Path, dict[str, str], Connector], monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.errors import RemoteRejected

    _, _, conn = setup
    deal = deal_for(conn, box, COMPANY_ID=hand_made_company(conn, "7711111111", "771101001"))
    create = conn.odata.create

    def refuses_counterparties(entity: str, fields: Any) -> dict[str, Any]:
        if entity == CPS:
            raise RemoteRejected("1C: Не удалось записать: ИНН указан неверно", system="1c")
        return create(entity, fields)

    monkeypatch.setattr(conn.odata, "create", refuses_counterparties)
    report = conn.runner("deals_to_orders").incremental(30)
    (error,) = report.errors
    assert (
        f"deal {deal}" in error and "1C refused the deal's client" in error and "ИНН указан неверно" in error
    )
    assert in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}") == []


def test_a_run_dying_before_the_counterparty_reuses_the_partner_and_its_contact_persons(
    box: Any, setup: tuple[Path, dict[str, str], Connector], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, conn = setup
    inn = "7722222222"
    company = hand_made_company(conn, inn, "772201001")
    deal = deal_for(conn, box, COMPANY_ID=company)
    create = conn.odata.create

    def dies_at_the_counterparty(entity: str, fields: Any) -> dict[str, Any]:
        if entity == CPS:
            raise KeyboardInterrupt  # as under a kill: the partner and its contact persons exist, nothing else
        return create(entity, fields)

    monkeypatch.setattr(conn.odata, "create", dies_at_the_counterparty)
    with pytest.raises(KeyboardInterrupt):
        conn.runner("deals_to_orders").incremental(30)
    monkeypatch.setattr(conn.odata, "create", create)
    assert conn.runner("deals_to_orders").incremental(30).failed == 0
    (partner,) = marked(conn, PARTNERS, f"company {company}")
    people = in_1c(conn, "Catalog_КонтактныеЛицаПартнеров", Description="Смирнова Ольга")
    assert [p["Owner_Key"] for p in people] == [partner["Ref_Key"]]  # one, not one per attempt
    (cp,) = in_1c(conn, CPS, ИНН=inn)
    (order,) = in_1c(conn, ORDER, НомерПоДаннымКлиента=f"B24-{deal}")
    assert cp["Партнер_Key"] == partner["Ref_Key"] and order["Контрагент_Key"] == cp["Ref_Key"]
