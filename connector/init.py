"""`b24-1c init DIR`: a config, the default mappings and the schedule, copied from the defaults inside the package."""

from __future__ import annotations

import re
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from connector.errors import ConfigError

CONFIG = "config.example.yaml"
FOLDERS = ("mappings", "schedules")
_LEDGER_LINE = re.compile(r"(?m)^(  path: )\$\{B24_1C_LEDGER:-[^}]*\}$")
_ENV_FILE_LINE = re.compile(r"(?m)^# env_file: .*$")


def defaults() -> Traversable:
    """Where the shipped defaults are: `connector/defaults` in an installed wheel (hatch force-include), else the
    source checkout the package runs from (an editable install)."""
    packaged = resources.files("connector") / "defaults"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / CONFIG).is_file() and (checkout / "mappings").is_dir():
        return checkout
    raise ConfigError(
        "the default config, mappings and schedules are not in this installation (connector/defaults is "
        "missing): reinstall b24-1c from its wheel or source checkout"
    )


def default_files() -> dict[str, Traversable]:
    """Relative name → shipped file: config.yaml, mappings/*.yaml, schedules/*.yaml."""
    root = defaults()
    files: dict[str, Traversable] = {"config.yaml": root / CONFIG}
    for folder in FOLDERS:
        for item in sorted((root / folder).iterdir(), key=lambda t: t.name):
            if item.is_file() and item.name.endswith(".yaml"):
                files[f"{folder}/{item.name}"] = item
    return files


def config_text(ledger: Path | None, env_file: Path | None = None) -> str:
    """The shipped config; with `ledger`, its ledger path is written in (one ledger for the daemon and for manual
    runs, whatever the environment says); with `env_file`, the secrets file every run reads."""
    text = (defaults() / CONFIG).read_text(encoding="utf-8")
    if env_file is not None:
        text, found = _ENV_FILE_LINE.subn(lambda m: f"env_file: {env_file}", text)
        if found != 1:
            raise ConfigError(f"the shipped {CONFIG} has no `# env_file:` line to set")
    if ledger is None:
        return text
    if not ledger.is_absolute():
        raise ConfigError(
            f"--ledger must be an absolute path (e.g. /var/lib/b24-1c/ledger.sqlite3), got {ledger}"
        )
    text, found = _LEDGER_LINE.subn(lambda m: m.group(1) + str(ledger), text)
    if found != 1:
        raise ConfigError(
            f"the shipped {CONFIG} has no `path: ${{B24_1C_LEDGER:-…}}` line to set the ledger in"
        )
    return text


def init_dir(
    target: Path, ledger: Path | None = None, force: bool = False, env_file: Path | None = None
) -> list[Path]:
    """Write the defaults into `target`; refuses to overwrite an existing file unless `force`. Returns the files."""
    files = default_files()
    existing = [target / name for name in files if (target / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{target} already holds {len(existing)} of the files init writes (pass --force to overwrite them)",
            problems=[str(p) for p in existing],
        )
    texts = {name: item.read_text(encoding="utf-8") for name, item in files.items()}
    texts["config.yaml"] = config_text(ledger, env_file)
    written = []
    for name, text in texts.items():
        path = target / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write: {exc.strerror}") from None
        written.append(path)
    return written
