"""Proof of the deals → orders chain (issue 10 point 3): a lost reply at each step, and a kill in each window, then
the next run. Counted through both systems' public interfaces: exactly one 1C order per deal (OData, by
НомерПоДаннымКлиента), posted, its number and key written back to the deal, and the deal stamped once (the portal's
own log of the crm.deal.update commands that carried our stamp).

The chain runs step k of every deal in round k (connector/engine/chain.py), so the n-th write to the orders entity
is known: creates first, then postings, then one batch of write-backs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import Connector
from connector.config import load_config
from tests.conftest import EXAMPLE, ROOT, SINCE, make_config
from tests.integration.crm import start_deal

pytestmark = pytest.mark.integration
FLOWS = ["counterparties", "orders", "deals_to_orders"]
ORDERS = "Document_ЗаказКлиента"
ONEC_WRITES = ("POST", "PATCH", "PUT", "DELETE")


def onec_faults(kinds: list[str | None]) -> Any:
    """The 1C emulator's injector: the n-th write to the orders entity (a create or a /Post) meets kinds[n]."""
    from b24_1c_sandbox.faults import FaultInjector

    class OnWrites(FaultInjector):
        def pick(self, method: str, write: bool) -> str | None:
            if not write or method.lower() != ORDERS.lower() or not kinds:
                return None
            kind = kinds.pop(0)
            return self._count(method, kind) if kind else None

    return OnWrites()


def portal_faults(kinds: list[str | None]) -> Any:
    """The portal's injector: the n-th write batch (the write-backs) meets kinds[n]."""
    from b24_1c_sandbox.faults import FaultInjector

    class OnWriteBatches(FaultInjector):
        def pick(self, method: str, write: bool) -> str | None:
            if not write or method.lower() != "batch" or not kinds:
                return None
            kind = kinds.pop(0)
            return self._count(method, kind) if kind else None

    return OnWriteBatches()


def orders_of(conn: Connector, deals: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every 1C order whose НомерПоДаннымКлиента names one of the deals (a list: a twin would show)."""
    rows = conn.odata.query(
        ORDERS, select=["Ref_Key", "Number", "Posted", "НомерПоДаннымКлиента", "Контрагент_Key"]
    )
    out: dict[str, list[dict[str, Any]]] = {d: [] for d in deals}
    for row in rows:
        marker = str(row.get("НомерПоДаннымКлиента") or "").strip()
        if marker.startswith("B24-") and marker[4:] in out:
            out[marker[4:]].append(row)
    return out


def stampings(box: Any, deals: list[str]) -> Counter[str]:
    """crm.deal.update commands the portal executed that carried our stamp, per deal (batch commands included)."""
    done: Counter[str] = Counter()
    for call in box.portal.calls_snapshot("crm.deal.update"):
        fields = (call.params or {}).get("fields") or {}
        deal = str((call.params or {}).get("id"))
        if call.status == 200 and deal in deals and fields.get("ORIGIN_ID"):
            done[deal] += 1
    return done


def deal_rows(conn: Connector, deals: list[str]) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    select = ["ID", "ORIGIN_ID", "ORIGINATOR_ID", "UF_CRM_1C_ORDER_NUMBER"]
    for page in conn.bitrix24.list_fast("crm.deal.list", {"@ID": deals}, select):
        rows.update({str(r["ID"]): r for r in page})
    return rows


def problems(conn: Connector, box: Any, deals: list[str]) -> list[str]:
    """What is wrong with the deals' chains, counted on both systems (empty: each deal has its one order)."""
    out: list[str] = []
    orders, stamps, rows = orders_of(conn, deals), stampings(box, deals), deal_rows(conn, deals)
    for deal in deals:
        made = orders[deal]
        if len(made) != 1:
            out.append(f"deal {deal}: {len(made)} 1C orders")
            continue
        order, row = made[0], rows.get(deal, {})
        if not order["Posted"]:
            out.append(f"deal {deal}: its order is not posted")
        if row.get("ORIGIN_ID") != order["Ref_Key"] or row.get("ORIGINATOR_ID") != conn.installation_id:
            out.append(f"deal {deal}: not stamped with its order ({row.get('ORIGIN_ID')})")
        if str(row.get("UF_CRM_1C_ORDER_NUMBER") or "") != str(order["Number"]):
            out.append(f"deal {deal}: the order's number was not written back")
        if stamps[deal] != 1:
            out.append(f"deal {deal}: stamped {stamps[deal]} times")
    return out


@pytest.fixture
def small() -> Iterator[Any]:
    """A sandbox with few orders: the chains under test are the deals started here, not the history."""
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=12, seed=5, rate_limit="off")) as box:
        yield box


def test_a_lost_reply_at_every_step_is_settled_in_the_same_run_and_nothing_is_sent_twice(
    small: Any, tmp_path: Path
) -> None:
    sandbox = small
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "deals_to_orders"]
    with Connector(config) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        a, b, c, d = deals = [start_deal(conn, sandbox, title=f"Цепочка {n}", product=1) for n in range(4)]
        # 1C writes in round order: creates a b c d, then posts a b c and d's create sent again, then d's post.
        # a's create commits and loses its reply (found by its key), d's create is reset before 1C ran it (not
        # found: sent once more), b's posting commits and loses its reply (the order is read: posted). The first
        # write-back batch (a, b, c) commits and loses its reply (the deals are read: stamped).
        sandbox.onec_app.faults = onec = onec_faults(["lost_reply", None, None, "reset", None, "lost_reply"])
        sandbox.portal.faults = portal = portal_faults(["lost_reply"])
        onec_before = len(sandbox.onec_app.log)
        report = conn.runner("deals_to_orders").incremental(30)
        assert onec.injected == {"lost_reply": 2, "reset": 1} and portal.injected == {"lost_reply": 1}
        assert report.created == 4 and report.failed == 0, report.errors
        writes = [
            f"{r.method} {r.path}"
            for r in list(sandbox.onec_app.log)[onec_before:]
            if r.method in ONEC_WRITES
        ]
        assert sum(1 for w in writes if w.endswith("/Post")) == 4  # b's lost posting was never sent again
        sandbox.onec_app.faults = sandbox.portal.faults = None
        found = problems(conn, sandbox, deals)
        assert found == [], "\n".join(found)

        # the next run finds every chain done: nothing is written on either side
        onec_before, b24_before = len(sandbox.onec_app.log), len(sandbox.portal.calls)
        again = conn.runner("deals_to_orders").incremental(30, full_scan=True)
        assert again.failed == 0, again.errors
        assert [r for r in list(sandbox.onec_app.log)[onec_before:] if r.method in ONEC_WRITES] == []
        updates = [c for c in list(sandbox.portal.calls)[b24_before:] if c.method == "crm.deal.update"]
        assert updates == []
        assert problems(conn, sandbox, deals) == []
        assert {x: len(orders_of(conn, deals)[x]) for x in (a, b, c, d)} == dict.fromkeys(deals, 1)


# -- kills: the same chain, the process killed in each window, then the next run -----------------------------------

KILLED = -9
WINDOWS = (
    "announced",  # intents written, nothing sent
    "posting",  # the orders exist, not posted
    "write-back",  # posted, the deals not told
    "written",  # everything written, the ledger not told
)


@pytest.fixture
def synced(tmp_path: Path) -> Iterator[tuple[Any, Path, dict[str, str], Connector]]:
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(orders=30, seed=23, rate_limit="off")) as box:
        text = EXAMPLE.read_text(encoding="utf-8")
        text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
        text = text.replace(
            "schedule: schedules/default.yaml", f"schedule: {ROOT / 'schedules' / 'default.yaml'}"
        )
        text = re.sub(r"(?m)^flows:.*$", f"flows: [{', '.join(FLOWS)}]", text)
        path = tmp_path / "config.yaml"
        path.write_text(text, encoding="utf-8")
        env = {**box.env(), "B24_1C_LEDGER": str(tmp_path / "ledger.sqlite3"), "B24_1C_LOG_LEVEL": "ERROR"}
        with Connector(load_config(path, env=env), lock=False) as conn:
            done = cli(path, env, "setup")
            assert done.returncode == 0, done.stderr[-2000:]
            done = cli(path, env, "backfill", "--since", "2017-01-01")
            assert done.returncode in (0, 1), done.stderr[-2000:]
            yield box, path, env, conn


def cli(
    path: Path, env: dict[str, str], *args: str, crash: str | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("B24_", "ONEC_"))}
    full = {**clean, **env, **({"B24_1C_CRASH_AT": crash} if crash else {})}
    return subprocess.run(
        [sys.executable, "-m", "connector", *args, "--config", str(path)],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_a_kill_in_every_window_of_the_chain_then_the_next_run_leaves_one_order_per_deal_stamped_once(
    synced: tuple[Any, Path, dict[str, str], Connector],
) -> None:
    box, path, env, conn = synced
    every: list[str] = []
    for window in WINDOWS:
        deals = [start_deal(conn, box, title=f"{window} {n}", product=1) for n in range(2)]
        every += deals
        killed = cli(path, env, "sync", "deals_to_orders", crash=f"{window}:1")
        assert killed.returncode == KILLED, (window, killed.returncode, killed.stderr[-2000:])
        if (
            window == "written"
        ):  # the kill came after the last step: both systems hold the whole chain already
            assert problems(conn, box, deals) == []
        done = cli(path, env, "sync", "deals_to_orders")
        assert done.returncode == 0, (window, done.stdout[-2000:], done.stderr[-2000:])
        found = problems(conn, box, deals)
        assert found == [], f"after a kill at {window}:\n" + "\n".join(found)
    assert problems(conn, box, every) == []


def test_over_soap_a_lost_create_order_reply_is_asked_again_with_the_same_key_and_makes_one_order(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CrmExchange's CreateOrder ran (created and posted the order) but its reply was lost: the chain asks again
    with the same idempotency key, the service answers with the same order, and the write-back follows."""
    from connector.errors import OutcomeUnknown
    from connector.onec.soap import SoapClient
    from tests.integration.test_deals_to_orders import connect

    real = SoapClient.call
    sent: list[str] = []

    def loses_the_first_create(
        self: SoapClient, operation: str, *, write: bool = False, **params: Any
    ) -> Any:
        answer = real(self, operation, write=write, **params)
        sent.append(operation)
        if operation == "CreateOrder" and sent.count("CreateOrder") == 1:
            raise OutcomeUnknown("the reply of 1C service CreateOrder was lost: ConnectionError", system="1c")
        return answer

    with connect(sandbox, tmp_path, "soap") as conn:
        conn.setup()
        for flow in FLOWS:
            conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        deals = [start_deal(conn, sandbox, title="SOAP", product=1)]
        monkeypatch.setattr(SoapClient, "call", loses_the_first_create)
        report = conn.runner("deals_to_orders").incremental(30)
        assert report.created == 1 and report.failed == 0, report.errors
        assert sent.count("CreateOrder") == 2  # asked again once, with the same key
        found = problems(conn, sandbox, deals)
        assert found == [], "\n".join(found)


def test_two_deals_of_one_new_client_in_flight_at_once_make_one_counterparty(
    small: Any, tmp_path: Path
) -> None:
    """With 1C steps in flight at once (sync.in_flight 2), two deals of a company 1C does not know run their client
    step in the same round: one counterparty is made, both orders point at it."""
    from tests.integration.test_new_client_into_1c import deal_for, hand_made_company, in_1c

    sandbox = small
    config = make_config(sandbox, tmp_path / "ledger.sqlite3")
    config.flows = ["counterparties", "deals_to_orders"]
    config.sync.in_flight = 2
    with Connector(config) as conn:
        conn.setup()
        conn.runner("counterparties").backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
        company = hand_made_company(conn, "7733333333", "773301001")
        deals = [deal_for(conn, sandbox, COMPANY_ID=company) for _ in range(2)]
        report = conn.runner("deals_to_orders").incremental(30)
        assert report.created == 2 and report.failed == 0, report.errors
        (counterparty,) = in_1c(conn, "Catalog_Контрагенты", ИНН="7733333333")
        orders = orders_of(conn, deals)
        assert [o["Контрагент_Key"] for d in deals for o in orders[d]] == [counterparty["Ref_Key"]] * 2
