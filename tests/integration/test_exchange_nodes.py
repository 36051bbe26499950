"""`b24-1c setup --exchange-nodes` makes this installation's nodes in the base's CRM exchange plan, once, and the
flows then use them without any mapping change (issue 13 goal 5: the exchange-plan mode by default where the base
has the plan); where the base does not publish the plan, or refuses the write, it says so and makes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from connector.app import Connector
from connector.cli import app
from connector.flows import onec_source
from connector.flows.registry import build
from tests.conftest import EXAMPLE, SINCE, make_config, sandbox_installation

pytestmark = pytest.mark.integration
PLAN = "ExchangePlan_ДляCRM"
# The 1C-reading flows of config.example.yaml; deals_to_orders reads Bitrix24, rollups computes every run.
FLOWS = ["managers", "counterparties", "orders", "money", "invoices"]


@pytest.fixture(autouse=True)
def _fresh_node_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sources remember per process which bases lack a node; a port reused by another test's sandbox must not
    answer for this one."""
    monkeypatch.setattr(onec_source, "_ABSENT", set())
    monkeypatch.setattr(onec_source, "_NODES", {})
    yield
    structlog.reset_defaults()  # CliRunner's stream is closed afterwards (see test_rollups.py)


def _setup(box: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Any:
    for name, value in {**box.env(), "B24_1C_LEDGER": str(tmp_path / "l.db")}.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, ["setup", "-c", str(EXAMPLE), *extra])


def _codes(box: Any) -> Counter[str]:
    return Counter(str(n["Code"]) for n in box.infobase.all(PLAN))


def test_setup_makes_each_flows_node_once_and_the_flows_read_their_changes_from_it(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _codes(sandbox)
    plain = _setup(sandbox, tmp_path, monkeypatch)
    assert plain.exit_code == 0, plain.output
    assert _codes(sandbox) == before  # without the option nothing is made in 1C
    done = _setup(sandbox, tmp_path, monkeypatch, "--exchange-nodes")
    assert done.exit_code == 0, done.output
    wanted = {f"{sandbox_installation()}-{flow}" for flow in FLOWS}
    made = _codes(sandbox) - before
    assert set(made) == wanted and set(made.values()) == {1}
    for code in wanted:
        assert f"exchange plan node {code} (" in done.output and "created" in done.output
    again = _setup(sandbox, tmp_path, monkeypatch, "--exchange-nodes")
    assert again.exit_code == 0, again.output
    assert _codes(sandbox) - before == made  # a second run makes nothing
    assert again.output.count(": present") >= len(wanted) and "created" not in again.output
    # Every flow finds its node and reads 1C's changes from the plan, with the shipped mappings.
    with Connector(make_config(sandbox, tmp_path / "l.db")) as conn:
        for flow in FLOWS:
            source, _ = build(conn, conn.mappings[flow])
            assert source.plan() == (PLAN, f"{sandbox_installation()}-{flow}"), flow  # type: ignore[attr-defined]
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        conn.runner("orders").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        before_log = len(sandbox.onec_app.log)
        conn.runner("orders").incremental(30)
        sent = [r.path.rsplit("/", 1)[-1] for r in list(sandbox.onec_app.log)[before_log:]]
        assert "SelectChanges" in sent


def test_a_base_without_the_plan_or_without_the_right_gets_no_node_and_a_clear_line(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from b24_1c_sandbox.onec.infobase import Grant

    before = _codes(sandbox)
    sandbox.infobase.published = set(sandbox.infobase.types) - {PLAN}  # the base does not publish the plan
    absent = _setup(sandbox, tmp_path, monkeypatch, "--exchange-nodes")
    assert absent.exit_code == 0, absent.output
    assert "not published by this base" in absent.output
    assert _codes(sandbox) == before
    sandbox.infobase.published = None
    # A user who may read everything but write only documents: 1C refuses the node.
    sandbox.infobase.grants["Администратор"] = Grant(write={"Document_ЗаказКлиента"})
    refused = _setup(sandbox, tmp_path, monkeypatch, "--exchange-nodes")
    assert refused.exit_code == 1, refused.output
    assert "failed" in refused.output and "make it by hand" in refused.output
    assert _codes(sandbox) == before
