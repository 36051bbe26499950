"""config.yaml loading: interpolation, secrets, unknown keys, every error at once with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """\
bitrix24:
  webhook_url: ${B24_WEBHOOK_URL}
onec:
  odata_url: ${ONEC_ODATA_URL}
  user: ${ONEC_USER}
  password: ${ONEC_PASSWORD}
"""
ENV = {
    "B24_WEBHOOK_URL": "https://p.bitrix24.ru/rest/1/s3cr3tc0de/",
    "ONEC_ODATA_URL": "http://1c/ut/odata/standard.odata",
    "ONEC_USER": "Администратор",
    "ONEC_PASSWORD": "pa55word",
}


def test_example_config_loads_when_the_variables_are_set() -> None:
    cfg = load_config(ROOT / "config.example.yaml", env=ENV)
    assert cfg.onec.timezone == "Europe/Moscow"
    assert cfg.ledger_path == ROOT / "state" / "ledger.sqlite3"
    assert cfg.mappings_path == ROOT / "mappings"
    assert cfg.flows == [
        "managers",
        "counterparties",
        "orders",
        "money",
        "invoices",
        "deals_to_orders",
        "rollups",
    ]
    assert cfg.onec.soap_url is None and cfg.onec.soap_endpoint is None  # no SOAP unless configured


def test_example_config_has_no_sandbox_fallbacks_and_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "config.example.yaml", env={})
    problems = info.value.problems
    for key, name in (
        ("bitrix24.webhook_url", "B24_WEBHOOK_URL"),
        ("onec.odata_url", "ONEC_ODATA_URL"),
        ("onec.user", "ONEC_USER"),
        ("onec.password", "ONEC_PASSWORD"),
    ):
        assert any(f"{key}: environment variable {name} is not set" in p for p in problems), problems
    # Only the unset variables: no follow-on noise about an empty URL or a missing webhook.
    assert len(problems) == 4, problems
    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")
    assert "127.0.0.1" not in text and "sandbox}" not in text


def test_a_variable_may_come_from_systemd_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ONEC_PASSWORD").write_text("fr0m-credential\n", encoding="utf-8")
    path = write(tmp_path, MINIMAL)
    env = {k: v for k, v in ENV.items() if k != "ONEC_PASSWORD"}
    cfg = load_config(path, env={**env, "CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.onec.password.get_secret_value() == "fr0m-credential"
    # The environment wins over a credential of the same name.
    cfg = load_config(path, env={**ENV, "CREDENTIALS_DIRECTORY": str(creds)})
    assert cfg.onec.password.get_secret_value() == "pa55word"
    # Neither set: named as before.
    with pytest.raises(ConfigError, match="ONEC_PASSWORD is not set"):
        load_config(path, env={**env, "CREDENTIALS_DIRECTORY": str(tmp_path / "empty")})


def test_environment_overrides_defaults_and_secrets_stay_secret(tmp_path: Path) -> None:
    cfg = load_config(
        ROOT / "config.example.yaml",
        env={**ENV, "ONEC_TIMEZONE": "Asia/Yekaterinburg", "B24_1C_LEDGER": str(tmp_path / "l.db")},
    )
    assert cfg.onec.timezone == "Asia/Yekaterinburg"
    assert cfg.ledger_path == tmp_path / "l.db"
    assert cfg.onec.password.get_secret_value() == "pa55word"
    dumped = repr(cfg) + str(cfg.model_dump())
    assert "pa55word" not in dumped and "s3cr3tc0de" not in dumped


def test_default_syntax_and_literal_dollar(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "  timezone: ${TZ_X:-Asia/Omsk}\nlogging:\n  level: ${LVL:-DEBUG}\n"
        'flows: ["orders"]\nmappings_dir: "m$$x"\n',
    )
    cfg = load_config(path, env=ENV)
    assert cfg.onec.timezone == "Asia/Omsk"
    assert cfg.logging.level == "DEBUG"
    assert cfg.mappings_dir == Path("m$x")


def test_unset_variable_names_the_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={k: v for k, v in ENV.items() if k != "ONEC_PASSWORD"})
    text = str(info.value)
    assert "onec.password" in text and "ONEC_PASSWORD is not set" in text


def test_every_problem_is_reported_at_once_with_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace("  user:", "  usr: x\n  user:")
        + "  timezone: Mars/Olympus\nbitrix24x: {}\nsync:\n  batch_size: 500\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    problems = info.value.problems
    joined = "\n".join(problems)
    assert len(problems) >= 4, joined
    assert f"{path}:5: onec.usr: unknown key; did you mean 'user'?" in joined
    assert "onec.timezone: unknown time zone 'Mars/Olympus'" in joined
    assert "bitrix24x: unknown key" in joined
    assert "sync.batch_size" in joined


def test_webhook_or_oauth_exactly_one(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("${B24_WEBHOOK_URL}", "${B24_WEBHOOK_URL:-}"))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={**ENV, "B24_WEBHOOK_URL": ""})
    assert "exactly one of bitrix24.webhook_url" in str(info.value)


def test_a_required_variable_set_to_nothing_is_named(tmp_path: Path) -> None:
    # `ONEC_PASSWORD=` left unfilled in secrets.env: a config problem now, not a 401 at the first request.
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={**ENV, "ONEC_PASSWORD": ""})
    assert "onec.password: environment variable ONEC_PASSWORD is empty" in str(info.value)


def test_bad_webhook_shape_does_not_echo_the_secret(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={**ENV, "B24_WEBHOOK_URL": "ftp://example/hook/supersecret"})
    assert "must look like https://PORTAL/rest/USER_ID/WEBHOOK_CODE/" in str(info.value)
    assert "supersecret" not in str(info.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bitrix24:\n  webhook_url: [unclosed\nonec: {}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=ENV)
    assert str(path) in str(info.value) and "YAML syntax error" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml", env=ENV)


def test_an_env_file_named_by_the_config_gives_the_same_secrets_to_every_run(tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text(
        "# /etc/b24-1c/secrets.env — a comment line, as in deploy/secrets.env.example\n"
        "; another comment\n\n"
        f"B24_WEBHOOK_URL={ENV['B24_WEBHOOK_URL']}\n"
        f'ONEC_ODATA_URL="{ENV["ONEC_ODATA_URL"]}"\n'
        "ONEC_USER='Администратор'\n"
        "ONEC_PASSWORD=from-the-f1le\n",
        encoding="utf-8",
    )
    path = write(tmp_path, MINIMAL + "env_file: secrets.env\n")
    cfg = load_config(path, env={})
    assert cfg.onec.password.get_secret_value() == "from-the-f1le"
    assert cfg.onec.user == "Администратор" and cfg.onec.odata_url == ENV["ONEC_ODATA_URL"] + "/"
    assert cfg.env_file == Path("secrets.env")
    # The environment still wins.
    assert load_config(path, env={"ONEC_PASSWORD": "env-wins"}).onec.password.get_secret_value() == "env-wins"


def test_a_bad_env_file_line_is_named_without_echoing_values(tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text("ONEC_PASSWORD=s3cr3t-v4lue\nthis is not a pair s3cr3t\n", "utf-8")
    path = write(tmp_path, MINIMAL + "env_file: secrets.env\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert f"{tmp_path / 'secrets.env'}:2: expected KEY=value" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    missing = write(tmp_path, MINIMAL + "env_file: nowhere.env\n")
    with pytest.raises(ConfigError, match=r"nowhere\.env: env_file not found"):
        load_config(missing, env={})
