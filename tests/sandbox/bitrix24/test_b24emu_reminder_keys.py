"""The emulator keeps the external keys of to-dos and tasks as the vendor documents them: ORIGINATOR_ID / ORIGIN_ID
of an activity (written by crm.activity.update, returned and filtered by crm.activity.list), XML_ID of a task
(written by tasks.task.add, returned as xmlId and filtered by tasks.task.list)."""

from __future__ import annotations

from conftest import Emu


def _todo(emu: Emu, title: str = "Ожидается оплата") -> int:
    created = emu.ok(
        "crm.activity.todo.add",
        {"ownerTypeId": 2, "ownerId": 1, "deadline": "2026-02-03T10:00:00+03:00", "title": title},
    )
    return int(created["id"])


def test_activity_external_key_is_stored_returned_and_filtered(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "сделка"}})
    first, second = _todo(emu), _todo(emu, "чужое дело")
    fresh = emu.ok("crm.activity.get", {"id": first})
    assert fresh["ORIGINATOR_ID"] is None and fresh["ORIGIN_ID"] is None  # todo.add has no key of its own
    stamp = {"OWNER_TYPE_ID": 2, "OWNER_ID": 1, "ORIGINATOR_ID": "1C-abcdef01", "ORIGIN_ID": "order-1:due"}
    assert emu.ok("crm.activity.update", {"id": first, "fields": stamp}) is True
    got = emu.ok("crm.activity.get", {"id": first})
    assert (got["ORIGINATOR_ID"], got["ORIGIN_ID"], got["SUBJECT"]) == (
        "1C-abcdef01",
        "order-1:due",
        "Ожидается оплата",
    )
    select = ["ID", "ORIGINATOR_ID", "ORIGIN_ID", "DEADLINE", "COMPLETED", "SUBJECT"]
    listed = emu.ok(
        "crm.activity.list",
        {
            "filter": {"OWNER_TYPE_ID": 2, "@OWNER_ID": [1, 7], "PROVIDER_ID": "CRM_TODO"},
            "select": select,
        },
    )
    assert sorted(int(a["ID"]) for a in listed) == [first, second]
    assert set(listed[0]) == set(select)
    by_key = emu.ok(
        "crm.activity.list",
        {
            "filter": {"ORIGINATOR_ID": "1C-abcdef01", "@ORIGIN_ID": ["order-1:due", "order-2:due"]},
            "select": select,
        },
    )
    assert [int(a["ID"]) for a in by_key] == [first]
    assert emu.ok("crm.activity.list", {"filter": {"ORIGINATOR_ID": "someone-else"}}) == []
    # Partial updates keep the key; immutable fields are refused with any other value, and nothing is half-written.
    emu.ok("crm.activity.update", {"id": first, "fields": {"COMPLETED": "Y"}})
    assert emu.ok("crm.activity.get", {"id": first})["ORIGIN_ID"] == "order-1:due"
    status, body = emu.call(
        "crm.activity.update", {"id": first, "fields": {"ORIGIN_ID": "x", "OWNER_TYPE_ID": 3}}
    )
    assert status == 400 and "OWNER_TYPE_ID" in body["error_description"]
    assert emu.ok("crm.activity.get", {"id": first})["ORIGIN_ID"] == "order-1:due"
    status, body = emu.call("crm.activity.update", {"id": first, "fields": {"SUBJECT": " "}})
    assert status == 400 and body["error_description"] == "The field SUBJECT is not defined or empty"


def test_task_xml_id_is_stored_returned_and_filtered(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "сделка"}})
    emu.ok("crm.deal.add", {"fields": {"TITLE": "другая"}})
    fields = {"TITLE": "Просрочена оплата", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": ["D_1"]}
    ours = emu.ok("tasks.task.add", {"fields": {**fields, "XML_ID": "1C-abcdef01:order-1:overdue"}})["task"]
    assert ours["xmlId"] == "1C-abcdef01:order-1:overdue"
    plain = emu.ok("tasks.task.add", {"fields": fields})["task"]
    assert plain["xmlId"] is None
    other = emu.ok("tasks.task.add", {"fields": {**fields, "UF_CRM_TASK": ["D_2"], "XML_ID": "x"}})["task"]
    select = ["ID", "XML_ID", "UF_CRM_TASK"]

    def ids(flt: dict[str, object]) -> list[str]:
        return [t["id"] for t in emu.ok("tasks.task.list", {"filter": flt, "select": select})["tasks"]]

    assert ids({"UF_CRM_TASK": "D_1"}) == [plain["id"], ours["id"]]  # newest first
    assert ids({"UF_CRM_TASK": "D_1", "XML_ID": "1C-abcdef01:order-1:overdue"}) == [ours["id"]]
    assert ids({"XML_ID": "1C-abcdef01:order-2:overdue"}) == []
    assert ids({"!UF_CRM_TASK": "D_1"}) == [other["id"]]
    row = emu.ok("tasks.task.list", {"filter": {"ID": ours["id"]}, "select": select})["tasks"][0]
    assert row == {"id": ours["id"], "xmlId": "1C-abcdef01:order-1:overdue", "ufCrmTask": ["D_1"]}
    # A filter key the emulator does not implement is refused, never silently ignored.
    status, _ = emu.call("tasks.task.list", {"filter": {"NO_SUCH_FIELD": 1}})
    assert status == 400
