"""Issue 3, point 5: batch length, halt, references, sections and PHP's JSON quirks."""

from __future__ import annotations

from conftest import Emu


def _deals(emu: Emu, n: int) -> None:
    for i in range(n):
        emu.ok("crm.deal.add", {"fields": {"TITLE": f"D{i}", "OPPORTUNITY": 10 * i}})


def test_at_most_50_commands_run_the_rest_are_length_exceeded(emu: Emu) -> None:
    cmd = {f"k{i}": "crm.deal.add?fields[TITLE]=x" for i in range(53)}
    result = emu.ok("batch", {"cmd": cmd})
    assert len(result["result"]) == 50
    assert result["result_error"] == {
        f"k{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"}
        for i in (50, 51, 52)
    }
    assert len(emu.portal.deals()) == 50


def test_halt_stops_after_the_first_error(emu: Emu) -> None:
    _deals(emu, 1)
    cmd = {"a": "crm.deal.get?id=1", "b": "crm.deal.get?id=99", "c": "crm.deal.get?id=1"}
    assert set(emu.ok("batch", {"halt": 1, "cmd": cmd})["result"]) == {"a"}
    assert set(emu.ok("batch", {"halt": 0, "cmd": cmd})["result"]) == {"a", "c"}


def test_references_result_next_total_time_error(emu: Emu) -> None:
    _deals(emu, 60)
    cmd = {
        "list": "crm.deal.list?order[ID]=ASC&select[]=ID&select[]=TITLE",
        "by_ref": "crm.deal.get?id=$result[list][3][ID]",
        "page2": "crm.deal.list?order[ID]=ASC&select[]=ID&start=$next[list]",
        "embedded": "crm.deal.list?filter[TITLE]=D$total[list]&select[]=TITLE",
        "bad": "crm.deal.get?id=0",
        "err": "crm.deal.list?filter[TITLE]=$error[bad][error_description]&select[]=ID",
        "when": "crm.deal.list?filter[>DATE_CREATE]=$time[list][date_start]&select[]=ID",
    }
    result = emu.ok("batch", {"cmd": cmd})
    assert result["result"]["by_ref"]["ID"] == "4"
    assert result["result"]["page2"][0]["ID"] == "51"
    assert result["result"]["embedded"] == []  # "D60" does not exist: the total was substituted
    assert result["result_total"] == {"list": 60, "page2": 60, "embedded": 0, "err": 0, "when": 0}
    assert result["result_next"] == {"list": 50}
    assert result["result_error"]["bad"] == {"error": "", "error_description": "ID is not defined or invalid"}
    assert set(result["result_time"]["list"]) >= {
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
    }


def test_nested_batch_is_not_allowed(emu: Emu) -> None:
    result = emu.ok("batch", {"cmd": {"inner": "batch?cmd[a]=crm.deal.list"}})
    assert result["result_error"] == {
        "inner": {
            "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
            "error_description": "Method is not allowed for batch usage",
        }
    }


def test_php_json_quirks_empty_map_and_sequential_keys(emu: Emu) -> None:
    _deals(emu, 1)
    ok = emu.ok("batch", {"cmd": {"a": "crm.deal.get?id=1"}})
    assert ok["result_error"] == [] and ok["result_next"] == [] and ok["result_total"] == []
    failed = emu.ok("batch", {"cmd": {"a": "crm.deal.get?id=7"}})
    assert failed["result"] == []
    as_list = emu.ok("batch", {"cmd": ["crm.deal.get?id=5", "crm.deal.get?id=6", "crm.deal.get?id=1"]})
    assert as_list["result_error"] == [{"error": "", "error_description": "Not found"}] * 2
    assert as_list["result"] == {"2": emu.ok("crm.deal.get", {"id": 1})}


def test_sub_call_scope_errors_go_to_result_error(emu: Emu) -> None:
    resp = emu.session.post(
        f"{emu.base}/rest/2/crmonly/batch", json={"cmd": {"u": "user.get", "d": "crm.deal.list"}}, timeout=5
    )
    result = resp.json()["result"]
    assert result["result_error"]["u"]["error"] == "insufficient_scope"
    assert result["result"] == {"d": []}


def test_double_encoded_form_batch(emu: Emu) -> None:
    _deals(emu, 2)
    body = (
        "cmd[a]=crm.deal.list%3Ffilter%5BTITLE%5D%3DD1%2526x%26select%5B%5D%3DID&cmd[b]=crm.deal.get%3Fid%3D2"
    )
    resp = emu.session.post(
        emu.hook + "batch",
        data=body,
        timeout=5,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    result = resp.json()["result"]
    assert result["result"]["a"] == [] and result["result"]["b"]["ID"] == "2"
