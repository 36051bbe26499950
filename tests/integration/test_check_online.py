"""`b24-1c check --online`: field names of the mappings against the live 1C $metadata and Bitrix24 fields."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import requests

from connector.app import Connector
from connector.online_check import check_online
from connector.verify import verify
from connector.yamlio import line_of, load_yaml
from tests.conftest import ROOT, make_config

pytestmark = pytest.mark.integration


def test_shipped_mappings_name_only_fields_that_exist_after_setup(sandbox: Any, tmp_path: Path) -> None:
    with Connector(make_config(sandbox, tmp_path / "l.db")) as conn:
        before = check_online(conn)
        conn.setup()
        assert check_online(conn) == []
    assert any("UF_CRM_1C_PAID_AMOUNT" in p and "run `b24-1c setup`" in p for p in before)


def test_wrong_names_are_reported_with_file_key_and_suggestion(sandbox: Any, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    orders = (mappings / "orders.yaml").read_text(encoding="utf-8")
    orders = orders.replace("source: СуммаДокумента", "source: СуммаДокумента2")
    orders = orders.replace("source: Количество", "source: Колличество")
    orders = orders.replace("  COMMENTS:\n", "  COMMENTZ:\n")
    orders = orders.replace("entity: Catalog_Валюты", "entity: Catalog_Валюта")
    (mappings / "orders.yaml").write_text(orders, encoding="utf-8")
    config = make_config(sandbox, tmp_path / "l.db")
    config.mappings_dir = mappings
    with Connector(config) as conn:
        conn.setup()
        found = "\n".join(check_online(conn))
    assert (
        "orders.yaml: fields.OPPORTUNITY: 1C Document_ЗаказКлиента has no property 'СуммаДокумента2'" in found
    )
    assert "did you mean 'СуммаДокумента'" in found
    assert "rows.fields.QUANTITY: Document_ЗаказКлиента.Товары has no column 'Колличество'" in found
    assert "fields.COMMENTZ: Bitrix24 deal has no field 'COMMENTZ' (did you mean 'COMMENTS'?)" in found
    assert "lookups.currencies.entity: 1C does not publish Catalog_Валюта" in found


# -- b24-1c verify: the go-live checklist ------------------------------------------------------------------------


def _ready(box: Any, tmp_path: Path, **env: str) -> Any:
    """A config pointed at the sandbox, after `b24-1c setup` made the fields and stages the mappings use."""
    config = make_config(box, tmp_path / "l.db", **env)
    with Connector(config) as conn:
        conn.setup()
    return config


def _started(**how: Any) -> Any:
    from b24_1c_sandbox.degraded import Degraded
    from b24_1c_sandbox.runner import Sandbox, SandboxOptions

    return Sandbox(SandboxOptions(orders=20, seed=11, rate_limit="off", degraded=Degraded(**how)))


def _problems(found: Any) -> str:
    """The problem lines without the mapping keys' line numbers (the test below checks those)."""
    return re.sub(r"\.yaml:\d+: ", ".yaml: ", "\n".join(i.line() for i in found.problems))


def test_a_ready_sandbox_passes_every_check(sandbox: Any, tmp_path: Path) -> None:
    config = _ready(sandbox, tmp_path)
    assert "invoices" in config.flows  # on by default: its shipped mapping is checked too (its order_* facts)
    found = verify(config)
    assert found.ready, _problems(found)
    text = "\n".join(found.lines())
    assert all(line.startswith("[ok ]") for line in found.lines())
    for part in (
        "Bitrix24 answers at http://127.0.0.1:",
        "1C answers at http://127.0.0.1:",
        "portal time zone UTC+03:00 matches bitrix24.portal_timezone Europe/Moscow",
        "scopes the flows need and the webhook has: crm, sale, task, user",
        "the webhook's user is an administrator",
        "Bitrix24 methods the flows call exist and are available",
        "deal user fields the mappings use exist",
        "deal stages the mappings use exist",
        "1C publishes and lets us read all",
    ):
        assert part in text


def test_before_setup_every_missing_user_field_is_named_with_file_and_key(
    sandbox: Any, tmp_path: Path
) -> None:
    config = make_config(sandbox, tmp_path / "l.db")
    found = verify(config)
    text = _problems(found)
    assert not found.ready
    assert (
        "mappings/money.yaml: fields.UF_CRM_1C_PAID_AMOUNT: the portal has no deal user field "
        "UF_CRM_1C_PAID_AMOUNT: run `b24-1c setup`" in text
    )
    assert "mappings/deals_to_orders.yaml: target.write_back.UF_CRM_1C_ORDER_NUMBER" in text
    # One line per problem, not one per check that saw it.
    assert len([line for line in text.splitlines() if "UF_CRM_1C_PAID_AMOUNT" in line]) == 1
    # Each names its mapping key by file:line, as `check` does.
    money = config.mappings_path / "money.yaml"
    line = line_of(load_yaml(money), ("fields", "UF_CRM_1C_PAID_AMOUNT"))
    lines = "\n".join(i.line() for i in found.problems)
    assert (
        line and f"{money}:{line}: fields.UF_CRM_1C_PAID_AMOUNT: the portal has no deal user field" in lines
    )


def test_a_webhook_without_a_scope_the_flows_need_is_named(tmp_path: Path) -> None:
    with _started(missing_scopes=frozenset({"sale"})) as box:
        found = verify(_ready(box, tmp_path))
    text = _problems(found)
    assert not found.ready
    assert (
        "mappings/money.yaml: the webhook lacks scope 'sale' (sale.payment.list, sale.payment.update)" in text
    )
    assert "scope 'crm'" not in text


def test_an_oauth_application_is_checked_the_same_way(tmp_path: Path) -> None:
    from b24_1c_sandbox.runner import OAUTH_CLIENT_SECRET

    from connector.config import load_config
    from tests.conftest import EXAMPLE

    with _started(missing_scopes=frozenset({"sale"})) as box:
        oauth = (
            f"  oauth:\n    portal_url: {box.portal_url}/rest/\n    client_id: {box.oauth_app.client_id}\n"
            f"    client_secret: {OAUTH_CLIENT_SECRET}\n    refresh_token: {box.oauth_tokens()['refresh_token']}\n"
            f"    token_url: {box.portal_url}/oauth/token/\n    token_store: {tmp_path / 'token.json'}\n"
        )
        text = EXAMPLE.read_text(encoding="utf-8").replace("  webhook_url: ${B24_WEBHOOK_URL}\n", oauth)
        text = text.replace("mappings_dir: mappings", f"mappings_dir: {ROOT / 'mappings'}")
        text = text.replace(
            "schedule: schedules/default.yaml", f"schedule: {ROOT / 'schedules/default.yaml'}"
        )
        (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
        env = {k: v for k, v in box.env().items() if k != "B24_WEBHOOK_URL"}
        config = load_config(tmp_path / "config.yaml", env={**env, "B24_1C_LEDGER": str(tmp_path / "l.db")})
        assert config.bitrix24.oauth is not None
        _ready(box, tmp_path)  # setup through the webhook: quicker, the same portal
        found = verify(config)
    text = _problems(found)
    assert [i.where.rsplit("/", 1)[-1] for i in found.problems] == ["money.yaml"], text
    assert (
        "the application lacks scope 'sale' (sale.payment.list, sale.payment.update): add it to the " in text
    )
    assert "the application's user is an administrator" in "\n".join(found.lines())


def test_a_webhook_of_a_user_who_is_not_an_administrator_is_named(tmp_path: Path) -> None:
    from b24_1c_sandbox.degraded import Degraded, degrade

    with _started() as box:
        config = _ready(box, tmp_path)  # setup by an administrator: the portal refuses it to anyone else
        degrade(box, Degraded(webhook_admin=False))
        found = verify(config)
    text = _problems(found)
    assert not found.ready
    assert (
        "mappings/money.yaml: sale.payment.list, sale.payment.update answer only administrators and the "
        "webhook's user is not one" in text
    )
    # `b24-1c setup` needs a CRM administrator too (crm.deal.userfield.add, crm.status.add per the docs).
    assert (
        "bitrix24 (b24-1c setup): crm.company.userfield.add, crm.deal.userfield.add, crm.status.add answer only "
        "administrators" in text
    )
    assert len(found.problems) == 2, text


def test_an_unpublished_1c_object_is_named_with_the_mapping_that_uses_it(tmp_path: Path) -> None:
    with _started(unpublished=("Document_РеализацияТоваровУслуг", "Catalog_Валюты")) as box:
        found = verify(_ready(box, tmp_path))
    text = _problems(found)
    assert not found.ready
    assert (
        "mappings/money.yaml: money: Document_РеализацияТоваровУслуг is not in the 1C OData publication"
        in text
    )
    assert "mappings/orders.yaml: lookups.currencies.entity: Catalog_Валюты is not in the 1C OData" in text
    assert "mappings/deals_to_orders.yaml: target.refs.Валюта_Key.entity: Catalog_Валюты" in text
    assert "Document_ЗаказКлиента" not in text


def test_a_1c_object_the_odata_user_may_not_read_is_named(tmp_path: Path) -> None:
    with _started(unreadable=("Catalog_Номенклатура",)) as box:
        found = verify(_ready(box, tmp_path))
    text = _problems(found)
    assert not found.ready
    assert (
        "mappings/orders.yaml: lookups.products.entity: the 1C user may not read Catalog_Номенклатура" in text
    )
    assert "grant the OData user's role read access" in text
    assert "is not in the 1C OData publication" not in text


def test_a_user_field_deleted_on_the_portal_is_named(tmp_path: Path) -> None:
    from b24_1c_sandbox.degraded import Degraded, degrade

    with _started() as box:
        config = _ready(box, tmp_path)
        degrade(box, Degraded(missing_user_fields=("UF_CRM_1C_SHIPPED_PERCENT",)))
        found = verify(config)
    assert not found.ready
    money = config.mappings_path / "money.yaml"
    line = line_of(load_yaml(money), ("fields", "UF_CRM_1C_SHIPPED_PERCENT"))
    assert [i.line() for i in found.problems] == [
        f"[FIX] {money}:{line}: fields.UF_CRM_1C_SHIPPED_PERCENT: the portal has no "
        "deal user field UF_CRM_1C_SHIPPED_PERCENT: run `b24-1c setup` (as an administrator)"
    ]


def test_lists_longer_than_one_page_are_read_whole(sandbox: Any, tmp_path: Path) -> None:
    """crm.status.list and crm.deal.userfield.list answer 50 rows a page: a real portal's directories (sources,
    types, industries…) come before the deal stages, and its own user fields before ours."""
    portal = sandbox.portal
    top = max(int(r["ID"]) for r in portal.statuses)
    template = portal.statuses[0]
    for n in range(1, 61):  # sorted before every deal stage
        row = {**template, "ID": str(top + n), "ENTITY_ID": "SOURCE", "STATUS_ID": f"SRC{n}", "SORT": "1"}
        portal.statuses.insert(0, row)
    hook = sandbox.webhook_url
    own = {"FIELD_NAME": "UF_CRM_OWN", "USER_TYPE_ID": "string", "LABEL": "own"}
    assert requests.post(hook + "crm.deal.userfield.add", json={"fields": own}, timeout=10).ok
    defs = portal.user_field_defs("deal")
    for n in range(60):  # the portal's own fields, listed before ours
        defs[f"UF_CRM_OWN_{n}"] = {**defs["UF_CRM_OWN"], "ID": str(1000 - n), "FIELD_NAME": f"UF_CRM_OWN_{n}"}
    for method in ("crm.status.list", "crm.deal.userfield.list"):
        listed = requests.post(hook + method, json={}, timeout=10).json()
        assert listed["total"] > 60 and len(listed["result"]) == 50
    found = verify(_ready(sandbox, tmp_path))
    assert found.ready, _problems(found)


def test_a_portal_time_zone_other_than_the_configured_one_is_named(sandbox: Any, tmp_path: Path) -> None:
    found = verify(_ready(sandbox, tmp_path, B24_PORTAL_TIMEZONE="Asia/Yekaterinburg"))
    assert [i.where.rsplit(": ", 1)[-1] for i in found.problems] == ["bitrix24.portal_timezone"]
    assert "is Asia/Yekaterinburg (UTC+05:00) but the portal's time is UTC+03:00" in _problems(found)


def test_a_stage_in_a_pipeline_the_portal_lacks_is_named(sandbox: Any, tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    path = mappings / "deals_to_orders.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("C1:EXECUTING]", "C7:NEW]"), encoding="utf-8")
    config = _ready(sandbox, tmp_path)
    config.mappings_dir = mappings
    text = _problems(verify(config))
    assert (
        "deals_to_orders.yaml: source.filter.STAGE_ID: stage C7:NEW: the portal has no deal pipeline 7"
        in text
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hosts_that_do_not_answer_fail_at_once_with_one_plain_line_and_no_secret(
    sandbox: Any, tmp_path: Path
) -> None:
    b24, onec = _closed_port(), _closed_port()
    config = make_config(
        sandbox,
        tmp_path / "l.db",
        B24_WEBHOOK_URL=f"http://127.0.0.1:{b24}/rest/1/topsecretcode/",
        ONEC_ODATA_URL=f"http://127.0.0.1:{onec}/ut/odata/standard.odata/",
    )
    found = verify(config)
    assert found.attempts == {"Bitrix24": 1, "1C": 1}  # no retries: one connection attempt per host
    assert found.unreachable == ["Bitrix24", "1C"]
    assert [i.line() for i in found.problems] == [
        f"[FIX] {config.source}: bitrix24: Bitrix24 at http://127.0.0.1:{b24} does not answer: connection "
        "refused (nothing listens on that port); check the address and the network",
        f"[FIX] {config.source}: onec.odata_url: 1C at http://127.0.0.1:{onec} does not answer: connection "
        "refused (nothing listens on that port); check the address and the network",
    ]
    assert "topsecretcode" not in "\n".join(found.lines())


def test_a_host_that_accepts_but_never_answers_is_one_line_after_one_attempt(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from connector.verify import transport

    monkeypatch.setattr(
        transport, "FIRST_REPLY_TIMEOUT", 0.2
    )  # the real bound is 4 s; the behaviour is the same
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # the kernel completes the handshake; nobody ever reads or answers
        port = silent.getsockname()[1]
        config = make_config(
            sandbox, tmp_path / "l.db", ONEC_ODATA_URL=f"http://127.0.0.1:{port}/ut/odata/standard.odata/"
        )
        found = verify(config)
    assert found.attempts["1C"] == 1 and found.unreachable == ["1C"]
    assert f"1C at http://127.0.0.1:{port} does not answer: connected, but no answer in time" in _problems(
        found
    )


def test_refused_credentials_are_one_line_per_system(sandbox: Any, tmp_path: Path) -> None:
    config = make_config(
        sandbox,
        tmp_path / "l.db",
        B24_WEBHOOK_URL=sandbox.webhook_url.replace("sandboxwebhookcode", "wrongcode"),
        ONEC_PASSWORD="wrong-password",
    )
    found = verify(config)
    text = _problems(found)
    assert found.unreachable == ["Bitrix24", "1C"]
    assert len(found.problems) == 2, text
    assert "Bitrix24 refused the credentials: Bitrix24 rejected the credentials at " in text
    assert "(401 INVALID_CREDENTIALS" in text and "check B24_WEBHOOK_URL" in text
    assert "1C refused the credentials" in text
    assert "wrongcode" not in text and "wrong-password" not in text


def test_the_short_session_caps_the_connect_timeout_under_five_seconds() -> None:
    from connector.verify.transport import CONNECT_TIMEOUT, FIRST_REPLY_TIMEOUT, ShortSession

    sent: list[Any] = []

    class Recording(ShortSession):
        def send(self, request: Any, **kwargs: Any) -> Any:
            sent.append(kwargs["timeout"])
            raise requests.ConnectionError("refused")

    session = Recording(read_timeout=60.0)
    with pytest.raises(requests.ConnectionError):
        session.post("http://127.0.0.1:9/x", timeout=60.0)
    assert sent == [(CONNECT_TIMEOUT, 60.0)] and CONNECT_TIMEOUT + 0 < 5 and FIRST_REPLY_TIMEOUT <= 5


def _probe_deals(box: Any) -> list[Any]:
    from connector.verify.probe import TITLE

    return [d for d in box.portal.entities["deal"].values() if d.get("TITLE") == TITLE]


def test_the_write_probe_creates_and_deletes_one_deal_with_a_payment(sandbox: Any, tmp_path: Path) -> None:
    config = _ready(sandbox, tmp_path)
    payments = len(sandbox.portal.table("payment"))
    found = verify(config, probe=True)
    assert found.ready, _problems(found)
    assert "write probe: a deal with a payment was created and deleted" in "\n".join(found.lines())
    added = [c.method for c in sandbox.portal.calls if c.method in ("crm.deal.add", "crm.item.payment.add")]
    assert added == ["crm.deal.add", "crm.item.payment.add"]
    assert _probe_deals(sandbox) == [] and len(sandbox.portal.table("payment")) == payments


def test_without_the_write_probe_verify_writes_nothing(sandbox: Any, tmp_path: Path) -> None:
    from b24_1c_sandbox.bitrix24.registry import METHODS

    config = _ready(sandbox, tmp_path)
    before = len(sandbox.portal.calls)
    verify(config)
    called = {c.method for c in sandbox.portal.calls[before:]}
    assert called and not [m for m in called if METHODS[m].write]
    assert not [e for e in sandbox.onec_app.log if e.method != "GET"]


@pytest.mark.parametrize(
    ("fault", "method", "step"),
    [
        ("error500", "crm.item.payment.add", "crm.item.payment.add failed"),
        ("lost_reply", "crm.deal.add", "crm.deal.add failed"),
    ],
)
def test_the_write_probe_cleans_up_when_a_step_fails(
    sandbox: Any, tmp_path: Path, fault: str, method: str, step: str
) -> None:
    from b24_1c_sandbox.faults import FaultInjector

    config = _ready(sandbox, tmp_path)
    sandbox.portal.faults = FaultInjector()
    sandbox.portal.faults.force(fault, method)
    found = verify(config, probe=True)
    assert not found.ready
    assert f"write probe: {step}" in _problems(found)
    assert _probe_deals(sandbox) == []  # the deal (even one whose add reply was lost) was found and deleted


# -- the command line ----------------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    """`b24-1c ARGS` in this process (Typer's runner): the same commands, without a Python start per call."""
    from typer.testing import CliRunner

    from connector.cli import app
    from tests.conftest import OFFLINE_ENV

    return CliRunner().invoke(app, list(args), env={**OFFLINE_ENV, **(env or {})})


def test_verify_and_check_online_exit_0_only_when_ready(sandbox: Any, tmp_path: Path) -> None:
    from tests.integration.test_cli import env_of, write_config

    config = str(write_config(tmp_path, sandbox))
    env = env_of(tmp_path)
    before = _cli("verify", "--config", config, env=env)
    assert before.exit_code == 1, before.output
    assert "[FIX] " in before.output and "run `b24-1c setup`" in before.output
    assert "not ready: " in before.output
    assert _cli("setup", "--config", config, env=env).exit_code == 0
    alias = _cli("check", "--online", "--config", config, env=env)  # the same command as verify
    assert alias.exit_code == 0, alias.output
    assert alias.output.rstrip().endswith("ready for go-live: every check passed")
    assert "[FIX]" not in alias.output


def test_verify_names_a_silent_host_and_exits_3_without_the_secret() -> None:
    done = _cli("verify", "--config", str(ROOT / "config.example.yaml"))  # offline: nothing listens on port 9
    assert done.exit_code == 3, done.output
    assert "Bitrix24 at http://127.0.0.1:9 does not answer: connection refused" in done.output
    assert "1C at http://127.0.0.1:9 does not answer: connection refused" in done.output
    assert "offlinetestcode" not in done.output and "offline-test-password" not in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    missing = _cli("verify", "--config", str(ROOT / "no-such-config.yaml"))
    assert missing.exit_code == 2, missing.output
    helped = _cli("verify", "--help").output
    assert "Exit codes: 0 ready for go-live" in helped and "--write-probe" in helped
