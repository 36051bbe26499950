"""Issue 3, point 1: routes, webhook and OAuth auth, token expiry and refresh, scopes, HTTPS-only mode, TLS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from b24_1c_sandbox.bitrix24 import oauth
from b24_1c_sandbox.bitrix24.portal import Settings
from b24_1c_sandbox.runner import Sandbox, SandboxOptions
from conftest import CODE, Emu


def test_webhook_route_with_and_without_json_suffix_and_any_letter_case(emu: Emu) -> None:
    for path in ("crm.deal.fields", "crm.deal.fields.json", "CRM.Deal.Fields", "crm.deal.fields/"):
        resp = emu.session.post(emu.hook + path, json={}, timeout=5)
        assert resp.status_code == 200, path
        assert "TITLE" in resp.json()["result"]
    assert emu.portal.calls_snapshot()[-1].method == "crm.deal.fields"


def test_wrong_webhook_code_is_invalid_credentials(emu: Emu) -> None:
    resp = emu.session.post(f"{emu.base}/rest/1/wrongcode/crm.deal.list", json={}, timeout=5)
    assert resp.status_code == 401
    assert resp.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}
    resp = emu.session.post(f"{emu.base}/rest/77/{CODE}/crm.deal.list", json={}, timeout=5)
    assert resp.json()["error"] == "INVALID_CREDENTIALS"


def test_auth_error_status_is_configurable_403_as_in_the_docs(make_emu: Callable[[Settings], Emu]) -> None:
    box = make_emu(Settings(plan="off", auth_error_status=403))
    resp = box.session.post(f"{box.base}/rest/1/nope/crm.deal.list", json={}, timeout=5)
    assert resp.status_code == 403
    assert box.session.post(f"{box.base}/rest/2/crmonly/user.get", json={}, timeout=5).status_code == 403


def test_method_outside_webhook_scopes_is_insufficient_scope(emu: Emu) -> None:
    resp = emu.session.post(f"{emu.base}/rest/2/crmonly/user.get", json={}, timeout=5)
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the webhook token",
    }
    assert emu.session.post(f"{emu.base}/rest/2/crmonly/crm.deal.list", json={}, timeout=5).status_code == 200


def test_unknown_method_is_404_method_not_found(emu: Emu) -> None:
    assert emu.call("crm.nothing.here") == (
        404,
        {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    )


def test_oauth_without_any_token_is_no_auth_found(emu: Emu) -> None:
    resp = emu.session.post(f"{emu.base}/rest/crm.deal.list", json={}, timeout=5)
    assert resp.status_code == 401
    assert resp.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}


def test_oauth_token_in_auth_access_token_or_bearer_header(emu: Emu) -> None:
    token = emu.tokens()["access_token"]
    url = f"{emu.base}/rest/crm.deal.fields.json"
    assert emu.session.post(url, json={"auth": token}, timeout=5).status_code == 200
    assert emu.session.get(url, params={"access_token": token}, timeout=5).status_code == 200
    assert emu.session.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=5).status_code == 200
    # The auth parameters never reach the method.
    assert all("auth" not in c.params and "access_token" not in c.params for c in emu.portal.calls_snapshot())
    resp = emu.session.post(url, json={"auth": "garbage"}, timeout=5)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"


def test_access_token_expires_after_an_hour_of_portal_time(emu: Emu) -> None:
    token = emu.tokens()["access_token"]
    assert emu.as_app("crm.deal.list", {}, token)[0] == 200
    emu.clock.advance(3599)
    assert emu.as_app("crm.deal.list", {}, token)[0] == 200
    emu.clock.advance(2)
    assert emu.as_app("crm.deal.list", {}, token) == (
        401,
        {"error": "expired_token", "error_description": "The access token provided has expired"},
    )


def _refresh(emu: Emu, refresh_token: str, secret: str = "secret") -> requests.Response:
    return emu.session.get(
        f"{emu.base}/oauth/token/",
        params={
            "grant_type": "refresh_token",
            "client_id": emu.app.client_id,
            "client_secret": secret,
            "refresh_token": refresh_token,
        },
        timeout=5,
    )


def test_refresh_rotates_the_refresh_token_and_a_used_one_is_invalid_grant(emu: Emu) -> None:
    first = emu.tokens()
    emu.clock.advance(4000)
    resp = _refresh(emu, first["refresh_token"])
    assert resp.status_code == 200
    second = resp.json()
    assert set(second) == {
        "access_token",
        "client_endpoint",
        "domain",
        "expires",
        "expires_in",
        "member_id",
        "refresh_token",
        "scope",
        "server_endpoint",
        "status",
        "user_id",
    }
    assert second["refresh_token"] != first["refresh_token"] and second["expires_in"] == 3600
    assert second["client_endpoint"] == f"{emu.base}/rest/"
    assert emu.as_app("crm.deal.list", {}, second["access_token"])[0] == 200
    assert emu.as_app("crm.deal.list", {}, first["access_token"])[1]["error"] == "expired_token"
    again = _refresh(emu, first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert _refresh(emu, second["refresh_token"]).status_code == 200


def test_refresh_token_expires_after_180_days(emu: Emu) -> None:
    tokens = emu.tokens()
    emu.clock.advance(180 * 86400 + 1)
    assert _refresh(emu, tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_token_endpoint_bad_client_and_payment_required(emu: Emu) -> None:
    tokens = emu.tokens()
    assert _refresh(emu, tokens["refresh_token"], secret="wrong").json()["error"] == "invalid_client"
    emu.app.payment_required = True
    resp = _refresh(emu, tokens["refresh_token"])
    assert resp.json()["error"] == "PAYMENT_REQUIRED"
    emu.app.payment_required = False
    assert _refresh(emu, tokens["refresh_token"]).status_code == 200


def test_expire_hook_makes_current_tokens_expire(emu: Emu) -> None:
    token = emu.tokens()["access_token"]
    oauth.expire(emu.portal)
    assert emu.as_app("crm.deal.list", {}, token)[1]["error"] == "expired_token"


def test_https_required_mode_refuses_plain_http_webhooks_and_tls_serves_them() -> None:
    with Sandbox(SandboxOptions(orders=1, rate_limit="off", https_required=True)) as plain:
        resp = requests.post(plain.webhook_url + "crm.deal.list", json={}, timeout=5)
        assert resp.status_code == 400
        assert resp.json() == {"error": "INVALID_REQUEST", "error_description": "Https required."}
    with Sandbox(SandboxOptions(orders=1, rate_limit="off", https_required=True, tls=True)) as secure:
        assert secure.webhook_url.startswith("https://127.0.0.1:")
        assert secure.ca_file is not None and secure.ca_file.exists()
        resp = requests.post(
            secure.webhook_url + "crm.deal.list", json={}, timeout=5, verify=str(secure.ca_file)
        )
        assert resp.status_code == 200 and resp.json()["result"] == []
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(secure.webhook_url + "crm.deal.list", json={}, timeout=5)
