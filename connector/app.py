"""Composition root: the one place that turns config into concrete clients, ledger and flow runners."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import requests
from requests.adapters import HTTPAdapter

from connector.bitrix24.auth import Auth, OAuthAuth, WebhookAuth
from connector.bitrix24.client import Bitrix24Client
from connector.clock import BusinessDay, Clock, SystemClock
from connector.config import Config
from connector.engine.runner import FlowRunner
from connector.errors import ConfigError, InstanceLockedError, RemoteRejected
from connector.ledger import Ledger, ledger_problem
from connector.mapping.schema import Mapping, load_mappings
from connector.onec.odata import ODataClient
from connector.ratelimit import RequestPacer
from connector.status import Status, collect


def make_session(pool: int = 8, verify: bool | str = True) -> requests.Session:
    """One pooled session per remote system."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool, pool_maxsize=pool, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = verify
    return session


class LedgerLock:
    """An exclusive lock next to the ledger, so two processes never write the same ledger.

    The lock is taken next to the resolved file: a symlink to the ledger, a symlinked folder, or a relative path
    to the same file all meet the same lock."""

    def __init__(self, ledger_path: Path) -> None:
        self.ledger_path = ledger_path.resolve()
        self.path = self.ledger_path.with_name(self.ledger_path.name + ".lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.path, "a+")  # noqa: SIM115 - held for the life of the process
        except OSError as exc:
            raise ledger_problem(self.ledger_path, exc) or exc from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            pid = fh.read().strip() or "?"
            fh.close()
            raise InstanceLockedError(
                f"another b24-1c process (pid {pid}) is using the ledger {self.ledger_path}; "
                "stop it first (systemctl stop b24-1c)"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


UF_ADD = {"deal": "crm.deal.userfield.add", "company": "crm.company.userfield.add"}
UF_LIST = {"deal": "crm.deal.userfield.list", "company": "crm.company.userfield.list"}


def _uf_entity(spec: Mapping) -> str:
    """Whose user fields a mapping's `user_fields` are: the company's for flows writing companies, else the deal's."""
    return "company" if spec.target.system == "bitrix24" and spec.target.entity == "company" else "deal"


def stamp_identity(mappings: dict[str, Mapping], config: Config) -> None:
    """Every external key without an explicit originator carries this installation's id (docs/identity.md)."""
    for spec in mappings.values():
        key = spec.target.external_key
        if key.originator_id is None:
            key.originator_id = config.installation_id
        key.adopt = [x for x in config.installation.adopt if x != key.originator_id]


class Connector:
    """Builds and owns everything one process needs."""

    def __init__(self, config: Config, clock: Clock | None = None, lock: bool = True) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.stop = threading.Event()
        self.lock = LedgerLock(config.ledger_path) if lock else None
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.mappings: dict[str, Mapping] = load_mappings(config.mappings_path, config.flows)
            stamp_identity(self.mappings, config)
            self.ledger = Ledger(config.ledger_path, self.clock)
        except BaseException:
            if self.lock is not None:
                self.lock.release()
            raise
        self.onec_tz = ZoneInfo(config.onec.timezone)
        self._b24: Bitrix24Client | None = None
        self._odata: ODataClient | None = None

    @property
    def installation_id(self) -> str:
        return self.config.installation_id

    def close(self) -> None:
        self.ledger.close()
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bitrix24(self) -> Bitrix24Client:
        if self._b24 is None:
            b = self.config.bitrix24
            auth: Auth
            if b.oauth is not None:
                o = b.oauth
                auth = OAuthAuth(
                    o.portal_url,
                    o.client_id,
                    o.client_secret.get_secret_value(),
                    o.refresh_token.get_secret_value(),
                    o.token_url,
                    self.config.resolve(o.token_store),
                    self.clock,
                )
            else:
                assert b.webhook_url is not None
                auth = WebhookAuth(b.webhook_url.get_secret_value())
            self._b24 = Bitrix24Client(
                make_session(verify=b.verify_tls),
                auth,
                self.clock,
                RequestPacer.for_plan(self.clock, b.plan, share=b.share),
                timeout=b.timeout,
            )
        return self._b24

    @property
    def odata(self) -> ODataClient:
        if self._odata is None:
            o = self.config.onec
            self._odata = ODataClient(
                make_session(o.max_connections),
                o.odata_url,
                o.user,
                o.password.get_secret_value(),
                self.onec_tz,
                self.clock,
                o.timeout,
                o.max_connections,
            )
        return self._odata

    def soap(self) -> Any:
        """The CrmExchange SOAP client (zeep over its own session), for flows with target.via: soap."""
        from connector.onec.soap import SoapClient

        o = self.config.onec
        if not o.soap_url:
            raise ConfigError("a flow writes through SOAP (target.via: soap) but onec.soap_url is not set")
        return SoapClient(
            make_session(o.max_connections),
            o.soap_url,
            o.user,
            o.password.get_secret_value(),
            endpoint=o.soap_endpoint,
            timeout=o.timeout,
        )

    def flows(self, names: list[str] | None = None) -> list[str]:
        """Configured flows, or the named ones (each must be configured)."""
        if not names:
            return list(self.config.flows)
        unknown = [n for n in names if n not in self.mappings]
        if unknown:
            raise ConfigError(
                f"unknown flow(s): {', '.join(unknown)} (configured: {', '.join(self.mappings)})"
            )
        return names

    def runner(self, flow: str) -> FlowRunner:
        from connector.flows.registry import build

        spec = self.mappings[flow]
        today = BusinessDay(self.clock, self.onec_tz)  # one business date per run: source, target and runner
        source, target = build(self, spec, today)
        return FlowRunner(
            spec,
            source,
            target,
            self.ledger,
            self.clock,
            self.onec_tz,
            self.stop,
            self.mappings,
            active=list(self.config.flows),
            today=today,
        )

    def setup(self) -> list[tuple[str, str]]:
        """Create what the mappings need on the portal, when missing: deal user fields and pipeline stages.

        Idempotent: what exists is reported as present and left alone."""
        report = self._setup_fields()
        report += self._setup_stages()
        return report

    def missing_on_portal(self) -> list[str]:
        """What the configured mappings write that the portal does not have yet: deal and company user fields, stages.

        Two reads. Writing without them would drop the mapped values silently (the portal ignores unknown fields)
        while the ledger believed the deals were up to date."""
        wanted: set[str] = set()
        stages: set[str] = set()
        companies: set[str] = set()
        for spec in self.mappings.values():
            if spec.flow not in self.config.flows:
                continue
            if _uf_entity(spec) == "company":
                companies |= set(spec.user_fields) | {f for f in spec.fields if f.startswith("UF_CRM_")}
                continue
            wanted |= set(spec.user_fields)
            if spec.target.system == "bitrix24" and spec.target.entity == "deal":
                wanted |= {f for f in spec.fields if f.startswith("UF_CRM_")}
            stages |= spec.referenced_stages()
        # installation.takes naming a user field that is not there would route no deal here, silently.
        takes = self.config.installation.takes
        routed = takes.field if takes is not None and (takes.field or "").startswith("UF_") else None
        reads_deals = any(
            s.flow in self.config.flows and s.source.system == "bitrix24" and s.source.entity == "deal"
            for s in self.mappings.values()
        )
        if routed and reads_deals:
            wanted.add(routed)
        missing: list[str] = []
        if wanted:
            listed = self.bitrix24.list_all("crm.deal.userfield.list", {"order": {"ID": "ASC"}})
            have = {row["FIELD_NAME"] for row in listed if isinstance(row, dict)}
            declared = {f for s in self.mappings.values() for f in s.user_fields}
            missing += [
                f"deal field {name}"
                + (
                    " (installation.takes names it: declare it under a mapping's user_fields)"
                    if name == routed and name not in declared
                    else ""
                )
                for name in sorted(wanted - have)
            ]
        if companies:
            have = self._user_fields("company")
            missing += [f"company field {name}" for name in sorted(companies - have)]
        if stages:
            rows = self.bitrix24.list_all("crm.status.list", {"order": {"SORT": "ASC"}})
            have = {str(r["STATUS_ID"]) for r in rows if str(r.get("ENTITY_ID", "")).startswith("DEAL_STAGE")}
            missing += [f"stage {name}" for name in sorted(stages - have)]
        return missing

    def require_ready(self) -> None:
        """Refuse to write while the portal lacks what the mappings need (checked at start, not every cycle)."""
        missing = self.missing_on_portal()
        if missing:
            raise ConfigError(
                "the portal lacks what the mappings write: " + ", ".join(missing) + "; run `b24-1c setup` "
                "(it creates them), then run this command again. Nothing was written."
            )

    def _setup_fields(self) -> list[tuple[str, str]]:
        existing = {"deal": self._user_fields("deal")}
        report = []
        for spec in self.mappings.values():
            entity = _uf_entity(spec)
            for name, uf in spec.user_fields.items():
                if entity not in existing:
                    existing[entity] = self._user_fields(entity)
                if name in existing[entity]:
                    report.append((f"{entity} field {name}", "present"))
                    continue
                try:
                    self.bitrix24.call(
                        UF_ADD[entity],
                        {
                            "fields": {
                                "FIELD_NAME": name,
                                "USER_TYPE_ID": uf.type,
                                "LABEL": uf.label,
                                "EDIT_FORM_LABEL": uf.label,
                                "LIST_COLUMN_LABEL": uf.label,
                                **({"EDIT_IN_LIST": "N"} if uf.read_only else {}),
                            }
                        },
                        write=True,
                    )
                except RemoteRejected as exc:
                    report.append((f"{entity} field {name}", f"failed: {exc}"))
                    continue
                existing[entity].add(name)
                report.append((f"{entity} field {name}", "created"))
        return report

    def _user_fields(self, entity: str) -> set[str]:
        """Names of the portal's user fields of deals or companies (every page)."""
        listed = self.bitrix24.list_all(UF_LIST[entity], {"order": {"ID": "ASC"}})
        return {row["FIELD_NAME"] for row in listed if isinstance(row, dict)}

    def _setup_stages(self) -> list[tuple[str, str]]:
        wanted: dict[str, Any] = {}
        referenced: set[str] = set()
        for spec in self.mappings.values():
            if spec.flow not in self.config.flows:
                continue
            wanted.update(spec.stages)
            referenced |= spec.referenced_stages()
        if not referenced:
            return []
        rows = self.bitrix24.list_all("crm.status.list", {"order": {"SORT": "ASC"}})
        existing = {str(r["STATUS_ID"]) for r in rows if str(r.get("ENTITY_ID", "")).startswith("DEAL_STAGE")}
        report = []
        for stage in sorted(referenced):
            if stage in existing:
                report.append((f"stage {stage}", "present"))
                continue
            declared = wanted.get(stage)
            if declared is None:
                report.append(
                    (
                        f"stage {stage}",
                        "failed: missing on the portal; declare it under stages: in the "
                        "mapping to have setup create it",
                    )
                )
                continue
            category, _, status = stage.rpartition(":")
            entity = f"DEAL_STAGE_{category[1:]}" if category else "DEAL_STAGE"
            try:
                self.bitrix24.call(
                    "crm.status.add",
                    {
                        "fields": {
                            "ENTITY_ID": entity,
                            "STATUS_ID": status,
                            "NAME": declared.name,
                            "SORT": declared.sort,
                            "SEMANTICS": {"success": "S", "failure": "F"}.get(declared.semantics, ""),
                        }
                    },
                    write=True,
                )
            except RemoteRejected as exc:
                report.append((f"stage {stage}", f"failed: {exc}"))
                continue
            report.append((f"stage {stage}", "created"))
        return report

    def traffic(self) -> dict[str, Any]:
        """What the clients made so far (none is created for asking): requests per system, the portal's 503s
        (QUERY_LIMIT_EXCEEDED) and 429s (OPERATION_TIME_LIMIT), each method's operating time used, and 1C's
        failed requests by kind (5xx status, timeout, connection)."""
        out: dict[str, Any] = {
            k: {} for k in ("requests", "rate_limited", "time_limited", "operating", "failed")
        }
        if self._b24 is not None:
            stats = self._b24.stats
            out["requests"]["bitrix24"] = stats.requests
            out["rate_limited"]["bitrix24"] = stats.rate_limited
            out["time_limited"]["bitrix24"] = stats.time_limited
            out["operating"] = self._b24.operating.used()
        if self._odata is not None:
            out["requests"]["1c"] = self._odata.requests
            out["failed"]["1c"] = dict(self._odata.failures)
        return out

    def status(self) -> Status:
        """Per flow: last success and error, how far changes are read, failures, next run; who holds the ledger."""
        now = self.clock.now()
        return collect(self.ledger, self.config.ledger_path, self.config.flows, self.installation_id, now)
