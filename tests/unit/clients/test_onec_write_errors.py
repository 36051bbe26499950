"""1C write failures classified by what the caller may safely do: look a create up by key, write an update again on
the next run, or keep 1C's business refusal (its whole text) as the record's failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from connector.clock import ManualClock
from connector.errors import (
    OutcomeUnknown,
    RecordError,
    RemoteRejected,
    TransientError,
    TransientWriteError,
)
from connector.onec.odata import ODataClient

BASE = "http://1c.local/ut/odata/standard.odata/"
REF = "0cc1a3f0-9a1b-11ef-8f2a-00155d0a1b01"
ORDER = "Document_ЗаказКлиента"
ORDER_URL = BASE + "Document_%D0%97%D0%B0%D0%BA%D0%B0%D0%B7%D0%9A%D0%BB%D0%B8%D0%B5%D0%BD%D1%82%D0%B0"
ONE = f"{ORDER_URL}(guid'{REF}')"
REFUSAL = (
    'Не удалось провести "Заказ клиента ЦБ00-000125 от 05.11.2024 10:00:00" по причине:\n'
    'Поле "Контрагент" не заполнено\n'
    'Не введено ни одной строки в список "Товары"'
)


def client() -> ODataClient:
    return ODataClient(
        requests.Session(), BASE, "Администратор", "пароль", ZoneInfo("Europe/Moscow"), ManualClock()
    )


# (what 1C or the network answered) → registered on a URL with responses
FAILURES: dict[str, dict[str, Any]] = {
    "500 plain text": {"status": 500, "body": "Внутренняя ошибка сервера", "content_type": "text/plain"},
    "500 empty": {"status": 500, "body": ""},
    "502 gateway page": {
        "status": 502,
        "body": "<html><h1>502 Bad Gateway</h1></html>",
        "content_type": "text/html",
    },
    "503 JSON, not a business error": {
        "status": 503,
        "json": {"odata.error": {"code": "1", "message": {"lang": "ru", "value": "Сервер перегружен"}}},
    },
    "connection reset": {"body": requests.ConnectionError("Connection reset by peer")},
    "read timeout": {"body": requests.ReadTimeout("read timed out")},
}
WRITES: dict[str, tuple[str, str, Callable[[ODataClient], Any]]] = {
    "update": ("PATCH", ONE, lambda c: c.update(ORDER, REF, {"Комментарий": "x"})),
    "post": ("POST", ONE + "/Post", lambda c: c.post_document(ORDER, REF)),
    "unpost": ("POST", ONE + "/Unpost", lambda c: c.unpost_document(ORDER, REF)),
}


@pytest.mark.parametrize("failure", list(FAILURES))
@responses.activate
def test_a_create_whose_outcome_is_unknown_is_looked_up_never_sent_again(failure: str) -> None:
    responses.add("POST", ORDER_URL, **FAILURES[failure])
    with pytest.raises(OutcomeUnknown) as info:
        client().create(ORDER, {"НомерПоДаннымКлиента": "B24-1"})
    assert len(responses.calls) == 1  # never blindly re-sent
    assert "looked up by its key" in str(info.value)


@pytest.mark.parametrize("write", list(WRITES))
@pytest.mark.parametrize("failure", list(FAILURES))
@responses.activate
def test_a_transient_failure_of_an_update_or_posting_fails_that_record_for_a_retry(
    failure: str, write: str
) -> None:
    method, url, call = WRITES[write]
    responses.add(method, url, **FAILURES[failure])
    with pytest.raises(TransientWriteError) as info:
        call(client())
    assert len(responses.calls) == 1  # not retried in a loop inside the run: the next run writes it again
    # a per-record outcome: every target that turns a rejected record into a failed outcome catches it
    assert isinstance(info.value, RemoteRejected) and isinstance(info.value, RecordError)
    assert "written again on the next run" in str(info.value)


@responses.activate
def test_the_start_of_a_body_that_is_not_json_is_kept_in_the_message() -> None:
    responses.add("PATCH", ONE, status=500, body="Ошибка СУБД:\nDeadlock detected", content_type="text/plain")
    with pytest.raises(TransientWriteError) as info:
        client().update(ORDER, REF, {"Комментарий": "x"})
    assert "not JSON" in str(info.value) and "Deadlock detected" in str(info.value)


@pytest.mark.parametrize("failure", list(FAILURES))
@responses.activate
def test_reads_stay_retried_transient_errors(failure: str) -> None:
    responses.add("GET", ORDER_URL, **FAILURES[failure])
    with pytest.raises(TransientError) as info:
        client().query(ORDER)
    assert not isinstance(info.value, RecordError)
    assert len(responses.calls) == 5


@pytest.mark.parametrize("write", ["create", *WRITES])
@responses.activate
def test_a_business_refusal_is_a_record_failure_with_the_whole_reason(write: str) -> None:
    body = {"odata.error": {"code": "-1", "message": {"lang": "ru", "value": REFUSAL}}}
    if write == "create":
        responses.add("POST", ORDER_URL, status=500, json=body)
        call: Callable[[ODataClient], Any] = lambda c: c.create(ORDER, {"Number": "1"})  # noqa: E731
    else:
        method, url, call = WRITES[write]
        responses.add(method, url, status=500, json=body)
    with pytest.raises(RemoteRejected) as info:
        call(client())
    assert not isinstance(info.value, TransientWriteError) and info.value.code == "-1"
    assert REFUSAL in info.value.message  # the reason after "по причине:" included
    assert len(responses.calls) == 1


@responses.activate
def test_a_write_whose_connection_was_never_made_is_sent_again() -> None:
    responses.add("POST", ORDER_URL, body=requests.ConnectTimeout("connect timed out"))
    responses.add("POST", ORDER_URL, status=201, json={"Ref_Key": REF})
    odata = client()
    odata.answered = True  # during a run (at a command's first request a connect timeout stops it: netfail)
    assert odata.create(ORDER, {"Number": "1"}) == {"Ref_Key": REF}
    assert len(responses.calls) == 2
