"""Issue 3, points 2-3: request encodings and the response envelope (time block, errors, headers)."""

from __future__ import annotations

import json
from datetime import datetime

from conftest import Emu


def test_get_query_with_php_brackets(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "A"}})
    emu.ok("crm.deal.add", {"fields": {"TITLE": "B"}})
    resp = emu.session.get(
        emu.hook + "crm.deal.list",
        params={"filter[>ID]": "1", "select[]": "TITLE", "order[ID]": "ASC"},
        timeout=5,
    )
    assert resp.json()["result"] == [{"ID": "2", "TITLE": "B"}]


def test_form_urlencoded_and_multipart_bodies(emu: Emu) -> None:
    resp = emu.session.post(
        emu.hook + "crm.deal.add", data={"fields[TITLE]": "Форма", "fields[OPPORTUNITY]": "10"}, timeout=5
    )
    assert resp.status_code == 200
    resp = emu.session.post(emu.hook + "crm.deal.add", files={"fields[TITLE]": (None, "Мульти")}, timeout=5)
    assert resp.status_code == 200
    assert [d["TITLE"] for d in emu.portal.deals()] == ["Форма", "Мульти"]


def test_json_body_only_with_exact_application_json(emu: Emu) -> None:
    body = json.dumps({"fields": {"TITLE": "J"}})
    ok = emu.session.post(
        emu.hook + "crm.deal.add",
        data=body,
        timeout=5,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200
    for content_type in ("text/json", "application/json-patch+json", "Application/JSON"):
        bad = emu.session.post(
            emu.hook + "crm.deal.add", data=body, timeout=5, headers={"Content-Type": content_type}
        )
        assert bad.status_code == 400, content_type
        assert bad.json() == {"error": "", "error_description": "Parameter 'fields' must be array."}
    broken = emu.session.post(
        emu.hook + "crm.deal.add", data=b"{broken", timeout=5, headers={"Content-Type": "application/json"}
    )
    assert broken.json()["error_description"] == "Parameter 'fields' must be array."


def test_body_wins_over_query_string(emu: Emu) -> None:
    emu.ok("crm.deal.add", {"fields": {"TITLE": "A"}})
    resp = emu.session.post(emu.hook + "crm.deal.get?id=999", json={"id": 1}, timeout=5)
    assert resp.json()["result"]["ID"] == "1"


def test_time_block_has_every_key_with_the_portal_offset(emu: Emu) -> None:
    resp = emu.post("crm.deal.list")
    t = resp.json()["time"]
    assert set(t) == {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
        "operating_reset_at",
    }
    assert isinstance(t["start"], float) and t["finish"] >= t["start"]
    assert t["duration"] >= 0 and t["processing"] >= 0
    assert t["date_start"] == "2026-01-01T03:00:00+03:00" and t["date_finish"].endswith("+03:00")
    assert datetime.fromisoformat(t["date_start"]).timestamp() == int(t["start"])
    assert t["operating_reset_at"] == int(t["start"]) + 600 and isinstance(t["operating_reset_at"], int)
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert (
        resp.headers["X-Bitrix-Rest-Time"] == f"{t['duration']:.6f}"
    )  # the envelope's duration, as on cloud


def test_operating_keys_absent_when_the_limiter_is_off(emu: Emu) -> None:
    emu.portal.settings.operating_enabled = False
    assert "operating" not in emu.post("crm.deal.list").json()["time"]


def test_list_envelope_has_top_level_total_and_next(emu: Emu) -> None:
    for n in range(51):
        emu.ok("crm.deal.add", {"fields": {"TITLE": f"D{n}"}})
    body = emu.post("crm.deal.list", {"order": {"ID": "ASC"}}).json()
    assert body["total"] == 51 and body["next"] == 50 and len(body["result"]) == 50
    last = emu.post("crm.deal.list", {"order": {"ID": "ASC"}, "start": 50}).json()
    assert last["total"] == 51 and "next" not in last and len(last["result"]) == 1


def test_error_envelopes_real_codes_and_statuses(emu: Emu) -> None:
    assert emu.call("crm.deal.get", {"id": 404}) == (400, {"error": "", "error_description": "Not found"})
    assert emu.call("crm.deal.get", {"id": "x"}) == (
        400,
        {"error": "", "error_description": "ID is not defined or invalid"},
    )
    assert emu.call("crm.item.get", {"entityTypeId": 2, "id": 404}) == (
        400,
        {"error": "NOT_FOUND", "error_description": "Element not found"},
    )
    assert emu.call("crm.item.get", {"entityTypeId": 5, "id": 1})[1]["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    status, body = emu.call("crm.item.payment.add", {"entityTypeId": 2})
    assert status == 400 and body["error"] == 100 and isinstance(body["error"], int)
    status, body = emu.call("crm.item.payment.get", {"id": 12345})
    assert body["error"] == 0 and isinstance(body["error"], int)
    status, body = emu.call(
        "crm.deal.userfield.add", {"fields": {"FIELD_NAME": "bad-name!", "USER_TYPE_ID": "string"}}
    )
    assert status == 400 and body["error"] == "ERROR_CORE"
