"""Issue 3, point 7: payments, companies/contacts with multifields, requisites, dedup, reminders, users, events."""

from __future__ import annotations

import urllib.parse
from typing import Any

from b24_1c_sandbox.http import HTTPService, Request, Response
from conftest import Emu


def test_payments_lifecycle_and_numeric_errors(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"OPPORTUNITY": 1000}})
    pid = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1})
    assert isinstance(pid, int)
    assert emu.ok("sale.payment.update", {"id": pid, "fields": {"sum": 400}})["payment"]["sum"] == 400
    assert emu.ok("crm.item.payment.pay", {"id": pid}) is True
    got = emu.ok("crm.item.payment.get", {"id": pid})
    assert got["paid"] == "Y" and got["sum"] == 400 and got["datePaid"] == "2026-01-01T03:00:00+03:00"
    assert set(got) == {
        "id",
        "accountNumber",
        "paid",
        "datePaid",
        "empPaidId",
        "paySystemId",
        "sum",
        "currency",
        "paySystemName",
    }
    assert emu.ok("crm.item.payment.unpay", {"id": pid}) is True
    assert emu.ok("crm.item.payment.list", {"entityTypeId": 2, "entityId": 1})[0]["paid"] == "N"
    assert emu.ok("crm.item.payment.delete", {"id": pid}) is True
    assert emu.call("crm.item.payment.get", {"id": pid}) == (
        400,
        {"error": 0, "error_description": "Payment not found"},
    )
    assert emu.call("crm.item.payment.add", {"entityTypeId": 3, "entityId": 1})[1]["error"] == 0
    fresh = emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1})
    assert emu.call("crm.item.payment.update", {"id": fresh})[1]["error"] == 100


def test_companies_and_contacts_with_multifields_and_fm(emu: Emu) -> None:
    company = emu.ok(
        "crm.company.add",
        {
            "fields": {
                "TITLE": "ООО «Ромашка»",
                "ORIGIN_ID": "inn-1",
                "PHONE": [{"VALUE": "+7 (999) 111-22-33", "VALUE_TYPE": "WORK"}],
                "EMAIL": [{"VALUE": "info@romashka.ru", "VALUE_TYPE": "WORK"}],
            }
        },
    )
    got = emu.ok("crm.company.get", {"id": company})
    assert got["HAS_PHONE"] == "Y" and got["EMAIL"][0] == {
        "ID": got["EMAIL"][0]["ID"],
        "VALUE_TYPE": "WORK",
        "VALUE": "info@romashka.ru",
        "TYPE_ID": "EMAIL",
    }
    phone_id = got["PHONE"][0]["ID"]
    emu.ok("crm.company.update", {"id": company, "fields": {"PHONE": [{"ID": phone_id, "VALUE": ""}]}})
    assert "PHONE" not in emu.ok("crm.company.get", {"id": company})
    listed = emu.ok("crm.company.list", {"filter": {"ORIGIN_ID": "inn-1"}, "select": ["ID", "EMAIL"]})
    assert listed[0]["EMAIL"][0]["VALUE"] == "info@romashka.ru"
    contact = emu.ok(
        "crm.item.add",
        {
            "entityTypeId": 3,
            "fields": {
                "name": "Иван",
                "lastName": "Петров",
                "companyId": company,
                "fm": {"n0": {"typeId": "PHONE", "valueType": "MOBILE", "value": "89990001122"}},
            },
        },
    )["item"]
    fm_id = contact["fm"][0]["id"]
    emu.ok(
        "crm.item.update",
        {
            "entityTypeId": 3,
            "id": contact["id"],
            "fields": {
                "fm": {
                    str(fm_id): {"typeId": "PHONE", "value": "89990003344"},
                    "n1": {"value": "no-type: silently ignored"},
                }
            },
        },
    )
    legacy = emu.ok("crm.contact.get", {"id": contact["id"]})
    assert legacy["NAME"] == "Иван" and legacy["COMPANY_ID"] == str(company)
    assert [p["VALUE"] for p in legacy["PHONE"]] == ["89990003344"]
    assert emu.ok("crm.duplicate.findbycomm", {"type": "PHONE", "values": ["+7 999 000-33-44"]}) == {
        "CONTACT": [contact["id"]]
    }
    assert emu.ok("crm.duplicate.findbycomm", {"type": "EMAIL", "values": ["nobody@x.ru"]}) == []
    assert emu.call("crm.duplicate.findbycomm", {"values": ["x"]})[1] == {
        "error": "Communication type is not defined",
        "error_description": "Parameter 'type' is required.",
    }
    assert (
        emu.call("crm.duplicate.findbycomm", {"type": "EMAIL", "values": [f"{i}@x" for i in range(21)]})[0]
        == 400
    )


def test_requisites_by_inn_and_kpp(emu: Emu) -> None:
    company = emu.ok("crm.company.add", {"fields": {"TITLE": "ПАО Сбер"}})
    req = emu.ok(
        "crm.requisite.add",
        {
            "fields": {
                "ENTITY_TYPE_ID": 4,
                "ENTITY_ID": company,
                "PRESET_ID": 1,
                "NAME": "Головной офис",
                "RQ_INN": "7707083893",
                "RQ_KPP": "773601001",
            }
        },
    )
    rows = emu.ok("crm.requisite.list", {"filter": {"RQ_INN": "7707083893"}})
    assert (
        rows[0]["ID"] == str(req)
        and rows[0]["ENTITY_ID"] == str(company)
        and rows[0]["RQ_KPP"] == "773601001"
    )
    assert (
        emu.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company}})[1]["error"]
        == ""
    )


def test_todo_activity_task_and_notification(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "отсрочка"}})
    todo = emu.ok(
        "crm.activity.todo.add",
        {
            "ownerTypeId": 2,
            "ownerId": 1,
            "deadline": "2026-02-03T15:00:00",
            "title": "Оплата по отсрочке",
            "responsibleId": 2,
            "pingOffsets": [0, 15],
        },
    )
    assert todo == {"id": 1}
    assert (
        emu.call("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": 1, "deadline": "завтра"})[1]["error"]
        == "WRONG_DATETIME_FORMAT"
    )
    assert (
        emu.call(
            "crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": 99, "deadline": "2026-02-03T15:00:00"}
        )[1]["error"]
        == "OWNER_NOT_FOUND"
    )
    assert emu.call("crm.activity.todo.add", {"ownerTypeId": 2, "ownerId": 1})[1]["error"] == 100
    act = emu.ok("crm.activity.get", {"id": 1})
    assert (
        act["DEADLINE"] == "2026-02-03T15:00:00+03:00"
        and act["COMPLETED"] == "N"
        and act["RESPONSIBLE_ID"] == "2"
    )
    emu.ok(
        "crm.activity.todo.updateDeadline",
        {"id": 1, "ownerTypeId": 2, "ownerId": 1, "value": "2026-02-10T10:00:00+03:00"},
    )
    emu.ok("crm.activity.update", {"id": 1, "fields": {"COMPLETED": "Y"}})
    listed = emu.ok("crm.activity.list", {"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": 1, "COMPLETED": "Y"}})
    assert [(a["ID"], a["DEADLINE"]) for a in listed] == [("1", "2026-02-10T10:00:00+03:00")]
    task = emu.ok(
        "tasks.task.add",
        {
            "fields": {
                "TITLE": "Позвонить",
                "RESPONSIBLE_ID": 2,
                "UF_CRM_TASK": ["D_1"],
                "DEADLINE": "2026-02-01T12:00:00+03:00",
            }
        },
    )["task"]
    assert task["id"] == "1" and task["ufCrmTask"] == ["D_1"] and task["responsibleId"] == "2"
    assert (
        emu.call("tasks.task.add", {"fields": {"TITLE": "x", "RESPONSIBLE_ID": 2, "UF_CRM_TASK": ["D_9"]}})[0]
        == 400
    )
    first = emu.ok(
        "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "[B]Оплата[/B]", "TAG": "pay|1", "CLIENT_ID": "app"}
    )
    second = emu.ok(
        "im.notify.system.add", {"USER_ID": 2, "MESSAGE": "Оплата 2", "TAG": "pay|1", "CLIENT_ID": "app"}
    )
    assert isinstance(first, int) and second > first
    assert [n["MESSAGE"] for n in emu.portal.rows_of("notification")] == ["Оплата 2"]
    assert (
        emu.call("im.notify.system.add", {"USER_ID": 2, "MESSAGE": "x", "TAG": "t"})[1]["error"]
        == "CLIENT_ID_EMPTY"
    )


def test_user_get_and_search(emu: Emu) -> None:
    active = emu.ok("user.get", {"FILTER": {"ACTIVE": True}})
    assert "5" not in {u["ID"] for u in active} and len(active) == 4
    by_mail = emu.ok("user.get", {"FILTER": {"EMAIL": "irina@sandbox.example"}})
    assert by_mail[0]["ID"] == "2" and by_mail[0]["UF_DEPARTMENT"] == [1] and by_mail[0]["ACTIVE"] is True
    assert [u["ID"] for u in emu.ok("user.search", {"FILTER": {"FIND": "продаж"}})] == ["3"]
    assert [u["ID"] for u in emu.ok("user.search", {"LAST_NAME": "Бухгалтерова"})] == ["4"]


def test_events_online_handlers_and_offline_queue(emu: Emu) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    def handler(request: Request) -> Response:
        received.append(
            (request.headers.get("content-type", ""), dict(urllib.parse.parse_qsl(request.body.decode())))
        )
        return Response.text("ok")

    sink = HTTPService(handler).start()
    try:
        hook_try = emu.call("event.bind", {"event": "ONCRMDEALUPDATE", "handler": sink.url})
        assert hook_try == (
            403,
            {"error": "ACCESS_DENIED", "error_description": "Application context required"},
        )
        token = emu.tokens()["access_token"]
        assert (
            emu.as_app("event.bind", {"event": "ONCRMDEALUPDATE", "handler": sink.url + "/h"}, token)[1][
                "result"
            ]
            is True
        )
        assert (
            emu.as_app("event.bind", {"event": "ONNOPE", "handler": sink.url}, token)[1]["error"]
            == "ERROR_EVENT_NOT_FOUND"
        )
        assert (
            emu.as_app("event.bind", {"event": "ONCRMDEALUPDATE", "event_type": "offline"}, token)[0] == 200
        )
        assert (
            emu.as_app(
                "event.bind",
                {"event": "ONCRMDEALADD", "event_type": "offline", "auth_connector": "1c_sync"},
                token,
            )[0]
            == 200
        )
        emu.ok("crm.deal.add", {"fields": {"TITLE": "a"}})
        for n in range(5):  # one queued record per object, however many updates
            emu.ok("crm.deal.update", {"id": 1, "fields": {"TITLE": f"v{n}"}})
        emu.session.post(
            emu.hook + "crm.deal.add",
            json={"fields": {"TITLE": "mine"}, "auth_connector": "1c_sync"},
            timeout=5,
        )
        emu.portal.events.flush()
        assert len(received) == 5 and received[0][0] == "application/x-www-form-urlencoded"
        form = received[0][1]
        assert form["event"] == "ONCRMDEALUPDATE" and form["data[FIELDS][ID]"] == "1"
        assert form["auth[application_token]"] == emu.app.application_token and "ts" in form
        peek = emu.as_app("event.offline.list", {}, token)[1]
        assert peek["total"] == 2
        assert {(r["EVENT_NAME"], r["EVENT_DATA"]["FIELDS"]["ID"]) for r in peek["result"]} == {
            ("ONCRMDEALADD", "1"),
            ("ONCRMDEALUPDATE", "1"),
        }
        reserved = emu.as_app("event.offline.get", {"clear": 0, "limit": 1}, token)[1]["result"]
        assert reserved["process_id"] and [e["EVENT_NAME"] for e in reserved["events"]] == ["ONCRMDEALADD"]
        assert (
            emu.as_app(
                "event.offline.error",
                {"process_id": reserved["process_id"], "message_id": [reserved["events"][0]["MESSAGE_ID"]]},
                token,
            )[0]
            == 200
        )
        assert [
            e["EVENT_NAME"]
            for e in emu.as_app("event.offline.get", {"error": 1}, token)[1]["result"]["events"]
        ] == ["ONCRMDEALADD"]
        rest = emu.as_app("event.offline.get", {"clear": 0}, token)[1]["result"]
        emu.as_app("event.offline.clear", {"process_id": rest["process_id"]}, token)
        assert emu.as_app("event.offline.list", {}, token)[1]["total"] == 0
        # The change made with auth_connector=1c_sync was not queued for the 1c_sync binding.
        connector_view = emu.session.post(
            f"{emu.base}/rest/event.offline.list",
            timeout=5,
            json={"auth": token, "auth_connector": "1c_sync"},
        ).json()
        assert connector_view["total"] == 0
        assert emu.call("event.offline.get")[1]["error"] == "ACCESS_DENIED"
    finally:
        sink.stop()
