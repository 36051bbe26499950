"""Issue 3, point 6: pages of 50, start=-1, filter prefixes, order, select masks, dates, unstable default order."""

from __future__ import annotations

from conftest import Emu


def _seed(emu: Emu, n: int = 120) -> None:
    emu.ok("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "PAID", "USER_TYPE_ID": "double"}})
    for i in range(n):
        emu.ok(
            "crm.deal.add",
            {
                "fields": {
                    "TITLE": f"Заказ {i:03d}",
                    "OPPORTUNITY": i,
                    "UF_CRM_PAID": i / 2,
                    "STAGE_ID": "WON" if i % 10 == 0 else "NEW",
                    "ORIGINATOR_ID": "1C",
                    "ORIGIN_ID": f"guid-{i}",
                }
            },
        )
        if i == 59:
            emu.clock.advance(3600)


def test_limit_is_ignored_and_pages_are_50(emu: Emu) -> None:
    _seed(emu)
    body = emu.post("crm.deal.list", {"order": {"ID": "ASC"}, "limit": 5, "start": 60}).json()
    assert len(body["result"]) == 50 and body["result"][0]["ID"] == "51"  # start rounds down to a page
    assert body["next"] == 100 and body["total"] == 120


def test_start_minus_one_skips_counting_and_next(emu: Emu) -> None:
    _seed(emu)
    body = emu.post("crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": 100}, "start": -1}).json()
    assert [r["ID"] for r in body["result"]] == [str(i) for i in range(101, 121)]
    assert "next" not in body and "total" not in body


def test_filter_prefixes(emu: Emu) -> None:
    _seed(emu)

    def ids(flt: dict[str, object]) -> list[int]:
        rows = emu.ok("crm.deal.list", {"filter": flt, "order": {"ID": "ASC"}, "select": ["ID"], "start": -1})
        return [int(r["ID"]) for r in rows]

    assert ids({"=ID": 5}) == [5]
    assert ids({">=ID": 118}) == [118, 119, 120]
    assert ids({"<ID": 3}) == [1, 2]
    assert ids({"<=ID": 2, "!ID": 1}) == [2]
    assert ids({"@ID": [3, 4, 99]}) == [3, 4, 99]
    assert ids({"!@ID": list(range(1, 119))}) == [119, 120]
    assert ids({"%TITLE": "заказ 11"}) == list(range(111, 121))  # case-insensitive substring
    assert ids({"STAGE_ID": "WON", "<ID": 30}) == [1, 11, 21]
    assert ids({"ORIGINATOR_ID": "1C", "ORIGIN_ID": "guid-7"}) == [8]
    assert ids({">UF_CRM_PAID": 58.5, "<ID": 200}) == [119, 120]


def test_dates_iso_with_portal_offset_at_whole_seconds(emu: Emu) -> None:
    _seed(emu)
    row = emu.ok("crm.deal.get", {"id": 1})
    assert row["DATE_CREATE"] == "2026-01-01T03:00:00+03:00"
    assert row["BEGINDATE"] == "2026-01-01T03:00:00+03:00"  # date-only: midnight shifted by the offset
    later = emu.ok(
        "crm.deal.list",
        {
            "filter": {">=DATE_CREATE": "2026-01-01T01:00:00+00:00"},
            "start": -1,
            "select": ["ID"],
            "order": {"ID": "ASC"},
        },
    )
    assert later[0]["ID"] == "61"
    same = emu.ok(
        "crm.deal.list",
        {
            "filter": {">DATE_CREATE": "2026-01-01T03:59:59+03:00"},
            "start": -1,
            "select": ["ID"],
            "order": {"ID": "ASC"},
        },
    )
    assert same[0]["ID"] == "61"


def test_order_and_select_masks(emu: Emu) -> None:
    _seed(emu, 5)
    rows = emu.ok("crm.deal.list", {"order": {"OPPORTUNITY": "DESC"}, "select": ["TITLE"]})
    assert [r["ID"] for r in rows] == ["5", "4", "3", "2", "1"] and set(rows[0]) == {"ID", "TITLE"}
    default = emu.ok("crm.deal.list", {"order": {"ID": "ASC"}})[0]
    assert "UF_CRM_PAID" in default and "TITLE" in default
    star = emu.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["*"]})[0]
    assert "UF_CRM_PAID" not in star and "STAGE_ID" in star
    uf = emu.ok("crm.deal.list", {"order": {"ID": "ASC"}, "select": ["UF_*"]})[0]
    assert set(uf) == {"ID", "UF_CRM_PAID"}
    bad = emu.call("crm.deal.list", {"order": {"ID": "UP"}})
    assert bad == (
        400,
        {"error": "ERROR_ARGUMENT", "error_description": "Order direction should be one of {ASC|DESC}"},
    )


def test_no_stable_order_without_order(emu: Emu) -> None:
    _seed(emu, 60)
    seen = {tuple(r["ID"] for r in emu.ok("crm.deal.list", {"select": ["ID"]})) for _ in range(5)}
    assert len(seen) > 1
    emu.portal.settings.shuffle_unordered = False
    seen = {tuple(r["ID"] for r in emu.ok("crm.deal.list", {"select": ["ID"]})) for _ in range(3)}
    assert len(seen) == 1
