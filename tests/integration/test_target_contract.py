"""One contract every writing target passes (issue "One executor, one commit", point 7), on the sandbox:

1. what a flow created is found again by its external key through the target's own `find` (identity on the object);
2. a dry run writes nothing to either system and nothing to the ledger;
3. a lost ledger costs reads, never writes: a backfill on an empty ledger writes nothing and rebuilds the links;
4. its writes go prepare → rules → execute: rules are pure (the same plans twice, with the sessions, the clock and
   the target's own date raising), one plan per action, execute gives one outcome per action, and a dry run lists
   each record's steps (or, for a flow that only links, the link) under its diff.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.app import Connector
from connector.dryrun import plan_lines
from connector.engine.steps import Planned
from tests.conftest import SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
ALL = ["managers", "counterparties", "orders", "money", "invoices", "deals_to_orders"]
WRITING = ["counterparties", "orders", "money", "invoices", "deals_to_orders"]
B24_WRITES = (".add", ".update", ".set", ".delete", ".pay", ".unpay")
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A sandbox synced once by every flow (a deal started in the CRM included), and its ledger."""
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    tmp = tmp_path_factory.mktemp("contract")
    with Sandbox(SandboxOptions(orders=40, seed=41, rate_limit="off")) as box:
        with connect(box, tmp / "ledger.sqlite3") as conn:
            conn.setup()
            backfill(conn)
            start_deal(conn, box, title="Контракт", quantity=1)
            for _ in range(2):  # the order made from the deal comes back to it through the orders flow
                for flow in ALL:
                    conn.runner(flow).incremental(30)
        yield box, tmp


def connect(box: Any, ledger: Path, flows: list[str] = ALL) -> Connector:
    config = make_config(box, ledger)
    config.flows = list(flows)
    return Connector(config)


def backfill(conn: Connector, flows: list[str] = ALL, **options: Any) -> dict[str, Any]:
    return {f: conn.runner(f).backfill(SINCE.replace(tzinfo=conn.onec_tz), None, **options) for f in flows}


def writes_during(box: Any, action: Any) -> tuple[list[str], list[str]]:
    b24_before, onec_before = len(box.portal.calls), len(box.onec_app.log)
    action()
    b24 = [
        c.method for c in box.portal.calls[b24_before:] if c.method.endswith(B24_WRITES) and c.status == 200
    ]
    onec = [f"{r.method} {r.path}" for r in list(box.onec_app.log)[onec_before:] if r.method in ONEC_WRITES]
    return b24, onec


def dump(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        tables = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return [(t, *row) for t in tables for row in db.execute(f"SELECT * FROM {t} ORDER BY 1")]


@pytest.mark.parametrize("flow", WRITING)
def test_what_a_flow_created_is_found_again_by_its_key(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    with connect(box, tmp / "ledger.sqlite3") as conn:
        links = conn.ledger.links(flow, list(conn.ledger.keys(flow)))
        assert links, f"flow {flow} linked nothing"
        runner = conn.runner(flow)
        found = runner.target.find(list(links))
    if flow == "deals_to_orders":  # found by the order's key attribute, for the deals that made an order
        ours = {k: v for k, v in links.items() if k in found}
        assert ours and all(found[k] == v.target_id for k, v in ours.items())
    else:
        assert {k: found.get(k) for k in links} == {k: v.target_id for k, v in links.items()}


@pytest.mark.parametrize("flow", WRITING)
def test_a_dry_run_writes_nothing_anywhere(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    ledger = tmp / "ledger.sqlite3"
    before = dump(ledger)
    with connect(box, ledger) as conn:
        b24, onec = writes_during(
            box,
            lambda: (
                conn.runner(flow).backfill(
                    SINCE.replace(tzinfo=conn.onec_tz), None, dry_run=True, restart=True
                ),
                conn.runner(flow).incremental(30, dry_run=True, full_scan=True),
            ),
        )
    assert (b24, onec) == ([], [])
    assert dump(ledger) == before


@pytest.mark.parametrize("flow", WRITING)
def test_a_lost_ledger_costs_reads_never_writes(synced: tuple[Any, Path], flow: str) -> None:
    box, tmp = synced
    with connect(box, tmp / f"lost-{flow}.sqlite3") as conn:
        needed = ALL[: ALL.index(flow) + 1] if flow != "deals_to_orders" else ALL
        b24, onec = writes_during(box, lambda: backfill(conn, needed))
        assert (b24, onec) == ([], []), (b24[:10], onec[:10])
        assert conn.ledger.link_count(flow) > 0


# -- prepare → rules → execute (engine/steps.py, engine/planned.py): every target, the same path ----------------------

PLANNED = ["managers", "counterparties", "orders", "money", "invoices", "deals_to_orders", "rollups", "fans"]
OWN_BOX = [
    "counterparties",
    "rollups",
    "fans",
]  # rollups and fans run on a box of their own (dealers, fan deals)
FAN_ROWS = [
    {"PRODUCT_NAME": "Компрессор винтовой ВК-15", "PRICE": 350000, "QUANTITY": 2},
    {"PRODUCT_NAME": "Осушитель ОВ-20", "PRICE": 90000, "QUANTITY": 1},
]


def _rest(box: Any, method: str, params: dict[str, Any]) -> Any:
    reply = requests.post(box.webhook_url + method, json=params, timeout=10).json()
    assert "result" in reply, reply
    return reply["result"]


@pytest.fixture(scope="module")
def company_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A sandbox whose counterparties are synced (the companies rollups write to) and with two dealers' deals of
    the same rows (a fan)."""
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    tmp = tmp_path_factory.mktemp("planned")
    with Sandbox(SandboxOptions(orders=20, seed=5, rate_limit="off")) as box:
        with connect(box, tmp / "ledger.sqlite3", OWN_BOX) as conn:
            conn.setup()
            backfill(conn, ["counterparties"])
        for n in (1, 2):
            dealer = _rest(box, "crm.company.add", {"fields": {"TITLE": f"Дилер {n}"}})
            deal = _rest(box, "crm.deal.add", {"fields": {"TITLE": "Запрос дилера", "COMPANY_ID": dealer}})
            _rest(box, "crm.deal.productrows.set", {"id": deal, "rows": FAN_ROWS})
        yield box, tmp


def _copy(src: Path, dst: Path, stale: str | None = None) -> Path:
    """A copy of a ledger; with `stale`, that flow's links remember another content, so every record it links
    plans an update (without comparing the objects first: the hash is not empty)."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    if stale:
        with sqlite3.connect(dst) as db:
            db.execute("UPDATE links SET content_hash = 'stale' WHERE flow = ?", (stale,))
            # and its source forgets what it remembered of them (deals→orders reads a linked deal only when its
            # digest changed)
            db.execute("DELETE FROM source_state WHERE flow LIKE ?", (f"{stale}:%",))
    return dst


@contextmanager
def planning(
    flow: str, synced: tuple[Any, Path], company_box: tuple[Any, Path]
) -> Iterator[tuple[Any, Connector, Any, Any]]:
    """(box, connector, runner, the report of a dry-run backfill whose `planned` are the actions to plan)."""
    if flow in ("rollups", "fans"):
        box, tmp = company_box
        ledger, flows = _copy(tmp / "ledger.sqlite3", tmp / f"{flow}.sqlite3"), OWN_BOX
    else:
        box, tmp = synced
        ledger, flows = _copy(tmp / "ledger.sqlite3", tmp / f"stale-{flow}.sqlite3", stale=flow), ALL
    with connect(box, ledger, flows) as conn:
        runner = conn.runner(flow)
        reports: list[Any] = []
        if (
            flow == "deals_to_orders"
        ):  # a deal a manager starts now: what a cycle of this flow reads and plans
            start_deal(conn, box, title="План", quantity=1)
            sent = writes_during(box, lambda: reports.append(runner.incremental(30, dry_run=True)))
        else:
            since = SINCE.replace(tzinfo=conn.onec_tz)
            sent = writes_during(
                box, lambda: reports.append(runner.backfill(since, None, dry_run=True, restart=True))
            )
        # A dry run runs prepare and rules only: nothing is sent.
        assert sent == ([], []), f"flow {flow}: its dry run wrote {sent[0][:5]} {sent[1][:5]}"
        report = reports[0]
        assert report.planned, f"flow {flow}: nothing to plan"
        yield box, conn, runner, report


class _NoIO:
    """Stands in for the clients' sessions, the clock and the run's date while rules run: any use is a failure."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"rules used {self.what}.{name}: rules are pure (no I/O, no clock)")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(
            f"rules called {self.what}: rules are pure (the run's `today` is their argument)"
        )


@contextmanager
def no_io(conn: Connector, target: Any) -> Iterator[None]:
    """HTTP sessions of both systems, the clock and the target's own `today` replaced by things that raise."""
    saved = [(conn.bitrix24, "session"), (conn.odata, "session"), (conn, "clock"), (target, "today")]
    before = [getattr(obj, name) for obj, name in saved]
    for obj, name in saved:
        setattr(obj, name, _NoIO(name))
    try:
        yield
    finally:
        for (obj, name), value in zip(saved, before, strict=True):
            setattr(obj, name, value)


def shape(plans: Any) -> list[Any]:
    """What a plan says, comparable: its record, steps, done, problems and (for batch plans) the commands."""
    return [
        (
            p.key,
            [(s.system, s.name, s.target_id) for s in p.steps],
            p.done,
            p.problems,
            getattr(p, "units", None),
        )
        for p in plans
    ]


@pytest.mark.parametrize("flow", PLANNED)
def test_rules_are_pure_and_give_one_plan_per_action(
    synced: tuple[Any, Path], company_box: tuple[Any, Path], flow: str
) -> None:
    with planning(flow, synced, company_box) as (_, conn, runner, report):
        target, actions, today = runner.target, report.planned, runner.today()
        assert isinstance(target, Planned)
        prepared = target.prepare(actions, today)
        with no_io(conn, target):
            first = target.rules(actions, prepared, today)
            second = target.rules(actions, prepared, today)
        assert [p.key for p in first] == [a.record.key for a in actions]
        assert shape(first) == shape(second)
        # The dry run showed these very plans (its prepare read the same state).
        assert shape(report.plans) == shape(first)


@pytest.mark.parametrize("flow", PLANNED)
def test_execute_of_the_rules_plans_gives_one_outcome_per_action(
    synced: tuple[Any, Path], company_box: tuple[Any, Path], flow: str
) -> None:
    with planning(flow, synced, company_box) as (_, _conn, runner, report):
        target, actions, today = runner.target, report.planned, runner.today()
        prepared = target.prepare(actions, today)
        outcomes = target.execute(target.rules(actions, prepared, today), prepared)
        assert sorted(o.key for o in outcomes) == sorted(a.record.key for a in actions)


@pytest.mark.parametrize("flow", PLANNED)
def test_a_dry_run_lists_the_steps_of_each_record(
    synced: tuple[Any, Path], company_box: tuple[Any, Path], flow: str
) -> None:
    with planning(flow, synced, company_box) as (box, _conn, runner, report):
        b24, onec = writes_during(box, lambda: plan_lines(report, runner.target))
        lines = plan_lines(report, runner.target)
    assert (b24, onec) == ([], [])
    assert report.notes == []
    plans = {p.key: p for p in report.plans}
    assert set(plans) == {a.record.key for a in report.planned}
    assert all(p.steps or p.done or p.problems for p in plans.values())  # every plan says what it would do
    if getattr(runner.target, "links_only", False):
        assert all(not p.steps and (p.done or p.problems) for p in plans.values())
        assert len([line for line in lines if line.startswith("= link: ")]) == len(plans)
    else:
        shown = [line for line in lines if line.startswith("    steps: ")]
        assert len(shown) == len(plans)
        for plan in plans.values():
            if plan.steps:
                assert f"    steps: {', '.join(s.name for s in plan.steps)}" in lines


@pytest.mark.parametrize("flow", PLANNED)
def test_the_source_the_target_and_the_runner_share_the_runs_one_business_date(
    synced: tuple[Any, Path], flow: str
) -> None:
    box, tmp = synced
    with connect(box, tmp / "ledger.sqlite3", [*ALL, "rollups", "fans"]) as conn:
        runner = conn.runner(flow)
        assert runner.target.today is runner.today
        if flow in ("money", "invoices", "rollups"):  # sources whose facts depend on the day
            assert runner.source.today is runner.today
        assert conn.runner(flow).today is not runner.today  # the next run takes its own
