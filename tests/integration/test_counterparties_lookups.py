"""The counterparties flow asks crm.duplicate.findbycomm about 20 values of many records in one command (issue 13
goal 1), not one command per record; the answer names who holds any of the values, so each record keeps only the
candidates whose phones or e-mails hold one of its own; an answer the portal cut at 20 ids is asked again per
record, so no company hidden behind the cut is created twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from connector.app import Connector
from tests.integration.test_counterparties import (  # noqa: F401  (conn, requisite_update: fixtures)
    _create,
    _writer,
    companies,
    conn,
    requisite_update,
)

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration


def _company(conn: Connector, title: str, phone: str) -> str:  # noqa: F811
    fields = {"TITLE": title, "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}
    return str(conn.bitrix24.call("crm.company.add", {"fields": fields}, write=True).result)


def test_findbycomm_asks_twenty_values_a_command_and_each_record_gets_its_own_match(
    sandbox: Sandbox,
    conn: Connector,  # noqa: F811
) -> None:
    phones = [f"+7 912 100-00-{i:02d}" for i in range(25)]
    made = {i: _company(conn, f"Звонили {i}", phones[i]) for i in (3, 17, 24)}
    before = len(companies(sandbox))
    sandbox.portal.clear_calls()
    writer = _writer(conn, "inn_kpp", "external_key", "phone")
    actions = [
        _create(f"p{i}", TITLE=f"ООО «{i}»", RQ_INN=f"77000001{i:02d}", PHONE=phones[i]) for i in range(25)
    ]
    outcomes = {o.key: o for o in writer.apply(actions)}
    assert all(o.status == "applied" for o in outcomes.values()), [o.error for o in outcomes.values()]
    assert {i: outcomes[f"p{i}"].target_id for i in made} == made  # a company's ledger id is its own id
    assert len(companies(sandbox)) == before + 25 - 3  # the others are created, none adopts another's company
    asked = [c for c in sandbox.portal.calls if c.method == "crm.duplicate.findbycomm"]
    assert len(asked) == 2  # 25 values: 20 + 5, not 25 commands


def test_an_answer_cut_at_twenty_ids_is_asked_again_per_record(
    sandbox: Sandbox,
    conn: Connector,  # noqa: F811
) -> None:
    """25 companies hold the 20 phones asked (5 phones twice, the older ones first): the portal names only the 20
    lowest ids, so 5 records' companies are missing from the shared answer; asked again per record, all are found."""
    phones = [f"+7 912 200-00-{i:02d}" for i in range(20)]
    for i in range(5):
        _company(conn, f"Старый {i}", phones[i])
    for i in range(20):
        _company(conn, f"Звонили {i}", phones[i])
    before = len(companies(sandbox))
    writer = _writer(conn, "inn_kpp", "external_key", "phone")
    actions = [
        _create(f"q{i}", TITLE=f"ООО «{i}»", RQ_INN=f"77000002{i:02d}", PHONE=phones[i]) for i in range(20)
    ]
    outcomes = {o.key: o for o in writer.apply(actions)}
    assert all(o.status == "applied" for o in outcomes.values()), [o.error for o in outcomes.values()]
    assert len(companies(sandbox)) == before  # every record adopted a company that holds its phone


def test_find_by_external_key_sends_one_request_for_many_keys(
    sandbox: Sandbox,
    conn: Connector,  # noqa: F811
) -> None:
    writer = _writer(conn, "inn_kpp", "external_key")
    outcomes = writer.apply(
        [_create(f"k{i}", TITLE=f"ООО «{i}»", RQ_INN=f"77000003{i:02d}") for i in range(60)]
    )
    assert all(o.status == "applied" for o in outcomes)
    sandbox.portal.clear_calls()
    found = writer.find([f"k{i}" for i in range(60)] + ["nobody"])
    assert found == {o.key: o.target_id for o in outcomes}
    top = [c.method for c in sandbox.portal.calls if not c.batch]
    assert top == ["batch"]  # companies and contacts, 50 keys a command, in one request
