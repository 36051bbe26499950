"""`b24-1c init DIR`: a config, the default mappings and the schedule that load and validate as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config
from connector.errors import ConfigError
from connector.init import init_dir
from connector.mapping.schema import load_mappings
from connector.schedule import load_schedule
from tests.conftest import OFFLINE_ENV, ROOT


def test_init_writes_a_config_that_validates_with_its_mappings_and_schedule(tmp_path: Path) -> None:
    written = init_dir(tmp_path / "etc", ledger=Path("/var/lib/b24-1c/ledger.sqlite3"))
    names = {p.relative_to(tmp_path / "etc").as_posix() for p in written}
    shipped = {f"mappings/{p.name}" for p in (ROOT / "mappings").glob("*.yaml")}
    assert names == {"config.yaml", "schedules/default.yaml"} | shipped
    cfg = load_config(tmp_path / "etc" / "config.yaml", env=OFFLINE_ENV)
    assert cfg.mappings_path == tmp_path / "etc" / "mappings"
    assert set(load_mappings(cfg.mappings_path, cfg.flows)) >= set(cfg.flows)
    assert set(load_schedule(cfg.schedule_path, list(cfg.flows))) == set(cfg.flows)


def test_the_ledger_given_to_init_is_the_one_every_run_uses(tmp_path: Path) -> None:
    # The daemon and a manual backfill read the same file: no environment variable moves it elsewhere.
    init_dir(tmp_path, ledger=Path("/var/lib/b24-1c/ledger.sqlite3"))
    cfg = load_config(tmp_path / "config.yaml", env={**OFFLINE_ENV, "B24_1C_LEDGER": "/elsewhere.sqlite3"})
    assert cfg.ledger_path == Path("/var/lib/b24-1c/ledger.sqlite3")
    init_dir(tmp_path / "dev")  # without --ledger: state/ beside the config, as in the example
    assert load_config(tmp_path / "dev" / "config.yaml", env=OFFLINE_ENV).ledger_path == (
        tmp_path / "dev" / "state" / "ledger.sqlite3"
    )


def test_init_never_overwrites_an_edited_file_unless_forced(tmp_path: Path) -> None:
    init_dir(tmp_path)
    (tmp_path / "mappings" / "orders.yaml").write_text("# edited by the admin\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        init_dir(tmp_path)
    assert "--force" in str(info.value) and str(tmp_path / "mappings" / "orders.yaml") in info.value.problems
    assert (tmp_path / "mappings" / "orders.yaml").read_text(encoding="utf-8") == "# edited by the admin\n"
    init_dir(tmp_path, force=True)
    assert "edited" not in (tmp_path / "mappings" / "orders.yaml").read_text(encoding="utf-8")


def test_a_relative_ledger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absolute"):
        init_dir(tmp_path, ledger=Path("state/ledger.sqlite3"))
    assert not (tmp_path / "config.yaml").exists()


def test_init_with_an_env_file_needs_no_variables_in_the_environment(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(
        "# comment line\n" + "".join(f"{k}={v}\n" for k, v in OFFLINE_ENV.items()), encoding="utf-8"
    )
    init_dir(tmp_path / "etc", env_file=secrets)
    cfg = load_config(tmp_path / "etc" / "config.yaml", env={})
    assert cfg.onec.password.get_secret_value() == OFFLINE_ENV["ONEC_PASSWORD"]
