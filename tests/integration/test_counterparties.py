"""The counterparties flow end to end over HTTP: 1C Контрагенты → Bitrix24 companies with requisites, contacts for
individuals; recognition by INN+KPP, external key, phone and e-mail; never a company twice."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from connector.app import Connector
from connector.flows.counterparties.target import CounterpartyWriter
from connector.mapping.schema import ExternalKey
from connector.records import Action, Mapped
from tests.conftest import ROOT, make_config, sandbox_installation

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Europe/Moscow")
SINCE = datetime(2017, 1, 1, tzinfo=TZ)
CATALOG = "Catalog_Контрагенты"
WRITES = {
    "crm.company.add",
    "crm.company.update",
    "crm.contact.add",
    "crm.contact.update",
    "crm.requisite.add",
    "crm.requisite.update",
}


@pytest.fixture(autouse=True)
def requisite_update() -> Iterator[None]:
    """The Bitrix24 emulator has no crm.requisite.update yet; serve it here the way the portal does."""
    from b24_1c_sandbox.bitrix24.companies import REQUISITE_FIELDS
    from b24_1c_sandbox.bitrix24.errors import legacy
    from b24_1c_sandbox.bitrix24.legacy import fields_param, id_param
    from b24_1c_sandbox.bitrix24.registry import METHODS, method

    if "crm.requisite.update" in METHODS:
        yield
        return

    def update(portal: Any, params: dict[str, Any], ctx: Any) -> bool:
        row = portal.table("requisite").get(id_param(params))
        if row is None:
            raise legacy("Not found")
        for name, value in fields_param(params).items():
            name = str(name).upper()
            if name in REQUISITE_FIELDS and name not in ("ID", "ENTITY_TYPE_ID", "ENTITY_ID", "DATE_CREATE"):
                row[name] = None if value is None else str(value)
        row["DATE_MODIFY"] = portal.iso_now()
        return True

    method("crm.requisite.update", "crm", write=True)(update)
    try:
        yield
    finally:
        METHODS.pop("crm.requisite.update", None)


@pytest.fixture
def conn(sandbox: Sandbox, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    with Connector(config.model_copy(update={"flows": ["counterparties"]})) as c:
        yield c


def counterparties(box: Sandbox) -> dict[str, dict[str, Any]]:
    return {c["Ref_Key"]: c for c in box.infobase.all(CATALOG) if not c["DeletionMark"] and not c["IsFolder"]}


def companies(box: Sandbox) -> list[dict[str, Any]]:
    """Customer companies (the portal's own company, seeded with it, left out)."""
    return [c for c in box.portal.entities.get("company", {}).values() if c.get("IS_MY_COMPANY") != "Y"]


def contacts(box: Sandbox) -> list[dict[str, Any]]:
    return list(box.portal.entities.get("contact", {}).values())


def requisites(box: Sandbox, type_id: int = 4, owner: str | int | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in box.portal.table("requisite").values()
        if int(r["ENTITY_TYPE_ID"]) == type_id and (owner is None or str(r["ENTITY_ID"]) == str(owner))
    ]


def by_origin(rows: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["ORIGIN_ID"] for r in rows if r.get("ORIGINATOR_ID") == sandbox_installation())


def writes(box: Sandbox) -> int:
    return sum(1 for c in box.portal.calls if c.method in WRITES)


def add_counterparty(
    box: Sandbox, name: str, inn: str, kpp: str = "", form: str = "ЮрЛицо"
) -> dict[str, Any]:
    return box.infobase.insert(
        CATALOG, {"Description": name, "НаименованиеПолное": name, "ИНН": inn, "КПП": kpp, "ЮрФизЛицо": form}
    )


def legal(box: Sandbox) -> list[dict[str, Any]]:
    return [c for c in counterparties(box).values() if c["ЮрФизЛицо"] == "ЮрЛицо"]


def test_backfill_creates_companies_with_requisites_and_contacts_for_individuals(
    sandbox: Sandbox, conn: Connector
) -> None:
    report = conn.runner("counterparties").backfill(SINCE, None)
    source = counterparties(sandbox)
    people = {k for k, c in source.items() if c["ЮрФизЛицо"] == "ФизЛицо"}
    assert people and report.failed == 0 and report.created == len(source)
    assert set(by_origin(companies(sandbox))) == set(source) - people
    assert set(by_origin(contacts(sandbox))) == people
    assert max(by_origin(companies(sandbox) + contacts(sandbox)).values()) == 1
    for company in companies(sandbox):
        cp = source[company["ORIGIN_ID"]]
        assert company["TITLE"] == cp["Description"]
        [req] = requisites(sandbox, 4, company["ID"])
        assert req["RQ_INN"] == cp["ИНН"] and (req["RQ_KPP"] or "") == cp["КПП"]
        assert req["PRESET_ID"] == ("1" if cp["ЮрФизЛицо"] == "ЮрЛицо" else "2")
        assert req["XML_ID"] == cp["Ref_Key"] and req["NAME"] == cp["Description"]
    person = next(c for c in contacts(sandbox))
    last, first = source[person["ORIGIN_ID"]]["Description"].split()[:2]
    assert (person["LAST_NAME"], person["NAME"]) == (last, first)
    assert requisites(sandbox, 3, person["ID"])[0]["PRESET_ID"] == "3"
    links = conn.ledger.links("counterparties", [person["ORIGIN_ID"]])
    assert links[person["ORIGIN_ID"]].target_id == f"C_{person['ID']}"


def test_branch_with_the_same_inn_and_another_kpp_is_a_separate_company(
    sandbox: Sandbox, conn: Connector
) -> None:
    head = legal(sandbox)[0]
    branch = add_counterparty(
        sandbox, head["Description"] + " (филиал)", head["ИНН"], head["КПП"][:4] + "02001"
    )
    conn.runner("counterparties").backfill(SINCE, None)
    ids = {c["ORIGIN_ID"]: c["ID"] for c in companies(sandbox)}
    assert ids[head["Ref_Key"]] != ids[branch["Ref_Key"]]
    assert [r["RQ_KPP"] for r in requisites(sandbox, 4, ids[branch["Ref_Key"]])] == [branch["КПП"]]


def test_same_inn_and_kpp_twice_in_1c_is_one_company_in_one_page_and_across_runs(
    sandbox: Sandbox, conn: Connector
) -> None:
    first, second = legal(sandbox)[:2]
    twin = add_counterparty(sandbox, first["Description"] + " (дубль)", first["ИНН"], first["КПП"])
    conn.runner("counterparties").backfill(SINCE, None)
    assert len(companies(sandbox)) == len(counterparties(sandbox)) - 1 - sum(
        1 for c in counterparties(sandbox).values() if c["ЮрФизЛицо"] == "ФизЛицо"
    )
    links = conn.ledger.links("counterparties", [first["Ref_Key"], twin["Ref_Key"]])
    assert links[first["Ref_Key"]].target_id == links[twin["Ref_Key"]].target_id
    later = add_counterparty(sandbox, "ООО «Ещё дубль»", second["ИНН"], second["КПП"])
    before = len(companies(sandbox))
    report = conn.runner("counterparties").incremental(30)
    assert report.created == 1 and len(companies(sandbox)) == before
    links = conn.ledger.links("counterparties", [second["Ref_Key"], later["Ref_Key"]])
    assert links[second["Ref_Key"]].target_id == links[later["Ref_Key"]].target_id
    owner = links[second["Ref_Key"]].target_id
    assert len(requisites(sandbox, 4, owner)) == 1  # the twin's requisite is the same one: not added twice
    assert next(c for c in companies(sandbox) if c["ID"] == owner)["ORIGIN_ID"] == second["Ref_Key"]


def test_lookalikes_with_the_same_name_and_another_inn_are_not_merged(
    sandbox: Sandbox, conn: Connector
) -> None:
    one = add_counterparty(sandbox, "ООО «Ромашка»", "7701000001", "770101001")
    two = add_counterparty(sandbox, "ООО «Ромашка»", "7701000002", "770101001")
    conn.runner("counterparties").backfill(SINCE, None)
    ids = {c["ORIGIN_ID"]: c["ID"] for c in companies(sandbox)}
    assert ids[one["Ref_Key"]] != ids[two["Ref_Key"]]


def test_existing_company_is_adopted_by_inn_kpp_not_duplicated(sandbox: Sandbox, conn: Connector) -> None:
    cp = legal(sandbox)[0]
    b24 = conn.bitrix24
    existing = b24.call(
        "crm.company.add", {"fields": {"TITLE": "Кровля (заведена вручную)"}}, write=True
    ).result
    b24.call(
        "crm.requisite.add",
        {
            "fields": {
                "ENTITY_TYPE_ID": 4,
                "ENTITY_ID": existing,
                "PRESET_ID": 1,
                "NAME": "Реквизиты",
                "RQ_INN": cp["ИНН"],
                "RQ_KPP": cp["КПП"],
            }
        },
        write=True,
    )
    conn.runner("counterparties").backfill(SINCE, None)
    adopted = next(c for c in companies(sandbox) if c["ID"] == str(existing))
    assert adopted["ORIGINATOR_ID"] == sandbox_installation() and adopted["ORIGIN_ID"] == cp["Ref_Key"]
    assert adopted["TITLE"] == "Кровля (заведена вручную)"  # the manager's company keeps its title
    assert adopted["ORIGIN_VERSION"] == "adopted"
    assert by_origin(companies(sandbox))[cp["Ref_Key"]] == 1
    [req] = requisites(sandbox, 4, existing)
    assert req["XML_ID"] == cp["Ref_Key"]  # taken over and stamped, not added a second time
    assert conn.ledger.links("counterparties", [cp["Ref_Key"]])[cp["Ref_Key"]].target_id == str(existing)


def test_company_carrying_our_external_key_is_adopted_and_gets_its_requisite(
    sandbox: Sandbox, conn: Connector
) -> None:
    cp = legal(sandbox)[1]
    existing = conn.bitrix24.call(
        "crm.company.add",
        {"fields": {"TITLE": "old", "ORIGINATOR_ID": "1C", "ORIGIN_ID": cp["Ref_Key"]}},
        write=True,
    ).result
    conn.runner("counterparties").backfill(SINCE, None)
    assert by_origin(companies(sandbox))[cp["Ref_Key"]] == 1
    assert [r["RQ_INN"] for r in requisites(sandbox, 4, existing)] == [cp["ИНН"]]


def _writer(conn: Connector, *match: str) -> CounterpartyWriter:
    return CounterpartyWriter(conn.bitrix24, ExternalKey(originator_id=sandbox_installation()), list(match))  # type: ignore[arg-type]


def _create(key: str, **fields: Any) -> Action:
    return Action("create", Mapped(key, "v1", fields, label=f"test {key}"))


def test_phone_and_email_recognise_unkeyed_companies_but_never_another_counterparty(
    sandbox: Sandbox, conn: Connector
) -> None:
    b24 = conn.bitrix24
    by_phone = b24.call(
        "crm.company.add",
        {"fields": {"TITLE": "Звонили", "PHONE": [{"VALUE": "+7 (912) 000-11-22", "VALUE_TYPE": "WORK"}]}},
        write=True,
    ).result
    by_mail = b24.call(
        "crm.company.add",
        {"fields": {"TITLE": "Писали", "EMAIL": [{"VALUE": "Info@Snab.ru", "VALUE_TYPE": "WORK"}]}},
        write=True,
    ).result
    other = b24.call(
        "crm.company.add",
        {
            "fields": {
                "TITLE": "Чужой",
                "ORIGINATOR_ID": "1C",
                "ORIGIN_ID": "zzz",
                "PHONE": [{"VALUE": "8 495 111-22-33"}],
            }
        },
        write=True,
    ).result
    other_inn = b24.call(
        "crm.company.add",
        {"fields": {"TITLE": "Другой ИНН", "PHONE": [{"VALUE": "8 495 444-55-66"}]}},
        write=True,
    ).result
    b24.call(
        "crm.requisite.add",
        {
            "fields": {
                "ENTITY_TYPE_ID": 4,
                "ENTITY_ID": other_inn,
                "PRESET_ID": 1,
                "NAME": "r",
                "RQ_INN": "7700000009",
            }
        },
        write=True,
    )
    writer = _writer(conn, "inn_kpp", "external_key", "phone", "email")
    outcomes = {
        o.key: o
        for o in writer.apply(
            [
                _create("a", TITLE="ООО «А»", RQ_INN="7700000001", PHONE="8 912 000 11 22, +7 912 000-99-99"),
                _create("b", TITLE="ООО «Б»", RQ_INN="7700000002", EMAIL="info@snab.ru"),
                _create("c", TITLE="ООО «В»", RQ_INN="7700000003", PHONE="+7 495 111 22 33"),
                _create("d", TITLE="ООО «Г»", RQ_INN="7700000004", PHONE="+7 495 444 55 66"),
                _create("e", TITLE="ООО «Д»", RQ_INN="7700000005", PHONE="+7 999 000 00 01"),
                _create("f", TITLE="ООО «Д» копия", RQ_INN="7700000005", PHONE="+7 999 000 00 01"),
                _create("g", TITLE="ООО «Е»", RQ_INN="7700000006", PHONE="+7 999 000 00 01"),
            ]
        )
    }
    assert all(o.status == "applied" for o in outcomes.values()), [o.error for o in outcomes.values()]
    assert outcomes["a"].target_id == str(by_phone) and outcomes["b"].target_id == str(by_mail)
    assert outcomes["c"].target_id not in (str(other), None)  # belongs to another 1C counterparty
    assert outcomes["d"].target_id != str(other_inn)  # its requisite has another ИНН
    assert outcomes["e"].target_id == outcomes["f"].target_id != outcomes["g"].target_id
    phones = sandbox.portal.multifields[(4, by_phone)]
    assert sorted(e["VALUE"] for e in phones) == [
        "+7 (912) 000-11-22",
        "+7 912 000-99-99",
    ]  # added, not doubled
    assert len(companies(sandbox)) == 4 + 4  # c, d, e/f and g created; a and b adopted


def test_lost_replies_never_duplicate(sandbox: Sandbox, conn: Connector) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    head = legal(sandbox)[0]
    add_counterparty(sandbox, "Дубль", head["ИНН"], head["КПП"])
    sandbox.portal.faults = FaultInjector()
    sandbox.portal.faults.force("lost_reply", "batch", times=2)
    runner = conn.runner("counterparties")
    runner.source.page_size = 20
    report = runner.backfill(SINCE, None)
    assert sandbox.portal.faults.injected["lost_reply"] == 2 and report.failed == 0
    everyone = companies(sandbox) + contacts(sandbox)
    assert max(by_origin(everyone).values()) == 1 and len(everyone) == len(counterparties(sandbox)) - 1
    assert (
        max(
            Counter(
                (r["ENTITY_TYPE_ID"], r["ENTITY_ID"], r["RQ_INN"], r["RQ_KPP"])
                for r in sandbox.portal.table("requisite").values()
            ).values()
        )
        == 1
    )
    before = writes(sandbox)
    again = conn.runner("counterparties").backfill(SINCE, None, restart=True)
    assert writes(sandbox) == before and again.skipped == again.read


def test_rerun_writes_nothing_and_find_locates_both_kinds(sandbox: Sandbox, conn: Connector) -> None:
    conn.runner("counterparties").backfill(SINCE, None)
    before = writes(sandbox)
    assert conn.runner("counterparties").incremental(30).read == 0
    restarted = conn.runner("counterparties").backfill(SINCE, None, restart=True)
    assert writes(sandbox) == before and restarted.skipped == len(counterparties(sandbox))
    person = contacts(sandbox)[0]
    company = companies(sandbox)[0]
    found = conn.runner("counterparties").target.find([person["ORIGIN_ID"], company["ORIGIN_ID"], "nope"])
    assert found == {person["ORIGIN_ID"]: f"C_{person['ID']}", company["ORIGIN_ID"]: company["ID"]}


def test_edit_of_name_inn_and_kpp_in_1c_updates_the_company_and_its_requisite(
    sandbox: Sandbox, conn: Connector
) -> None:
    conn.runner("counterparties").backfill(SINCE, None)
    cp = legal(sandbox)[2]
    sandbox.infobase.update(
        CATALOG, cp["Ref_Key"], {"Description": "АО «Новое имя»", "КПП": "771001001", "ИНН": "7710000019"}
    )
    report = conn.runner("counterparties").incremental(30)
    assert (report.created, report.updated, report.failed) == (0, 1, 0)
    company = next(c for c in companies(sandbox) if c["ORIGIN_ID"] == cp["Ref_Key"])
    assert company["TITLE"] == "АО «Новое имя»"
    [req] = requisites(sandbox, 4, company["ID"])
    assert (req["RQ_INN"], req["RQ_KPP"], req["RQ_COMPANY_NAME"]) == (
        "7710000019",
        "771001001",
        "АО «Новое имя»",
    )
    assert conn.runner("counterparties").incremental(30).updated == 0


def test_bad_records_are_clear_dead_letters_and_names_with_quotes_and_ampersands_sync(
    sandbox: Sandbox, conn: Connector
) -> None:
    no_inn = add_counterparty(sandbox, "ООО «Без ИНН»", "", "")
    letters = add_counterparty(sandbox, "ООО «Буквы»", "77O1234567", "770101001")
    bad_kpp = add_counterparty(sandbox, "ООО «КПП»", "7701234568", "12")
    odd = add_counterparty(sandbox, 'ООО "Рога & Копыта" <«Ёлка»>', "7701234569", "770101001")
    report = conn.runner("counterparties").backfill(SINCE, None)
    assert report.failed == 3 and report.created == len(counterparties(sandbox)) - 3
    reasons = {d.source_key: d.reason for d in conn.ledger.dead_letters("counterparties")}
    assert "RQ_INN is empty" in reasons[no_inn["Ref_Key"]] and "ООО «Без ИНН»" in reasons[no_inn["Ref_Key"]]
    assert "'77O1234567' is not an ИНН" in reasons[letters["Ref_Key"]]
    assert "RQ_KPP '12' is not a КПП" in reasons[bad_kpp["Ref_Key"]]
    company = next(c for c in companies(sandbox) if c["ORIGIN_ID"] == odd["Ref_Key"])
    assert company["TITLE"] == 'ООО "Рога & Копыта" <«Ёлка»>'
    sandbox.infobase.update(CATALOG, no_inn["Ref_Key"], {"ИНН": "7701234570", "КПП": "770101001"})
    conn.ledger.requeue("counterparties")
    retried = conn.runner("counterparties").incremental(30)
    assert retried.created == 1 and by_origin(companies(sandbox))[no_inn["Ref_Key"]] == 1


def test_cli_sync_and_backfill_run_the_counterparties_flow(sandbox: Sandbox, tmp_path: Path) -> None:
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^flows:.*$", "flows: [counterparties]", text)
    text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
    text = text.replace(
        "schedule: schedules/default.yaml", f"schedule: {ROOT / 'schedules' / 'default.yaml'}"
    )
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    env.update(
        {**sandbox.env(), "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "WARNING"}
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "connector", *args, "--config", str(config)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = cli("backfill", "--flow", "counterparties")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(companies(sandbox)) + len(contacts(sandbox)) == len(counterparties(sandbox))
    add_counterparty(sandbox, "ООО «Новый»", "7701234571", "770101001")
    synced = cli("sync", "counterparties")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert len(companies(sandbox)) + len(contacts(sandbox)) == len(counterparties(sandbox))
