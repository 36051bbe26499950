"""The counterparties flow reads a page in one request before its writes (issue 13 goal 1): the lookup by our
external key (`find`'s, which the engine asked on its own before prepare: a request of its own) shares the batch of
the recognition round (ИНН/КПП, phones, e-mails). A create found by its key is still that object's update, never a
twin, whatever a match rule ahead of the key would pick; a dry run shows it as linked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connector.app import Connector
from connector.dryrun import plan_lines
from tests.conftest import make_config
from tests.integration.test_counterparties import (  # noqa: F401  (requisite_update: a fixture)
    SINCE,
    WRITES,
    companies,
    contacts,
    requisite_update,
)
from tests.integration.test_money_reads import requests_of

if TYPE_CHECKING:
    from b24_1c_sandbox.runner import Sandbox

pytestmark = pytest.mark.integration


def connect(sandbox: Sandbox, ledger: Path) -> Connector:
    config = make_config(sandbox, ledger)
    return Connector(config.model_copy(update={"flows": ["counterparties"]}))


def test_a_fresh_backfill_reads_before_its_writes_in_one_request(sandbox: Sandbox, tmp_path: Path) -> None:
    with connect(sandbox, tmp_path / "ledger.sqlite3") as conn:
        conn.setup()
        before = len(sandbox.portal.calls)
        report = conn.runner("counterparties").backfill(SINCE, None)
        sent = requests_of(sandbox, before)
    assert report.failed == 0 and report.created > 0, report.errors
    first_write = next(n for n, r in enumerate(sent) if WRITES & set(r))
    reads = sent[:first_write]
    assert len(reads) == 1, reads  # the lookup by key and the recognition round, one batch
    assert {"crm.company.list", "crm.contact.list", "crm.requisite.list"} <= set(reads[0])


def test_after_a_lost_ledger_every_record_is_found_by_its_key_and_updated(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    with connect(sandbox, tmp_path / "first.sqlite3") as conn:
        conn.setup()
        first = conn.runner("counterparties").backfill(SINCE, None)
        links = {
            k: link.target_id
            for k, link in conn.ledger.links(
                "counterparties", list(conn.ledger.keys("counterparties"))
            ).items()
        }
    made = (len(companies(sandbox)), len(contacts(sandbox)))
    assert first.failed == 0 and first.created == len(links) > 0, first.errors
    with connect(sandbox, tmp_path / "lost.sqlite3") as conn:  # an empty ledger: every record a create
        dry = conn.runner("counterparties").backfill(SINCE, None, dry_run=True)
        lines = plan_lines(dry, conn.runner("counterparties").target)
        again = conn.runner("counterparties").backfill(SINCE, None)
        relinked = {
            k: link.target_id
            for k, link in conn.ledger.links(
                "counterparties", list(conn.ledger.keys("counterparties"))
            ).items()
        }
    assert again.failed == 0 and again.created == 0 and again.updated == len(links), again.errors
    assert relinked == links and (len(companies(sandbox)), len(contacts(sandbox))) == made  # no twin
    assert not [line for line in lines if line.startswith("+ create")], lines[:5]
    assert sum(1 for line in lines if "found by its 1C key" in line) == len(links)
