"""Issue 3, point 10: unmodified third-party clients (fast_bitrix24, b24pysdk) work against the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from b24_1c_sandbox.runner import WEBHOOK_CODE, WEBHOOK_USER, Sandbox, SandboxOptions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    """A TLS portal on the standard plan and real time (b24pysdk only speaks https://)."""
    with Sandbox(SandboxOptions(orders=1, rate_limit="standard", tls=True)) as sandbox:
        yield sandbox


def test_fast_bitrix24_call_get_all_and_get_by_id(box: Sandbox) -> None:
    from fast_bitrix24 import Bitrix

    # fast_bitrix24 only takes ssl=True/False: it cannot be given our CA, so it skips verification.
    client = Bitrix(box.webhook_url, verbose=False, ssl=False)
    created = client.call(
        "crm.deal.add", [{"fields": {"TITLE": f"fb-{i}", "ORIGIN_ID": f"fb{i}"}} for i in range(120)]
    )
    assert len(created) == 120 and all(isinstance(i, int) for i in created)
    deals = client.get_all("crm.deal.list", {"select": ["ID", "TITLE"], "filter": {"%TITLE": "fb-"}})
    assert len(deals) == 120 and {d["TITLE"] for d in deals} == {f"fb-{i}" for i in range(120)}
    by_id = client.get_by_ID("crm.deal.get", created[:60])
    assert set(by_id) == {str(i) for i in created[:60]}
    stored = {d["ID"]: d["TITLE"] for d in box.portal.deals()}
    assert all(row["TITLE"] == stored[key] for key, row in by_id.items())
    updated = client.call("crm.deal.update", [{"id": i, "fields": {"STAGE_ID": "WON"}} for i in created[:3]])
    assert updated == (True, True, True)
    assert len([c for c in box.portal.calls_snapshot("crm.deal.update") if c.batch]) == 3


def test_b24pysdk_plain_calls_list_fast_and_batch(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from b24pysdk import BitrixWebhook, Client

    assert box.ca_file is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(box.ca_file))
    domain = box.portal_url.removeprefix("https://")
    token = BitrixWebhook(domain=domain, webhook_token=f"{WEBHOOK_USER}/{WEBHOOK_CODE}")
    client = Client(token)
    new_id = client.crm.deal.add(fields={"TITLE": "sdk", "OPPORTUNITY": 10}).result
    request = client.crm.deal.get(bitrix_id=new_id)
    assert request.result["TITLE"] == "sdk" and request.time.duration >= 0
    for chunk in range(0, 110, 50):  # b24pysdk has no client-side limiter: stay inside the burst
        adds = {
            f"a{i}": ("crm.deal.add", {"fields": {"TITLE": f"sdk-{i}"}})
            for i in range(chunk, min(chunk + 50, 110))
        }
        assert token.call_batch(adds)["result"]["result_error"] == []
    fast = list(client.crm.deal.list(select=["ID", "TITLE"], filter={"%TITLE": "sdk-"}).as_list_fast().result)
    assert len(fast) == 110 and len({d["ID"] for d in fast}) == 110
    paged = list(client.crm.deal.list(select=["ID"], filter={"%TITLE": "sdk-"}).as_list().result)
    assert len(paged) == 110
    batch = token.call_batch({"a": ("crm.deal.get", {"id": new_id}), "b": ("crm.deal.get", {"id": 10**6})})
    assert batch["result"]["result"]["a"]["ID"] == str(new_id)
    assert batch["result"]["result_error"]["b"] == {"error": "", "error_description": "Not found"}
    items = client.crm.item.list(entity_type_id=2, filter={"=id": new_id}).result
    assert items["items"][0]["title"] == "sdk"


def test_b24pysdk_oauth_token_and_typed_errors(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from b24pysdk import BitrixApp, BitrixToken, Client
    from b24pysdk.errors import BitrixAPIError

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(box.ca_file))
    tokens = box.oauth_tokens()
    app = BitrixApp(client_id=box.oauth_app.client_id, client_secret="sandboxsecret")
    token = BitrixToken(
        domain=box.portal_url.removeprefix("https://"), auth_token=tokens["access_token"], bitrix_app=app
    )
    client = Client(token)
    assert isinstance(client.crm.deal.list(select=["ID"]).result, list)
    with pytest.raises(BitrixAPIError) as caught:
        client.crm.deal.get(bitrix_id=10**6).result  # noqa: B018
    assert caught.value.status_code == 400
