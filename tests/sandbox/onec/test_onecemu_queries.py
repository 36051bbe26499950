"""Query options over HTTP: $filter errors, $select, $expand, $orderby, paging, counts, allowedOnly, tabular sets."""

from __future__ import annotations

from onecemu import OneC, error_of

ORDERS = "Document_ЗаказКлиента"


def test_filter_grammar_and_error_codes(onec: OneC) -> None:
    rows = onec.json(
        ORDERS,
        **{
            "$filter": f"Контрагент_Key eq guid'{onec.refs['counterparty']}' and "
            "СуммаДокумента ge 25000 and Date ge datetime'2024-01-01T00:00:00'"
        },
    )
    assert [r["Ref_Key"] for r in rows["value"]] == [onec.refs["order"]]
    by_nav = onec.json(ORDERS, **{"$filter": "Контрагент/ИНН eq '7712345678'", "$select": "Ref_Key"})
    assert by_nav["value"] == [{"Ref_Key": onec.refs["order"]}]
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$filter": "Нет eq 1"}))[:2] == (400, "10")
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$filter": "contains(Number,'1')"}))[:2] == (
        400,
        "21",
    )
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$filter": "Number eq"}))[:2] == (400, "14")


def test_select_variants(onec: OneC) -> None:
    ref = onec.refs["order"]
    flt = {"$filter": f"Ref_Key eq guid'{ref}'"}
    no_tables = onec.json(ORDERS, **flt, **{"$select": "**"})["value"][0]
    assert "Товары" not in no_tables and "СуммаДокумента" in no_tables
    cols = onec.json(ORDERS, **flt, **{"$select": "Number,Товары/Номенклатура_Key"})["value"][0]
    assert cols["Товары"][0] == {
        "Ref_Key": ref,
        "LineNumber": "1",
        "Номенклатура_Key": onec.refs["product_a"],
    }
    pres = onec.json(ORDERS, **flt, **{"$select": "Number,Контрагент____Presentation,Presentation"})["value"][
        0
    ]
    assert pres["Контрагент____Presentation"] == "ООО «Вектор-Снаб»"
    assert pres["Presentation"] == "Заказ клиента ЦБ00-000125 от 05.11.2024 10:15:32"
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$select": "Нет"}))[:2] == (400, "10")


def test_expand_navigation_and_composites(onec: OneC) -> None:
    ref = onec.refs["order"]
    row = onec.json(ORDERS, **{"$filter": f"Ref_Key eq guid'{ref}'", "$expand": "Контрагент,Партнер"})[
        "value"
    ][0]
    assert row["Контрагент"]["ИНН"] == "7712345678" and row["Партнер"]["Description"] == "Вектор-Снаб"
    invoices = onec.json("Document_СчетНаОплатуКлиенту", **{"$expand": "ДокументОснование", "$top": "1"})[
        "value"
    ]
    assert invoices[0]["ДокументОснование_Expanded"]["Ref_Key"] == invoices[0]["ДокументОснование"]
    one = onec.get(f"{ORDERS}(guid'{ref}')", **{"$format": "json", "$expand": "Контрагент"})
    assert error_of(one)[0] == 400
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$expand": "Товары"}))[0] == 400


def test_orderby_top_skip_and_no_next_link(onec: OneC) -> None:
    everything = onec.json(ORDERS, **{"$select": "Ref_Key,Date"})["value"]
    refs = [r["Ref_Key"] for r in onec.ib.all(ORDERS)]
    assert [r["Ref_Key"] for r in everything] == refs  # insertion order without $orderby
    assert refs != sorted(refs)
    ordered = onec.json(ORDERS, **{"$orderby": "Date desc,Ref_Key", "$select": "Date"})["value"]
    assert [r["Date"] for r in ordered] == sorted((r["Date"] for r in everything), reverse=True)
    page = onec.json(ORDERS, **{"$orderby": "Ref_Key", "$top": "5", "$skip": "3", "$select": "Ref_Key"})
    assert [r["Ref_Key"] for r in page["value"]] == sorted(refs)[3:8]
    assert "odata.nextLink" not in page
    assert error_of(onec.get(ORDERS, **{"$format": "json", "$top": "-1"}))[:2] == (400, "14")


def test_optional_page_cap_with_next_link(onec: OneC) -> None:
    onec.app.paging.max_page_size, onec.app.paging.next_link = 4, True
    page = onec.json(ORDERS, **{"$select": "Ref_Key"})
    assert len(page["value"]) == 4 and page["odata.nextLink"].endswith("$skip=4")


def test_count_and_inlinecount_quirks(onec: OneC) -> None:
    total = len(onec.ib.all(ORDERS))
    resp = onec.get(f"{ORDERS}/$count")
    assert resp.content.startswith("\ufeff".encode()) and resp.text.lstrip("\ufeff") == str(total)
    posted = onec.get(f"{ORDERS}/$count", **{"$filter": "Posted eq true"}).text.lstrip("\ufeff")
    assert int(posted) == sum(1 for o in onec.ib.all(ORDERS) if o["Posted"])
    inline = onec.json(ORDERS, **{"$inlinecount": "allpages", "$top": "2", "$select": "Ref_Key"})
    assert inline["odata.count"] == str(total) and len(inline["value"]) == total  # $top ignored, as DOC says
    onec.app.paging.inlinecount_ignores_paging = False
    inline = onec.json(ORDERS, **{"$inlinecount": "allpages", "$top": "2", "$select": "Ref_Key"})
    assert inline["odata.count"] == str(total) and len(inline["value"]) == 2


def test_allowed_only_filters_rows_a_restricted_user_may_not_see(onec: OneC) -> None:
    from onecemu import session

    onec.ib.grant("Менеджер", "1", rls={ORDERS: f"Контрагент_Key eq guid'{onec.refs['counterparty']}'"})
    user = session("Менеджер", "1")
    denied = user.get(onec.root + f"{ORDERS}?$format=json", timeout=10)
    assert error_of(denied)[:2] == (401, "20")
    allowed = user.get(onec.root + f"{ORDERS}?$format=json&allowedOnly=true", timeout=10).json()["value"]
    assert [r["Ref_Key"] for r in allowed] == [onec.refs["order"]]
    own = user.get(onec.root + f"{ORDERS}(guid'{onec.refs['order']}')?$format=json", timeout=10)
    assert own.status_code == 200


def test_tabular_section_sets_are_read_only(onec: OneC) -> None:
    rows = onec.json(f"{ORDERS}_Товары", **{"$filter": f"Ref_Key eq guid'{onec.refs['order']}'"})["value"]
    assert [r["LineNumber"] for r in rows] == ["1", "2"]
    one = onec.json(f"{ORDERS}_Товары(Ref_Key=guid'{onec.refs['order']}',LineNumber=2)")
    assert one["Номенклатура_Key"] == onec.refs["product_b"]
    assert error_of(onec.post(f"{ORDERS}_Товары", {"Количество": 1}))[:2] == (400, "13")
    assert error_of(onec.get(f"{ORDERS}_Товары(Ref_Key=guid'{onec.refs['order']}')", **{"$format": "json"}))[
        :2
    ] == (400, "7")
