"""Bitrix24 client behaviour on the wire, with `responses`: errors, retries, lost replies, OAuth, batch quirks."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from connector.bitrix24.auth import OAuthAuth, WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import ManualClock
from connector.errors import AuthError, OutcomeUnknown, RemoteRejected, StopRun, TransientError
from connector.ratelimit import OperatingPacer, RequestPacer

HOOK = "https://portal.example/rest/1/hooksecret123/"


def client(
    clock: ManualClock | None = None, auth: Any = None, pacer: RequestPacer | None = None
) -> Bitrix24Client:
    clock = clock or ManualClock()
    return Bitrix24Client(requests.Session(), auth or WebhookAuth(HOOK), clock, pacer)


def body(call: Any) -> dict[str, Any]:
    return json.loads(call.request.body)


@responses.activate
def test_posts_json_and_parses_envelope() -> None:
    responses.post(
        HOOK + "crm.deal.list.json",
        json={"result": [{"ID": "1"}], "total": 51, "next": 50, "time": {"operating": 0.1}},
    )
    reply = client().call("crm.deal.list", {"filter": {">ID": 0}, "select": ["ID"]})
    assert reply.result == [{"ID": "1"}] and reply.total == 51 and reply.next == 50
    sent = responses.calls[0].request
    assert sent.headers["Content-Type"] == "application/json"
    assert body(responses.calls[0]) == {"filter": {">ID": 0}, "select": ["ID"]}


@responses.activate
def test_rate_limited_reads_and_writes_are_retried_after_backoff() -> None:
    clock = ManualClock()
    limit = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    responses.post(HOOK + "crm.deal.add.json", json=limit, status=503)
    responses.post(HOOK + "crm.deal.add.json", json={"result": 7})
    before = clock.monotonic()
    assert client(clock).call("crm.deal.add", {"fields": {}}, write=True).result == 7
    assert clock.monotonic() > before  # it waited through the clock, not by sleeping for real


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ConnectionError("Connection aborted: reset by peer")},
        {"body": requests.ReadTimeout("read timed out")},
        {
            "json": {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"},
            "status": 500,
        },
        {"body": "<html><h1>502 Bad Gateway</h1></html>", "status": 502, "content_type": "text/html"},
    ],
)
@responses.activate
def test_a_write_whose_reply_is_lost_is_never_retried(failure: dict[str, Any]) -> None:
    responses.post(HOOK + "crm.deal.add.json", **failure)
    with pytest.raises(OutcomeUnknown):
        client().call("crm.deal.add", {"fields": {"TITLE": "x"}}, write=True)
    assert len(responses.calls) == 1


@responses.activate
def test_reads_retry_transient_failures_then_give_up_with_a_clear_error() -> None:
    responses.post(HOOK + "crm.deal.get.json", body="<html>504</html>", status=504, content_type="text/html")
    with pytest.raises(TransientError, match="504 with text/html instead of JSON"):
        client().call("crm.deal.get", {"id": 1})
    assert len(responses.calls) == 6


@responses.activate
def test_error_codes_map_to_what_the_caller_should_do() -> None:
    responses.post(HOOK + "a.json", json={"error": "", "error_description": "Not found"}, status=400)
    responses.post(
        HOOK + "b.json",
        json={"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"},
        status=401,
    )
    responses.post(
        HOOK + "c.json",
        json={"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
        status=404,
    )
    responses.post(
        HOOK + "d.json", json={"error": 0, "error_description": "Insufficient permissions"}, status=400
    )
    c = client()
    with pytest.raises(RemoteRejected, match="Not found"):
        c.call("a")
    with pytest.raises(AuthError) as auth:
        c.call("b")
    assert "hooksecret123" not in str(auth.value)
    with pytest.raises(StopRun, match="no method c"):
        c.call("c")
    with pytest.raises(RemoteRejected, match="Insufficient permissions"):
        c.call("d")


@responses.activate
def test_operating_time_limit_pauses_only_that_method_until_reset() -> None:
    clock = ManualClock()
    reset = clock.now().timestamp() + 120
    responses.post(
        HOOK + "crm.item.update.json",
        json={"result": True, "time": {"operating": 481.0, "operating_reset_at": reset, "processing": 5.0}},
    )
    responses.post(HOOK + "crm.deal.get.json", json={"result": {"ID": "1"}, "time": {"operating": 1.0}})
    c = client(clock)
    c.call("crm.item.update", {"id": 1}, write=True)
    t0 = clock.now().timestamp()
    c.call("crm.deal.get", {"id": 1})  # another method: no pause
    assert clock.now().timestamp() == t0
    c.call("crm.item.update", {"id": 1}, write=True)  # 481 > 480: the portal would refuse it; waits
    assert clock.now().timestamp() >= reset
    assert c.operating.pauses == 1


def test_operating_pacer_waits_only_when_the_next_calls_would_overflow() -> None:
    clock = ManualClock()
    pacer = OperatingPacer(clock)
    pacer.observe(
        "m", {"operating": 100.0, "operating_reset_at": clock.now().timestamp() + 60, "processing": 1.0}
    )
    pacer.wait({"m": 50})
    assert pacer.pauses == 0
    pacer.wait({"m": 400})
    assert pacer.pauses == 1 and pacer.paused_seconds > 59


@responses.activate
def test_batch_accepts_php_quirks_and_retries_refused_commands_with_resolved_refs() -> None:
    first = {
        "result": {
            "result": {"a0": 11},
            "result_error": {"r0": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}},
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    }
    second = {
        "result": {
            "result": {"r0": True},
            "result_error": [],
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    }
    responses.post(HOOK + "batch.json", json=first)
    responses.post(HOOK + "batch.json", json=second)
    reply = client().batch(
        {
            "a0": ("crm.deal.add", {"fields": {"TITLE": "x"}}),
            "r0": ("crm.deal.productrows.set", {"id": "$result[a0]", "rows": []}),
        },
        write=True,
    )
    assert reply.result == {"a0": 11, "r0": True} and reply.errors == {}
    resent = body(responses.calls[1])["cmd"]
    assert list(resent) == ["r0"] and "id=11" in resent["r0"]


@responses.activate
def test_batch_sections_that_php_turned_into_lists_keep_their_keys() -> None:
    responses.post(
        HOOK + "batch.json",
        json={
            "result": {
                "result": [{"ID": "1"}, {"ID": "2"}],
                "result_error": [],
                "result_total": [],
                "result_next": [],
                "result_time": [],
            }
        },
    )
    reply = client().batch({"0": ("crm.deal.get", {"id": 1}), "1": ("crm.deal.get", {"id": 2})})
    assert reply.result == {"0": {"ID": "1"}, "1": {"ID": "2"}} and reply.errors == {}


@responses.activate
def test_list_fast_chains_fifty_sublists_per_request() -> None:
    page = [{"ID": str(i)} for i in range(1, 51)]
    short = [{"ID": "51"}]
    responses.post(
        HOOK + "batch.json",
        json={
            "result": {
                "result": {"p0": page, "p1": short},
                "result_error": [],
                "result_total": [],
                "result_next": [],
                "result_time": [],
            }
        },
    )
    pages = list(client().list_fast("crm.deal.list", {"CATEGORY_ID": 0}, ["ID"]))
    assert [len(p) for p in pages] == [50, 1]
    cmd = body(responses.calls[0])["cmd"]
    assert len(cmd) == 50 and body(responses.calls[0])["halt"] == 1
    assert "%24result%5Bp0%5D%5B49%5D%5BID%5D" in cmd["p1"] and "start=-1" in cmd["p1"]


def test_request_pacer_keeps_within_the_bucket() -> None:
    clock = ManualClock()
    pacer = RequestPacer(clock, capacity=50, rate=2.0)
    for _ in range(50):
        pacer.acquire()
    assert pacer.waited == 0
    for _ in range(10):
        pacer.acquire()
    assert pacer.waited == pytest.approx(5.0, rel=0.01)  # ten more at 2/s


# -- OAuth --------------------------------------------------------------------------------------------------------

PORTAL = "https://portal.example/rest/"
TOKEN_URL = "https://oauth.example/oauth/token/"


def oauth(tmp_path: Path) -> OAuthAuth:
    return OAuthAuth(
        PORTAL, "app.1", "clientsecret42", "refresh-0", TOKEN_URL, tmp_path / "oauth.json", ManualClock()
    )


@responses.activate
def test_oauth_refreshes_once_on_expired_token_and_persists_the_rotated_refresh_token(tmp_path: Path) -> None:
    responses.get(
        TOKEN_URL,
        json={
            "access_token": "acc-1",
            "refresh_token": "refresh-1",
            "expires_in": 3600,
            "client_endpoint": PORTAL,
        },
    )
    responses.get(
        TOKEN_URL,
        json={
            "access_token": "acc-2",
            "refresh_token": "refresh-2",
            "expires_in": 3600,
            "client_endpoint": PORTAL,
        },
    )
    responses.post(
        PORTAL + "crm.deal.get.json",
        json={"error": "expired_token", "error_description": "The access token provided has expired"},
        status=401,
    )
    responses.post(PORTAL + "crm.deal.get.json", json={"result": {"ID": "5"}})
    auth = oauth(tmp_path)
    c = client(auth=auth)
    assert c.call("crm.deal.get", {"id": 5}).result == {"ID": "5"}
    token_calls = [x for x in responses.calls if x.request.url.startswith(TOKEN_URL)]
    assert len(token_calls) == 2  # the first call had no token at all, the second renewed the expired one
    assert "refresh_token=refresh-1" in token_calls[1].request.url
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer acc-2"
    saved = json.loads((tmp_path / "oauth.json").read_text())
    assert saved["refresh_token"] == "refresh-2"
    assert stat.S_IMODE((tmp_path / "oauth.json").stat().st_mode) == 0o600
    assert oauth(tmp_path).refresh_token == "refresh-2"  # a restart uses the rotated token


@responses.activate
def test_oauth_invalid_grant_stops_with_advice(tmp_path: Path) -> None:
    responses.get(
        TOKEN_URL, json={"error": "invalid_grant", "error_description": "Invalid grant"}, status=400
    )
    with pytest.raises(AuthError, match="authorize the application again"):
        client(auth=oauth(tmp_path)).call("crm.deal.get", {"id": 1})


@responses.activate
def test_concurrent_expiries_refresh_only_once(tmp_path: Path) -> None:
    auth = oauth(tmp_path)
    auth.access_token = "old"
    responses.get(
        TOKEN_URL, json={"access_token": "new", "refresh_token": "refresh-1", "client_endpoint": PORTAL}
    )
    session = requests.Session()
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(auth.refresh(session, "old"))) for _ in range(5)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 5
    assert len(responses.calls) == 1 and auth.refreshes == 1


@responses.activate
def test_a_command_that_depends_on_a_refused_one_is_sent_again_with_it() -> None:
    first = {
        "result": {
            "result": [],
            "result_error": {
                "a0": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"},
                "r0": {"error": "", "error_description": "ID is not defined or invalid"},
            },
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    }
    second = {
        "result": {
            "result": {"a0": 7, "r0": True},
            "result_error": [],
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    }
    responses.post(HOOK + "batch.json", json=first)
    responses.post(HOOK + "batch.json", json=second)
    reply = client().batch(
        {
            "a0": ("crm.deal.add", {"fields": {}}),
            "r0": ("crm.deal.productrows.set", {"id": "$result[a0]", "rows": []}),
        },
        write=True,
    )
    assert reply.result == {"a0": 7, "r0": True} and reply.errors == {}
    assert sorted(body(responses.calls[1])["cmd"]) == ["a0", "r0"]


def test_plan_pacers_keep_one_request_of_headroom() -> None:
    pacer = RequestPacer.for_plan(ManualClock(), "standard")
    assert pacer is not None and pacer.bucket.capacity == 49 and pacer.bucket.rate == 2.0
    assert RequestPacer.for_plan(ManualClock(), "off") is None
