"""config.yaml as pydantic models: ${ENV} interpolation, SecretStr secrets, unknown keys rejected."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from connector.errors import ConfigError
from connector.redact import register_secret
from connector.yamlio import decode_utf8, load_model, load_yaml

DEFAULT_CONFIG_NAMES = ("config.yaml", "config.example.yaml")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Europe/Moscow)") from None
    return value


class OAuthConfig(_Strict):
    """An OAuth application: the portal's REST endpoint and a refresh token that rotates."""

    portal_url: str = Field(description="https://PORTAL/rest/")
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    token_url: str = "https://oauth.bitrix.info/oauth/token/"
    token_store: Path = Path("state/oauth.json")


class Bitrix24Config(_Strict):
    """How to reach the portal and how fast we may talk to it."""

    webhook_url: SecretStr | None = None
    oauth: OAuthConfig | None = None
    plan: Literal["standard", "enterprise", "off"] = "standard"
    portal_timezone: str = "Europe/Moscow"
    timeout: float = Field(60.0, gt=0, le=600)
    verify_tls: bool | str = True
    share: float = Field(
        1.0,
        gt=0,
        le=1,
        description="this installation's part of the portal's request limit when several installations share "
        "one portal (e.g. 0.5 each for two): burst and rate are scaled by it",
    )

    _zone = field_validator("portal_timezone")(_check_zone)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        url = value.get_secret_value()
        if not url.startswith(("http://", "https://")) or "/rest/" not in url:
            raise ValueError("must look like https://PORTAL/rest/USER_ID/WEBHOOK_CODE/")
        return SecretStr(url if url.endswith("/") else url + "/")

    @model_validator(mode="after")
    def _one_auth(self) -> Bitrix24Config:
        if (self.webhook_url is None) == (self.oauth is None):
            raise ValueError("set exactly one of bitrix24.webhook_url (B24_WEBHOOK_URL) or bitrix24.oauth")
        return self


class OneCConfig(_Strict):
    """The 1C publication: OData base URL, an infobase user, the server's time zone and configuration profile."""

    odata_url: str
    user: str
    password: SecretStr
    timezone: str = "Europe/Moscow"
    profile: Literal["ut11.5", "ut11.4", "bp3.0"] = "ut11.5"
    page_size: int = Field(500, ge=1, le=5000)
    max_connections: int = Field(2, ge=1, le=16)
    timeout: float = Field(120.0, gt=0, le=900)
    soap_url: str | None = Field(
        None,
        description="WSDL of the CrmExchange web service (…/ws/CrmExchange.1cws)"
        " for flows with target.via: soap",
    )
    soap_endpoint: str | None = Field(
        None, description="the service address to call, when the WSDL names a host this machine cannot reach"
    )

    _zone = field_validator("timezone")(_check_zone)

    @field_validator("soap_url", "soap_endpoint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("odata_url")
    @classmethod
    def _odata_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL ending in /odata/standard.odata/")
        return value if value.endswith("/") else value + "/"


class TakesRule(_Strict):
    """Which deals started in Bitrix24 this installation orders in its 1C base (docs/identity.md, several bases):
    deals of the named pipelines (CATEGORY_ID), or deals whose field holds the value. A deal no installation's
    rule names is left alone."""

    category: list[int] | None = Field(None, min_length=1, description="pipelines (CATEGORY_ID), e.g. [0, 2]")
    field: str | None = Field(
        None, pattern=r"^[A-Z][A-Z0-9_]*$", description="a deal field, e.g. UF_CRM_1C_BASE"
    )
    value: str | None = Field(None, min_length=1, description="the value of `field` that names this base")

    @model_validator(mode="after")
    def _one_rule(self) -> TakesRule:
        if (self.category is None) == (self.field is None):
            raise ValueError("name either category: [ids] or field: NAME with value: TEXT")
        if (self.field is None) != (self.value is None):
            raise ValueError("field and value go together (e.g. field: UF_CRM_1C_BASE, value: ut-north)")
        return self

    def deal_filter(self) -> dict[str, object]:
        """The crm.deal.list filter of the deals this rule names."""
        if self.category is not None:
            return {"@CATEGORY_ID": list(self.category)}
        assert self.field is not None
        return {self.field: self.value}

    def names(self, deal: Mapping[str, object]) -> bool:
        """Whether a deal as read is one this rule names (checked on our side too)."""
        if self.category is not None:
            return str(deal.get("CATEGORY_ID") or 0) in {str(c) for c in self.category}
        assert self.field is not None
        return str(deal.get(self.field) or "") == self.value


class InstallationConfig(_Strict):
    """Who we are on the objects we create (docs/identity.md): ORIGINATOR_ID on deals and companies, the prefix of
    xmlId on smart invoices and payments. It lives here, not in the ledger, so a lost ledger keeps it."""

    id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,39}$",
        description="default: derived from the 1C base address (host and base name), e.g. 1C-3f9a1b2c",
    )
    adopt: list[str] = Field(
        default_factory=lambda: ["1C"],
        description="older stamps adopted when our 1C base holds the object they point at (releases before 0.2 "
        "stamped every object with ORIGINATOR_ID=1C)",
    )
    takes: TakesRule | None = Field(
        None,
        description="several 1C bases on one portal: the deals started in Bitrix24 this base takes, "
        "{category: [0, 2]} or {field: UF_CRM_1C_BASE, value: ut-north}; unset: every deal at a watched stage",
    )


def derived_installation_id(odata_url: str) -> str:
    """A stable id for a 1C base: its host (without port or scheme) and base name, hashed. The port is left out so
    that moving the publication to another port keeps the id."""
    parts = urlsplit(odata_url)
    base = parts.path.lower().split("/odata/")[0].strip("/")
    ident = f"{(parts.hostname or '').lower()}/{base}"
    return "1C-" + hashlib.sha256(ident.encode()).hexdigest()[:8]


class LedgerConfig(_Strict):
    """Where the SQLite ledger lives."""

    path: Path = Path("state/ledger.sqlite3")

    @field_validator("path", mode="before")
    @classmethod
    def _names_a_file(cls, value: object) -> object:
        text = str(value).strip() if value is not None else ""
        if not text or text in (".", "..") or text.endswith(("/", "\\")):
            raise ValueError(
                f"must name the ledger file, e.g. /var/lib/b24-1c/ledger.sqlite3, got {str(value)!r} "
                "(is B24_1C_LEDGER set to an empty value?)"
            )
        return value


class SyncConfig(_Strict):
    """Knobs of the sync engine."""

    lookback_days: int = Field(
        30, ge=1, le=3650, description="incremental cycles re-read 1C documents this recent"
    )
    batch_size: int = Field(25, ge=1, le=50, description="records per Bitrix24 batch request")
    in_flight: int = Field(
        1,
        ge=1,
        le=8,
        description="Bitrix24 batch requests sent at once (the pacers keep the portal's limits; more helps when "
        "network latency, not the plan, limits throughput)",
    )


class LoggingConfig(_Strict):
    """Log level and format (auto: console on a terminal, JSON lines otherwise)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["auto", "console", "json"] = "auto"


class AlertsConfig(_Strict):
    """Alerts after each daemon cycle (connector/alerts): to portal admins and, for the portal's own failures, a
    webhook URL and/or e-mail."""

    admins: list[int] = Field(
        default_factory=list, description="Bitrix24 user ids notified (im.notify.system.add)"
    )
    webhook_url: SecretStr | None = Field(None, description="JSON POST of each alert and resolution")
    smtp_host: str | None = None
    smtp_port: int = Field(25, gt=0, lt=65536)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "b24-1c@localhost"
    mail_to: list[str] = Field(default_factory=list)
    failed_threshold: int = Field(10, ge=1, description="open failed records of one flow that raise an alert")
    silent_cycles: int = Field(3, ge=1, description="cycles of a flow in a row without a success")
    token_warn_days: int = Field(
        14, ge=1, description="alert this long before the refresh token's 180 days end"
    )
    timeout: float = Field(10.0, gt=0, le=120)


class Config(_Strict):
    """The whole config.yaml."""

    bitrix24: Bitrix24Config
    onec: OneCConfig
    installation: InstallationConfig = InstallationConfig()
    ledger: LedgerConfig = LedgerConfig()
    sync: SyncConfig = SyncConfig()
    logging: LoggingConfig = LoggingConfig()
    alerts: AlertsConfig = AlertsConfig()
    mappings_dir: Path = Path("mappings")
    schedule: Path = Path("schedules/default.yaml")
    env_file: Path | None = Field(
        None,
        description="KEY=value lines (systemd EnvironmentFile syntax) that ${VAR} reads after the environment, "
        "so the daemon and commands run by hand see the same secrets",
    )
    flows: list[str] = Field(default_factory=lambda: ["orders"], min_length=1)

    # Set by load_config: the file this came from, so relative paths resolve against its folder.
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        return self._source

    def resolve(self, path: Path) -> Path:
        """A path from the config, relative to the config file's folder."""
        if path.is_absolute() or self.source is None:
            return path
        return (self.source.parent / path).resolve()

    @property
    def installation_id(self) -> str:
        """The id we stamp on our objects: `installation.id`, or one derived from the 1C base address."""
        return self.installation.id or derived_installation_id(self.onec.odata_url)

    @property
    def ledger_path(self) -> Path:
        return self.resolve(self.ledger.path)

    @property
    def mappings_path(self) -> Path:
        return self.resolve(self.mappings_dir)

    @property
    def schedule_path(self) -> Path:
        return self.resolve(self.schedule)


def find_config(explicit: Path | None) -> Path:
    """The config to use: --config, else $B24_1C_CONFIG, else ./config.yaml, else ./config.example.yaml."""
    if explicit is not None:
        return explicit
    env = os.environ.get("B24_1C_CONFIG")
    if env:
        return Path(env)
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).exists():
            return Path(name)
    raise ConfigError("no config file: copy config.example.yaml to config.yaml, or pass --config FILE")


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= reads them: `#`/`;` comments, blank lines, optional quotes.
    A bad line is named by file and line number; values are never echoed."""
    try:
        text = decode_utf8(path, path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: env_file not found (create it, or remove env_file from the config)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the env_file: {exc.strerror}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ConfigError(f"{path}:{number}: expected KEY=value (a variable name, '=', its value)")
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        elif len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        values[name] = value
    return values


class Environment(Mapping[str, str]):
    """The variables `${VAR}` reads: the environment, then the config's env_file, then systemd credentials
    ($CREDENTIALS_DIRECTORY/VAR, from LoadCredential=VAR:/path), so a secret need not be an environment variable."""

    def __init__(self, env: Mapping[str, str], file: Mapping[str, str] | None = None) -> None:
        self.env = env
        self.file = file or {}
        folder = env.get("CREDENTIALS_DIRECTORY")
        self.credentials = Path(folder) if folder else None

    def __getitem__(self, name: str) -> str:
        if name in self.env:
            return self.env[name]
        if name in self.file:
            return self.file[name]
        if self.credentials is None or "/" in name or name.startswith("."):
            raise KeyError(name)
        path = self.credentials / name
        try:
            return path.read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
        except FileNotFoundError:
            raise KeyError(name) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the credential {name}: {exc}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate config.yaml; secrets are registered for redaction. `${VAR}` reads `env` (default: the
    process environment) and then the systemd credentials named by its CREDENTIALS_DIRECTORY."""
    raw = load_yaml(path)
    named = raw.get("env_file") if isinstance(raw, Mapping) else None
    file: dict[str, str] = {}
    if isinstance(named, str) and named.strip():
        env_path = Path(named.strip())
        file = read_env_file(env_path if env_path.is_absolute() else path.resolve().parent / env_path)
    config = load_model(path, Config, env=Environment(os.environ if env is None else env, file))
    config._source = path.resolve()
    if config.bitrix24.webhook_url is not None:
        register_secret(config.bitrix24.webhook_url.get_secret_value().rstrip("/").rsplit("/", 1)[-1])
    if config.bitrix24.oauth is not None:
        register_secret(config.bitrix24.oauth.client_secret.get_secret_value())
        register_secret(config.bitrix24.oauth.refresh_token.get_secret_value())
    register_secret(config.onec.password.get_secret_value())
    for secret in (config.alerts.webhook_url, config.alerts.smtp_password):
        register_secret(secret.get_secret_value() if secret else None)
    return config
