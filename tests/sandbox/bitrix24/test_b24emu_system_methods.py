"""The portal's own methods a go-live check calls (`scope`, `method.get`, `user.admin`, `server.time`), as the
vendor's pages under api-reference/common/ describe them."""

from __future__ import annotations

from datetime import datetime

from tests.sandbox.bitrix24.conftest import Emu


def test_scope_lists_the_webhooks_own_scopes_and_full_lists_the_portals(emu: Emu) -> None:
    assert emu.ok("scope") == ["crm", "im", "sale", "task", "user"]
    limited = emu.session.post(f"{emu.base}/rest/2/crmonly/scope", json={}, timeout=10).json()
    assert limited["result"] == ["crm"]
    assert {"crm", "sale", "task", "user"} <= set(emu.ok("scope", {"full": True}))


def test_method_get_tells_existing_from_available_for_the_callers_scopes(emu: Emu) -> None:
    crm_only = f"{emu.base}/rest/2/crmonly/method.get"
    assert emu.ok("method.get", {"name": "sale.payment.update"}) == {"isExisting": True, "isAvailable": True}
    limited = emu.session.post(crm_only, json={"name": "sale.payment.update"}, timeout=10).json()["result"]
    assert limited == {"isExisting": True, "isAvailable": False}
    assert emu.ok("method.get", {"name": "crm.nothing.here"}) == {"isExisting": False, "isAvailable": False}
    assert emu.ok("method.get", {}) == {"isExisting": False, "isAvailable": False}


def test_user_admin_follows_the_webhook_users_rights(emu: Emu) -> None:
    assert emu.ok("user.admin") is True
    emu.portal.users[1]["IS_ADMIN"] = False
    assert emu.ok("user.admin") is False


def test_server_time_carries_the_portals_offset(emu: Emu) -> None:
    emu.portal.settings.offset_hours = 5
    value = datetime.fromisoformat(emu.ok("server.time"))
    assert value.utcoffset() is not None and value.utcoffset().total_seconds() == 5 * 3600  # type: ignore[union-attr]
