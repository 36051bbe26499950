"""A fresh invoices run reads in one round per page: the lookup by external key, the default pipeline, its stages
and our own company share one `batch` request (issue 13 goal 1: they were four requests), and the stages of the
default pipeline are still its own when it is not the first one the portal lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from connector.app import Connector
from connector.bitrix24.replies import BatchReply, Reply
from tests.integration.test_invoices import (  # noqa: F401  (box, conn: fixtures)
    SENT,
    backfill,
    box,
    conn,
    smart_invoices,
)

pytestmark = pytest.mark.integration
WRITES = (".add", ".update", ".set", ".delete")


def requests_of(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every top-level request a Bitrix24 client sends from now on, as the methods it carries."""
    sent: list[list[str]] = []
    call, once = client.call, client._batch_once

    def spy_call(method: str, params: Mapping[str, Any] | None = None, **kw: Any) -> Reply:
        sent.append([method])
        return call(method, params, **kw)

    def spy_batch(
        commands: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool, write: bool
    ) -> BatchReply:
        sent.append([m for m, _ in commands.values()])
        return once(commands, halt, write)

    monkeypatch.setattr(client, "call", spy_call)
    monkeypatch.setattr(client, "_batch_once", spy_batch)
    return sent


@pytest.mark.parametrize("box", ["ut11.5"], indirect=True)
def test_a_fresh_run_reads_its_page_in_one_request(
    box: Any,  # noqa: F811
    conn: Connector,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backfill(conn, "counterparties", "orders", "money")
    sent = requests_of(conn.bitrix24, monkeypatch)
    report = backfill(conn, "invoices")["invoices"]
    assert report.created > 0 and report.failed == 0, report.errors
    reads = [r for r in sent if not any(m.endswith(WRITES) for m in r)]
    assert len(reads) == 1, reads  # one page: the lookup and the three directories together
    assert sorted(set(reads[0])) == ["crm.category.list", "crm.item.list", "crm.status.list"]
    (item,) = smart_invoices(box, box.reference["invoice"])
    assert item["STAGE_ID"] == SENT and item["MYCOMPANY_ID"]  # what the directories gave the rules


@pytest.mark.parametrize("box", ["ut11.5"], indirect=True)
def test_the_default_pipelines_stages_when_another_pipeline_is_listed_first(
    box: Any,  # noqa: F811
    conn: Connector,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from b24_1c_sandbox.bitrix24.seed import _status

    # A second smart invoice pipeline, not the default one, that the portal lists first (lower sort).
    box.portal.categories[31].append(
        {
            "id": 7,
            "name": "Другие",
            "sort": 10,
            "entityTypeId": 31,
            "isDefault": "N",
            "originId": "",
            "originatorId": "",
        }
    )
    for n, (sid, semantics) in enumerate([("N", "process"), ("S", "process"), ("P", "success")], 1):
        box.portal.statuses.append(
            _status(900 + n, "SMART_INVOICE_STAGE_7", f"DT31_7:{sid}", sid, n * 10, semantics, 7)
        )
    backfill(conn, "counterparties", "orders", "money")
    sent = requests_of(conn.bitrix24, monkeypatch)
    report = backfill(conn, "invoices")["invoices"]
    assert report.created > 0 and report.failed == 0, report.errors
    (item,) = smart_invoices(box, box.reference["invoice"])
    assert item["STAGE_ID"] == SENT  # the default pipeline's stage, not DT31_7:S
    assert {i["STAGE_ID"][:6] for i in box.portal.entities["smart_invoice"].values()} == {"DT31_3"}
    reads = [r for r in sent if not any(m.endswith(WRITES) for m in r)]
    assert reads[1:] == [
        ["crm.status.list"]
    ]  # the guess missed: the default pipeline's stages read on their own


@pytest.mark.parametrize("box", ["ut11.5"], indirect=True)
def test_a_directory_that_fails_beside_the_lookup_is_read_again_by_prepare(
    box: Any,  # noqa: F811
    conn: Connector,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backfill(conn, "counterparties", "orders", "money")
    client = conn.bitrix24
    once = client._batch_once
    failed: list[str] = []

    def pipeline_refused_once(
        commands: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool, write: bool
    ) -> BatchReply:
        reply = once(commands, halt, write)
        if "cat" in commands and not failed:
            failed.append("cat")
            reply.result.pop("cat", None)
            reply.errors["cat"] = {"error": "INTERNAL_SERVER_ERROR", "error_description": "try again"}
        return reply

    monkeypatch.setattr(client, "_batch_once", pipeline_refused_once)
    sent = requests_of(client, monkeypatch)
    report = backfill(conn, "invoices")["invoices"]
    assert failed and report.created > 0 and report.failed == 0, report.errors
    (item,) = smart_invoices(box, box.reference["invoice"])
    assert item["STAGE_ID"] == SENT
    reads = [r for r in sent if not any(m.endswith(WRITES) for m in r)]
    assert "crm.category.list" in reads[1]  # prepare asked again
