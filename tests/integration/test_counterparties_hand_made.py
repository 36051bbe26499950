"""Companies a manager typed into Bitrix24 are recognised, never twinned, and keep their title: an entrepreneur by
ИНН without КПП, a company without requisites by a phone or e-mail from 1C's КонтактнаяИнформация rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.app import Connector
from tests.conftest import make_config

pytestmark = pytest.mark.integration
SINCE = datetime(2017, 1, 1, tzinfo=ZoneInfo("Europe/Moscow"))
CATALOG = "Catalog_Контрагенты"


@pytest.fixture
def conn(sandbox: Any, tmp_path: Path) -> Iterator[Connector]:
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows = ["counterparties"]
    with Connector(config) as c:
        yield c


def hand_made(conn: Connector, title: str, requisite: dict[str, Any] | None = None, **multi: str) -> str:
    fields: dict[str, Any] = {"TITLE": title}
    fields |= {k: [{"VALUE": v, "VALUE_TYPE": "WORK"}] for k, v in multi.items()}
    company = str(conn.bitrix24.call("crm.company.add", {"fields": fields}, write=True).result)
    if requisite:
        row = {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company, "NAME": title, **requisite}
        conn.bitrix24.call("crm.requisite.add", {"fields": row}, write=True)
    return company


def linked_to(sandbox: Any, ref: str) -> list[dict[str, Any]]:
    return [c for c in sandbox.portal.entities.get("company", {}).values() if c.get("ORIGIN_ID") == ref]


def multi(conn: Connector, company: str, kind: str) -> set[str]:
    """A company's phones or e-mails as the portal returns them."""
    rows = conn.bitrix24.call("crm.company.list", {"filter": {"ID": company}, "select": [kind]}).result
    return {str(v["VALUE"]) for v in rows[0].get(kind) or []}


def contact_rows(cp: dict[str, Any], kind: str) -> list[str]:
    return [r["Представление"] for r in cp["КонтактнаяИнформация"] if r["Тип"] == kind]


def test_an_entrepreneur_typed_by_hand_is_recognised_by_inn_without_kpp_and_keeps_its_title(
    sandbox: Any, conn: Connector
) -> None:
    ip = next(c for c in sandbox.infobase.all(CATALOG) if len(c["ИНН"]) == 12 and c["ЮрФизЛицо"] != "ФизЛицо")
    company = hand_made(conn, "Сидоров (ИП, заведён вручную)", {"PRESET_ID": 2, "RQ_INN": ip["ИНН"]})
    report = conn.runner("counterparties").backfill(SINCE, None)
    assert report.failed == 0, report.errors
    (linked,) = linked_to(sandbox, ip["Ref_Key"])  # the hand-made one, not a twin
    assert linked["ID"] == company and linked["TITLE"] == "Сидоров (ИП, заведён вручную)"
    # 1C renames the counterparty: the manager's title still stands; the phone from 1C is added.
    sandbox.infobase.update(CATALOG, ip["Ref_Key"], {"Description": "ИП Сидоров С. С."})
    assert conn.runner("counterparties").incremental(30).failed == 0
    (linked,) = linked_to(sandbox, ip["Ref_Key"])
    assert linked["TITLE"] == "Сидоров (ИП, заведён вручную)"
    assert set(contact_rows(ip, "Телефон")) <= multi(conn, company, "PHONE")


def test_a_company_without_requisites_is_recognised_by_a_phone_from_the_contact_rows(
    sandbox: Any, conn: Connector
) -> None:
    cp = next(c for c in sandbox.infobase.all(CATALOG) if len(c["ИНН"]) == 10)
    (phone,) = contact_rows(cp, "Телефон")
    (email,) = contact_rows(cp, "АдресЭлектроннойПочты")
    company = hand_made(conn, "Клиент по телефону", PHONE=phone)
    by_mail = next(
        c for c in sandbox.infobase.all(CATALOG) if len(c["ИНН"]) == 10 and c["Ref_Key"] != cp["Ref_Key"]
    )
    (other_mail,) = contact_rows(by_mail, "АдресЭлектроннойПочты")
    mailed = hand_made(conn, "Клиент по почте", EMAIL=other_mail)
    assert conn.runner("counterparties").backfill(SINCE, None).failed == 0
    (linked,) = linked_to(sandbox, cp["Ref_Key"])
    assert linked["ID"] == company and linked["TITLE"] == "Клиент по телефону"
    assert multi(conn, company, "EMAIL") == {email} and multi(conn, company, "PHONE") == {phone}
    (linked,) = linked_to(sandbox, by_mail["Ref_Key"])
    assert linked["ID"] == mailed
    # every other counterparty got its phone and e-mail as multifields of a new company
    made = [c["ID"] for c in sandbox.portal.entities.get("company", {}).values() if c.get("ORIGIN_ID")]
    assert len(made) > 2 and all(multi(conn, c, "PHONE") for c in made[:5])


def test_a_phone_kind_mapped_as_phone_mobile_reaches_bitrix24_as_a_mobile_number(
    sandbox: Any, tmp_path: Path
) -> None:
    import shutil

    from tests.conftest import ROOT

    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    path = mappings / "counterparties.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("\n  PHONE:\n", "\n  PHONE_MOBILE:\n"), "utf-8")
    config = make_config(sandbox, tmp_path / "l.db")
    config.flows, config.mappings_dir = ["counterparties"], mappings
    with Connector(config) as conn:
        assert conn.runner("counterparties").backfill(SINCE, None).failed == 0
        company = next(c for c in sandbox.portal.entities["company"].values() if c.get("ORIGIN_ID"))
        rows = conn.bitrix24.call("crm.company.list", {"filter": {"ID": company["ID"]}, "select": ["PHONE"]})
        assert [p["VALUE_TYPE"] for p in rows.result[0]["PHONE"]] == ["MOBILE"]
