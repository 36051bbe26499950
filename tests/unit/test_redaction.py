"""Secrets never reach logs or errors: webhook codes, passwords, tokens, Basic credentials."""

from __future__ import annotations

import io
import json

from connector.errors import RemoteRejected
from connector.logs import configure, get_logger
from connector.redact import redact, register_secret


def test_webhook_code_is_masked_in_urls() -> None:
    text = redact("POST https://p.bitrix24.ru/rest/17/ab12cd34ef/crm.deal.add.json failed")
    assert "ab12cd34ef" not in text and "/rest/17/***/crm.deal.add.json" in text


def test_password_token_and_basic_auth_are_masked() -> None:
    text = redact(
        'password=hunter22&x=1 {"refresh_token": "rt-123456"} Authorization: Basic QWxhZGRpbjpvcGVu'
    )
    assert "hunter22" not in text and "rt-123456" not in text and "QWxhZGRpbjpvcGVu" not in text
    assert "x=1" in text


def test_registered_literal_secret_is_masked_anywhere() -> None:
    register_secret("Сложный-Пароль-1С")
    assert "Сложный-Пароль-1С" not in redact("1C said: wrong password Сложный-Пароль-1С for user")


def test_errors_carry_redacted_context() -> None:
    exc = RemoteRejected(
        "failed https://x/rest/1/topsecretcode/batch", method="batch", url="https://x/rest/1/topsecretcode/"
    )
    assert "topsecretcode" not in str(exc)


def test_json_logs_are_redacted() -> None:
    stream = io.StringIO()
    configure("INFO", json=True, stream=stream)
    get_logger("t").info(
        "calling",
        url="https://x/rest/1/logsecret99/crm.deal.list",
        password="p@ss-w0rd",
        nested={"access_token": "tok-xyz-1"},
    )
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    text = json.dumps(line, ensure_ascii=False)
    assert "logsecret99" not in text and "p@ss-w0rd" not in text and "tok-xyz-1" not in text
    assert line["event"] == "calling" and line["level"] == "info"


def test_ordinary_words_after_a_secret_key_are_not_masked() -> None:
    message = "config.yaml:12: onec.password: environment variable ONEC_PASSWORD is not set"
    assert redact(message) == message
    assert (
        redact("password: environment variable X is not set") == "password: environment variable X is not set"
    )


def test_secret_values_in_pairs_are_still_masked() -> None:
    text = redact("token:tok-abcdef {'password': 'p-4ssw0rd'} secret = s3cr3t-value")
    assert "tok-abcdef" not in text and "p-4ssw0rd" not in text and "s3cr3t-value" not in text
