"""Several 1C bases into one portal (issue 15, point 2): two 1C sandboxes, one Bitrix24 portal, two connectors with
their own ledgers and installation ids. Everything is counted through the public interfaces (Bitrix24 REST, each
base's OData), never through the emulators' internals or the ledgers."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector.app import Connector
from connector.config import load_config
from connector.reconcile import Reconciler
from tests.conftest import EXAMPLE, ROOT, SINCE

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # about 16 s: two bases, several rounds
FLOWS = ["managers", "counterparties", "orders", "money", "deals_to_orders"]
ORDER = "Document_ЗаказКлиента"
BASE_FIELD = "UF_CRM_1C_BASE"
SOUTH = {"field": BASE_FIELD, "value": "south"}  # the first base takes deals whose base field names it
NORTH = {"category": [1]}  # the second takes the second pipeline


@pytest.fixture
def bases() -> Iterator[tuple[Any, Any]]:
    from b24_1c_sandbox.bases import BaseOptions, OneCBase
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    with (
        Sandbox(SandboxOptions(orders=15, seed=31, rate_limit="off")) as box,
        OneCBase(box, BaseOptions(base="north", orders=12, seed=47)) as north,
    ):
        yield box, north


def install(folder: Path, env: dict[str, str], name: str, takes: dict[str, Any]) -> Connector:
    """An installation as an admin sets one up: its own config, ledger and mappings; the mappings say which base
    wrote a deal (UF_CRM_1C_BASE, created by setup) on every deal the orders flow writes and on the write-back."""
    folder.mkdir(parents=True, exist_ok=True)
    mappings = folder / "mappings"
    if not mappings.exists():
        mappings.mkdir()
        for flow in FLOWS:
            shutil.copy(ROOT / "mappings" / f"{flow}.yaml", mappings)
        # Appended as text: the mappings use YAML 1.2's `on:` key, which PyYAML would read as True.
        orders = (mappings / "orders.yaml").read_text(encoding="utf-8")
        orders = orders.replace("\nfields:\n", f"\nfields:\n  {BASE_FIELD}: {{const: {name}}}\n", 1)
        orders = orders.replace(
            "\nuser_fields:\n", f"\nuser_fields:\n  {BASE_FIELD}: {{type: string, label: База 1С}}\n", 1
        )
        (mappings / "orders.yaml").write_text(orders, encoding="utf-8")
        d2o = (mappings / "deals_to_orders.yaml").read_text(encoding="utf-8")
        d2o = d2o.replace("  write_back:", f"  write_back:\n    {BASE_FIELD}: {{const: {name}}}", 1)
        (mappings / "deals_to_orders.yaml").write_text(d2o, encoding="utf-8")
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw["installation"] = {"id": name, "takes": takes}
    raw["bitrix24"]["share"] = 0.5
    raw["schedule"] = str(ROOT / "schedules" / "default.yaml")
    raw["flows"] = FLOWS
    config_file = folder / "config.yaml"
    config_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return Connector(load_config(config_file, env={**env, "B24_1C_LEDGER": str(folder / "ledger.sqlite3")}))


def rows_read(box: Any, action: Any) -> set[str]:
    """The deals whose product rows were read while `action` ran (the sandbox's call log)."""
    before = len(box.portal.calls)
    action()
    return {str(c.params["id"]) for c in box.portal.calls[before:] if c.method == "crm.deal.productrows.get"}


def sync(conn: Connector) -> None:
    for flow in FLOWS:
        conn.runner(flow).backfill(SINCE.replace(tzinfo=conn.onec_tz), None)
    for flow in FLOWS:
        conn.runner(flow).incremental(30)


def deals(conn: Connector) -> dict[str, dict[str, Any]]:
    select = [
        "ID",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "COMPANY_ID",
        "CATEGORY_ID",
        "UF_CRM_1C_ORDER_NUMBER",
        BASE_FIELD,
    ]
    return {str(d["ID"]): d for page in conn.bitrix24.list_fast("crm.deal.list", {}, select) for d in page}


def posted(conn: Connector) -> list[dict[str, Any]]:
    select = ["Ref_Key", "Number", "Posted", "DeletionMark", "НомерПоДаннымКлиента", "Контрагент_Key"]
    return [
        o
        for o in conn.odata.query(ORDER, select=select, orderby="Ref_Key")
        if o["Posted"] and not o["DeletionMark"]
    ]


def companies_with_inn(conn: Connector, inn: str) -> set[str]:
    rows = conn.bitrix24.call(
        "crm.requisite.list", {"filter": {"RQ_INN": inn, "ENTITY_TYPE_ID": 4}, "select": ["ENTITY_ID"]}
    ).result
    return {str(r["ENTITY_ID"]) for r in rows}


def start_deal(conn: Connector, product: dict[str, Any], company: str, **fields: Any) -> str:
    deal = str(
        conn.bitrix24.call(
            "crm.deal.add",
            {"fields": {"TITLE": "Сделка из CRM", "COMPANY_ID": company, **fields}},
            write=True,
        ).result
    )
    row = {"PRODUCT_NAME": product["Description"], "PRICE": product["price"], "QUANTITY": 2}
    conn.bitrix24.call("crm.deal.productrows.set", {"id": deal, "rows": [row]}, write=True)
    return deal


def check(south: Connector, north: Connector, inn: str, routed: str, unnamed: str, named_south: str) -> None:
    now = deals(south)
    # One company for the ИНН both bases hold, stamped by the first installation that made it and never restamped.
    company = companies_with_inn(south, inn)
    assert len(company) == 1, company
    for conn, name in ((south, "south"), (north, "north")):
        orders = posted(conn)
        mine = [d for d in now.values() if d.get("ORIGINATOR_ID") == name]
        per_order = Counter(str(d["ORIGIN_ID"]) for d in mine)
        # One deal per posted 1C order of this base, carrying its key, number and base name; nothing else.
        assert {o["Ref_Key"]: per_order[o["Ref_Key"]] for o in orders} == {o["Ref_Key"]: 1 for o in orders}
        assert set(per_order) == {o["Ref_Key"] for o in orders}
        number = {o["Ref_Key"]: o["Number"] for o in orders}
        assert [d["ID"] for d in mine if d.get("UF_CRM_1C_ORDER_NUMBER") != number[d["ORIGIN_ID"]]] == []
        assert [d["ID"] for d in mine if d.get(BASE_FIELD) != name] == []
        # Each base's orders of the shared counterparty point at the one company.
        shared = [o for o in orders if o["Контрагент_Key"] == _shared_ref(conn, inn)]
        assert shared
        by_order = {d["ORIGIN_ID"]: d for d in mine}
        assert {str(by_order[o["Ref_Key"]]["COMPANY_ID"]) for o in shared} == company
    # The deal started in the second pipeline is ordered in the second base only, once, and written back there.
    in_north = [o for o in posted(north) if o.get("НомерПоДаннымКлиента") == f"B24-{routed}"]
    assert len(in_north) == 1
    assert [o for o in posted(south) if o.get("НомерПоДаннымКлиента") == f"B24-{routed}"] == []
    deal = now[routed]
    assert (deal["ORIGINATOR_ID"], deal["ORIGIN_ID"]) == ("north", in_north[0]["Ref_Key"])
    assert deal["UF_CRM_1C_ORDER_NUMBER"] == in_north[0]["Number"]
    # The deal the first base's field rule names goes there; a deal no rule names is left alone by both.
    in_south = [o for o in posted(south) if o.get("НомерПоДаннымКлиента") == f"B24-{named_south}"]
    assert len(in_south) == 1 and now[named_south]["ORIGINATOR_ID"] == "south"
    for conn in (south, north):
        assert [
            o
            for o in conn.odata.query(ORDER, select=["НомерПоДаннымКлиента"])
            if o.get("НомерПоДаннымКлиента") == f"B24-{unnamed}"
        ] == []
    assert not now[unnamed].get("ORIGINATOR_ID") and not now[unnamed].get("ORIGIN_ID")


def stamp_of(conn: Connector, company: str) -> tuple[str, str]:
    rows = conn.bitrix24.call(
        "crm.company.list", {"filter": {"ID": company}, "select": ["ID", "ORIGINATOR_ID", "ORIGIN_ID"]}
    ).result
    return str(rows[0]["ORIGINATOR_ID"]), str(rows[0]["ORIGIN_ID"])


def title_of(conn: Connector, company: str) -> str:
    rows = conn.bitrix24.call(
        "crm.company.list", {"filter": {"ID": company}, "select": ["ID", "TITLE"]}
    ).result
    return str(rows[0]["TITLE"])


def _shared_ref(conn: Connector, inn: str) -> str:
    rows = list(conn.odata.query("Catalog_Контрагенты", select=["Ref_Key", "ИНН"]))
    return next(str(r["Ref_Key"]) for r in rows if r["ИНН"] == inn)


def test_two_bases_share_one_portal_without_touching_each_others_deals(
    bases: tuple[Any, Any], tmp_path: Path
) -> None:
    box, north_base = bases
    first, second = north_base.share_counterparty()
    inn = str(first["ИНН"])
    south = install(tmp_path / "south", box.env(), "south", SOUTH)
    north = install(tmp_path / "north", north_base.env(), "north", NORTH)
    try:
        south.setup()
        north.setup()
        for _ in range(2):
            sync(south)
            sync(north)
        (company,) = companies_with_inn(south, inn)
        stamp = stamp_of(south, company)
        assert stamp == ("south", first["Ref_Key"])
        assert second["Description"] != first["Description"]  # the second base names it otherwise
        assert title_of(south, company) == first["Description"]  # the first base's title stays
        product = north_base.dataset.products[0]
        routed = start_deal(north, product, company, CATEGORY_ID=1, STAGE_ID="C1:EXECUTING")
        named_south = start_deal(
            south, box.dataset.products[0], company, STAGE_ID="EXECUTING", **{BASE_FIELD: "south"}
        )
        unnamed = start_deal(south, box.dataset.products[0], company, STAGE_ID="EXECUTING")
        read: dict[str, set[str]] = {"south": set(), "north": set()}
        for _ in range(3):
            read["south"] |= rows_read(box, lambda: sync(south))
            read["north"] |= rows_read(box, lambda: sync(north))
        # Neither installation read the rows of a deal the other stamped (the orders flow puts some in pipeline 1).
        now = deals(south)
        for name, ids in read.items():
            assert [d for d in ids if now[d].get("ORIGINATOR_ID") not in (None, "", name)] == []
        assert routed in read["north"] and routed not in read["south"]
        check(south, north, inn, routed, unnamed, named_south)
        stamp = stamp_of(south, company)
        assert stamp == ("south", first["Ref_Key"])
        before = deals(south)
        # The second installation loses its ledger: after syncing again nothing is twinned, re-pointed or restamped.
        north.close()
        (tmp_path / "north" / "ledger.sqlite3").unlink()
        north = install(tmp_path / "north", north_base.env(), "north", NORTH)
        for _ in range(2):
            sync(north)
            sync(south)
        check(south, north, inn, routed, unnamed, named_south)
        assert deals(south) == before
        assert stamp_of(south, company) == ("south", first["Ref_Key"])
        assert title_of(south, company) == first["Description"]
        # Each installation's reconcile checks its own base's orders against the deals it made: no drift.
        for conn in (south, north):
            result = Reconciler(conn).scan(None)
            assert (result.checked, result.drifts) == (len(posted(conn)), [])
        # The first's requisite is left as it was (the second adds no twin with the same ИНН and КПП).
        requisites = south.bitrix24.call(
            "crm.requisite.list",
            {
                "filter": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company},
                "select": ["ORIGINATOR_ID", "XML_ID", "RQ_KPP"],
            },
        ).result
        assert [(r["ORIGINATOR_ID"], r["XML_ID"], r["RQ_KPP"]) for r in requisites] == [
            ("south", first["Ref_Key"], first["КПП"])
        ]
        assert second["ИНН"] == inn
    finally:
        south.close()
        north.close()
