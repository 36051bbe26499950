"""A backfill's planner reads ride in a write batch with room (connector/bitrix24/rides.py), on the wire with
`responses`: each side gets exactly its own results, errors and paging; a read goes alone outside a planner, with a
halted batch, while the runner waits, or when the write batch fails; nothing waits without bound."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import responses

from connector.bitrix24.auth import WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.bitrix24.replies import BatchReply
from connector.clock import ManualClock
from connector.errors import OutcomeUnknown

HOOK = "https://portal.example/rest/1/hooksecret123/"
WRITES = {f"w{n}": ("crm.deal.update", {"id": n, "fields": {"TITLE": f"t{n}"}}) for n in range(30)}
READS = {
    "l0": ("crm.deal.list", {"filter": {"@ORIGIN_ID": ["a", "b"]}, "select": ["ID"]}),
    "l1": ("crm.deal.list", {"filter": {"@ORIGIN_ID": ["c"]}, "select": ["ID"]}),
}


def client() -> Bitrix24Client:
    return Bitrix24Client(requests.Session(), WebhookAuth(HOOK), ManualClock(), None)


class Portal:
    """Answers `batch` per command key: a result naming the key, `l1` with an error, `l0` with a next page."""

    def __init__(self, lose: int | None = None) -> None:
        self.batches: list[dict[str, str]] = []
        self.lose = lose  # the number of the request whose reply is lost (a write's: OutcomeUnknown)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        cmd = json.loads(request.body)["cmd"]
        self.batches.append(cmd)
        if self.lose is not None and len(self.batches) == self.lose:
            raise requests.ReadTimeout("read timed out")
        result = {k: {"key": k} for k in cmd if not k.endswith("l1")}
        errors = {k: {"error": "BAD", "error_description": "bad filter"} for k in cmd if k.endswith("l1")}
        nexts = {k: 50 for k in cmd if k.endswith("l0")}
        totals = {k: 99 for k in cmd if k.endswith("l0")}
        body = {"result_error": errors, "result_next": nexts, "result_total": totals}
        return 200, {}, json.dumps({"result": {"result": result, **body}, "time": {}})


def wired(lose: int | None = None) -> tuple[Portal, Bitrix24Client]:
    """A portal answering `batch` on the wire (inside `responses.activate`) and a client of it."""
    portal = Portal(lose)
    responses.add_callback(responses.POST, HOOK + "batch.json", callback=portal)
    return portal, client()


def ride_in_thread(c: Bitrix24Client, commands: Any) -> tuple[threading.Thread, list[Any]]:
    """A planner thread sending a read batch; returns the thread and where its reply (or error) lands."""
    out: list[Any] = []

    def run() -> None:
        with c.rides.planning():
            try:
                out.append(c.batch(commands))
            except Exception as exc:  # the test reads what the planner got
                out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def wait_offered(c: Bitrix24Client, n: int = 1) -> None:
    for _ in range(2000):
        if len(c.rides._offers) >= n:
            return
        threading.Event().wait(0.005)
    raise AssertionError("the planner's read was never offered")


@responses.activate
def test_a_planner_read_rides_in_a_write_batch_and_each_side_gets_only_its_own() -> None:
    portal, c = wired()
    with c.rides.writing():
        thread, got = ride_in_thread(c, READS)
        wait_offered(c)
        written = c.batch(WRITES, write=True)
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(portal.batches) == 1  # one request carried both
    sent = list(portal.batches[0])
    assert sent[:30] == list(WRITES) and len(sent) == 32  # the writes first, then the read
    assert set(written.result) == set(WRITES) and not written.errors and not written.next
    read = got[0]
    assert isinstance(read, BatchReply)
    assert read.result == {"l0": {"key": sent[30]}}  # its own keys back, the portal's answer for them
    assert set(read.errors) == {"l1"} and read.next == {"l0": 50} and read.total == {"l0": 99}
    assert c.rides.taken == 1


@responses.activate
def test_a_read_goes_alone_outside_a_planner_or_with_no_page_being_written() -> None:
    portal, c = wired()
    with c.rides.writing():
        c.batch(READS)  # the runner's own thread: not a planner
    thread, got = ride_in_thread(c, READS)  # a planner, but nothing is being written
    thread.join(timeout=10)
    assert not thread.is_alive() and isinstance(got[0], BatchReply)
    assert [list(b) for b in portal.batches] == [["l0", "l1"], ["l0", "l1"]]


@responses.activate
def test_no_rider_in_a_halted_batch_or_where_it_does_not_fit() -> None:
    portal, c = wired()
    full = {f"w{n}": ("crm.deal.update", {"id": n, "fields": {}}) for n in range(49)}
    with c.rides.writing():
        thread, got = ride_in_thread(c, READS)
        wait_offered(c)
        c.batch(WRITES, write=True, halt=True)  # a failed write would stop the reads after it
        c.batch(full, write=True)  # room for one command, the read has two
    thread.join(timeout=10)  # the end of writing hands the read back: it goes alone
    assert not thread.is_alive() and isinstance(got[0], BatchReply)
    assert [len(b) for b in portal.batches] == [30, 49, 2]
    assert c.rides.taken == 0 and c.rides.handed_back == 1


@responses.activate
def test_a_lost_write_reply_hands_the_read_back_and_it_is_sent_again_alone() -> None:
    portal, c = wired(lose=1)
    c.max_attempts = 1
    with c.rides.writing():
        thread, got = ride_in_thread(c, READS)
        wait_offered(c)
        with pytest.raises(OutcomeUnknown):
            c.batch(WRITES, write=True)
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert [len(b) for b in portal.batches] == [32, 2]  # the lost one carried it; then the read alone
    assert isinstance(got[0], BatchReply) and got[0].result == {"l0": {"key": "l0"}}


@responses.activate
def test_reads_go_at_once_while_the_runner_waits_for_the_planner() -> None:
    portal, c = wired()
    with c.rides.writing():
        thread, got = ride_in_thread(c, READS)
        wait_offered(c)
        with c.rides.idle():  # the runner waits for the next page: the offer is handed back
            thread.join(timeout=10)
            assert not thread.is_alive() and isinstance(got[0], BatchReply)
            again, more = ride_in_thread(c, READS)  # offered while it waits: not held
            again.join(timeout=10)
            assert not again.is_alive() and isinstance(more[0], BatchReply)
    assert [len(b) for b in portal.batches] == [2, 2] and c.rides.taken == 0


def test_a_write_batch_waits_for_a_planner_at_work_only_so_long() -> None:
    c = client()
    c.rides.wait_s = 0.2
    with c.rides.writing(), c.rides.planning():  # a planner at work that never offers
        assert c.rides.take(10, set()) == []  # returns after wait_s, empty


@responses.activate
def test_an_offer_nobody_takes_or_hands_back_is_sent_alone_after_hold_s() -> None:
    portal, c = wired()
    c.rides.hold_s = 0.3
    with c.rides.writing():  # pages being written, but no write batch comes and the runner never waits
        thread, got = ride_in_thread(c, READS)
        thread.join(timeout=10)
        assert not thread.is_alive() and isinstance(got[0], BatchReply)
    assert [len(b) for b in portal.batches] == [2] and c.rides.handed_back == 1
