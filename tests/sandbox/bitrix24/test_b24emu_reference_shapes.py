"""Issue 3, point 10: a table of request/response shapes quoted in reference/bitrix24-rest.md, replayed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import Emu

NUM = (int, float)
TIME = {
    "start": float,
    "finish": float,
    "duration": float,
    "processing": float,
    "date_start": str,
    "date_finish": str,
    "operating_reset_at": int,
    "operating": NUM,
}


def conforms(value: Any, shape: Any, where: str = "$") -> None:
    """A type (or tuple of types), a dict of required keys, [element shape], or an exact value."""
    if isinstance(shape, type | tuple):
        assert isinstance(value, shape) and not (isinstance(value, bool) and shape in (int, NUM)), (
            f"{where}: {value!r} is not {shape}"
        )
    elif isinstance(shape, dict):
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        for key, sub in shape.items():
            assert key in value, f"{where}: missing {key}"
            conforms(value[key], sub, f"{where}.{key}")
    elif isinstance(shape, list) and shape:
        assert isinstance(value, list) and value, f"{where}: {value!r} is not a non-empty list"
        for n, item in enumerate(value):
            conforms(item, shape[0], f"{where}[{n}]")
    else:
        assert value == shape, f"{where}: {value!r} != {shape!r}"


def _deal(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "ref", "OPPORTUNITY": 19999.99}})
    emu.ok("crm.deal.productrows.set", {"id": 1, "rows": [{"PRODUCT_NAME": "x", "PRICE": 899.1}]})


def _contact(emu: Emu) -> None:
    emu.ok("crm.contact.add", {"fields": {"NAME": "A", "EMAIL": [{"VALUE": "a@b.ru", "VALUE_TYPE": "WORK"}]}})


def _payment(emu: Emu) -> None:
    _deal(emu)
    emu.ok("crm.item.payment.add", {"entityTypeId": 2, "entityId": 1})


def _none(emu: Emu) -> None:
    pass


CASES: list[tuple[str, Callable[[Emu], None], str, dict[str, Any], int, Any]] = [
    (
        "§2.1 add returns a JSON number",
        _none,
        "crm.deal.add",
        {"fields": {"TITLE": "x"}},
        200,
        {"result": 1, "time": TIME},
    ),
    (
        "§2.1 update returns true",
        _deal,
        "crm.deal.update",
        {"id": 1, "fields": {"TITLE": "y"}},
        200,
        {"result": True},
    ),
    ("§2.1 delete returns true", _deal, "crm.deal.delete", {"id": 1}, 200, {"result": True}),
    (
        "§6.1 legacy get: strings",
        _deal,
        "crm.deal.get",
        {"id": 1},
        200,
        {
            "result": {
                "ID": "1",
                "OPPORTUNITY": "899.10",
                "CATEGORY_ID": "0",
                "DATE_CREATE": str,
                # an empty id reads "0" (b24-rest-docs tutorials/.../how-to-set-paid-date-to-deal.md @ b98534c4)
                "COMPANY_ID": "0",
                "COMMENTS": "",
            }
        },
    ),
    (
        "§2.1 list: total top-level",
        _deal,
        "crm.deal.list",
        {"select": ["ID"]},
        200,
        {"result": [{"ID": str}], "total": 1, "time": TIME},
    ),
    (
        "§6.1 product rows: mixed typing",
        _deal,
        "crm.deal.productrows.get",
        {"id": 1},
        200,
        {
            "result": [
                {"ID": str, "OWNER_TYPE": "D", "PRICE": 899.1, "PRICE_ACCOUNT": "899.10", "QUANTITY": NUM}
            ]
        },
    ),
    (
        "§6.1 crm.deal.fields",
        _none,
        "crm.deal.fields",
        {},
        200,
        {
            "result": {
                "TITLE": {
                    "type": "string",
                    "isRequired": False,
                    "isReadOnly": False,
                    "isImmutable": False,
                    "isMultiple": False,
                    "isDynamic": False,
                    "title": str,
                },
                "STAGE_ID": {"statusType": "DEAL_STAGE"},
            }
        },
    ),
    (
        "§2.1 crm.item.get {item}",
        _deal,
        "crm.item.get",
        {"entityTypeId": 2, "id": 1},
        200,
        {"result": {"item": {"id": 1, "opportunity": 899.1, "assignedById": 1, "opened": "Y"}}},
    ),
    (
        "§2.1 crm.item.list {items}",
        _deal,
        "crm.item.list",
        {"entityTypeId": 2},
        200,
        {"result": {"items": [{"id": int}]}, "total": 1},
    ),
    (
        "§6.2 crm.category.list",
        _none,
        "crm.category.list",
        {"entityTypeId": 2},
        200,
        {
            "result": {
                "categories": [
                    {
                        "id": int,
                        "name": str,
                        "sort": int,
                        "entityTypeId": 2,
                        "isDefault": str,
                        "originId": "",
                        "originatorId": "",
                    }
                ]
            }
        },
    ),
    (
        "§6.2 crm.status.list row",
        _none,
        "crm.status.list",
        {"filter": {"ENTITY_ID": "DEAL_STAGE"}},
        200,
        {
            "result": [
                {
                    "ID": str,
                    "ENTITY_ID": "DEAL_STAGE",
                    "STATUS_ID": str,
                    "NAME": str,
                    "SORT": str,
                    "SYSTEM": "Y",
                    "CATEGORY_ID": None,
                    "COLOR": str,
                    "EXTRA": {"SEMANTICS": str, "COLOR": str},
                }
            ]
        },
    ),
    (
        "§7 payment list row",
        _payment,
        "crm.item.payment.list",
        {"entityTypeId": 2, "entityId": 1},
        200,
        {
            "result": [
                {
                    "id": int,
                    "accountNumber": "1/1",
                    "paid": "N",
                    "datePaid": None,
                    "empPaidId": None,
                    "paySystemId": int,
                    "sum": NUM,
                    "currency": "RUB",
                    "paySystemName": str,
                }
            ]
        },
    ),
    (
        "§7 payment errors are integers",
        _none,
        "crm.item.payment.list",
        {},
        400,
        {"error": 100, "error_description": str},
    ),
    (
        "§8 findbycomm {TYPE:[ids]}",
        _contact,
        "crm.duplicate.findbycomm",
        {"type": "EMAIL", "values": ["a@b.ru"]},
        200,
        {"result": {"CONTACT": [1]}},
    ),
    (
        "§8 findbycomm without type",
        _none,
        "crm.duplicate.findbycomm",
        {"values": ["a"]},
        400,
        {"error": "Communication type is not defined", "error_description": "Parameter 'type' is required."},
    ),
    (
        "§9 todo.add {id}",
        _deal,
        "crm.activity.todo.add",
        {"ownerTypeId": 2, "ownerId": 1, "deadline": "2025-02-03T15:00:00"},
        200,
        {"result": {"id": 1}},
    ),
    (
        "§9 tasks.task.add {task}",
        _deal,
        "tasks.task.add",
        {"fields": {"TITLE": "t", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": ["D_1"]}},
        200,
        {"result": {"task": {"id": "1"}}},
    ),
    (
        "§9 im.notify.system.add int",
        _none,
        "im.notify.system.add",
        {"USER_ID": 1, "MESSAGE": "m"},
        200,
        {"result": 1},
    ),
    (
        "§11 user.get",
        _none,
        "user.get",
        {"FILTER": {"ACTIVE": True}},
        200,
        {
            "result": [{"ID": str, "ACTIVE": True, "NAME": str, "EMAIL": str, "UF_DEPARTMENT": [int]}],
            "total": 4,
        },
    ),
    (
        "§2.3 legacy not found",
        _none,
        "crm.deal.get",
        {"id": 5},
        400,
        {"error": "", "error_description": "Not found"},
    ),
    (
        "§2.3 unknown method",
        _none,
        "no.such.method",
        {},
        404,
        {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    ),
    (
        "§2.3 crm.item unknown filter",
        _none,
        "crm.item.list",
        {"entityTypeId": 2, "filter": {"XX": 1}},
        400,
        {
            "error": "INVALID_ARG_VALUE",
            "error_description": "Invalid filter: field 'XX' is not allowed in filter",
        },
    ),
    (
        "§2.3 old invoices",
        _none,
        "crm.item.list",
        {"entityTypeId": 5},
        400,
        {"error": "ENTITY_TYPE_NOT_SUPPORTED"},
    ),
    (
        "§2.3 userfield name",
        _none,
        "crm.deal.userfield.add",
        {"fields": {"FIELD_NAME": "ä", "USER_TYPE_ID": "string"}},
        400,
        {"error": "ERROR_CORE"},
    ),
    (
        "§2.3 bad fields",
        _none,
        "crm.deal.add",
        {"fields": "x"},
        400,
        {"error": "", "error_description": "Parameter 'fields' must be array."},
    ),
    (
        "§2.3 order direction",
        _none,
        "crm.deal.list",
        {"order": {"ID": "X"}},
        400,
        {"error": "ERROR_ARGUMENT"},
    ),
    (
        "§10 event.bind via webhook",
        _none,
        "event.bind",
        {"event": "ONCRMDEALADD", "handler": "https://x"},
        403,
        {"error": "ACCESS_DENIED", "error_description": "Application context required"},
    ),
    (
        "§4.2 batch sections",
        _deal,
        "batch",
        {"cmd": {"get_user": "user.get?ID=1", "bad": "crm.deal.get?id=9", "list_2": "crm.deal.list"}},
        200,
        {
            "result": {
                "result": {"get_user": [{"ID": "1"}], "list_2": [{"ID": "1"}]},
                "result_error": {"bad": {"error": "", "error_description": "Not found"}},
                "result_total": {"get_user": 1, "list_2": 1},
                "result_next": [],
                "result_time": {"get_user": TIME},
            },
            "time": dict,
        },
    ),
]


@pytest.mark.parametrize(
    ("title", "setup", "method", "params", "status", "shape"), CASES, ids=[c[0] for c in CASES]
)
def test_reference_shape(
    emu: Emu,
    title: str,
    setup: Callable[[Emu], None],
    method: str,
    params: dict[str, Any],
    status: int,
    shape: Any,
) -> None:
    setup(emu)
    got_status, body = emu.call(method, params)
    assert got_status == status, body
    conforms(body, shape)


def test_token_endpoint_shape(emu: Emu) -> None:
    refresh = emu.tokens()["refresh_token"]
    resp = emu.session.get(
        f"{emu.base}/oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": emu.app.client_id,
            "client_secret": "secret",
            "refresh_token": refresh,
        },
        timeout=5,
    )
    conforms(
        resp.json(),
        {
            "access_token": str,
            "client_endpoint": str,
            "domain": "oauth.bitrix.info",
            "expires": int,
            "expires_in": 3600,
            "member_id": str,
            "refresh_token": str,
            "scope": str,
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "F",
            "user_id": 1,
        },
    )


def test_offline_event_shape(emu: Emu) -> None:
    token = emu.tokens()["access_token"]
    emu.as_app("event.bind", {"event": "ONCRMDEALUPDATE", "event_type": "offline"}, token)
    _deal(emu)
    emu.ok("crm.deal.update", {"id": 1, "fields": {"TITLE": "z"}})
    body = emu.as_app("event.offline.get", {"clear": 0}, token)[1]
    conforms(
        body["result"],
        {
            "process_id": str,
            "events": [
                {
                    "ID": str,
                    "TIMESTAMP_X": str,
                    "EVENT_NAME": "ONCRMDEALUPDATE",
                    "EVENT_DATA": {"FIELDS": {"ID": "1"}},
                    "EVENT_ADDITIONAL": {"user_id": "1"},
                    "MESSAGE_ID": str,
                }
            ],
        },
    )
