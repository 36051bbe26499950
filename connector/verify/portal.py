"""Bitrix24 side of `b24-1c verify`: credentials, time zone, scopes, rights, methods, user fields, pipelines, stages.

Methods called (each read-only, basic scope unless noted; docs under api-reference/ of bitrix-tools/b24-rest-docs):
server.time (common/system/server-time.md), scope (common/system/scope.md), user.admin (common/users/user-admin.md),
method.get in one batch (common/system/method-get.md), crm.deal.userfield.list, crm.category.list, crm.status.list
(scope crm).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from connector.bitrix24.client import BATCH_LIMIT, BatchReply, Bitrix24Client
from connector.config import Config
from connector.errors import AuthError, ConnectorError
from connector.mapping.schema import Mapping
from connector.verify.report import Checklist
from connector.verify.requirements import MethodNeed

DEAL = 2  # entityTypeId of deals


def _offset(delta_seconds: float) -> str:
    sign = "+" if delta_seconds >= 0 else "-"
    minutes = int(abs(delta_seconds)) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class PortalCheck:
    """Adds the portal's lines to a checklist; each step reads once and reports every problem it finds."""

    def __init__(
        self,
        client: Bitrix24Client,
        config: Config,
        mappings: dict[str, Mapping],
        needs: dict[str, list[MethodNeed]],
        out: Checklist,
    ) -> None:
        self.client = client
        self.config = config
        self.mappings = mappings
        self.needs = needs
        self.out = out
        self.scopes: set[str] = set()

    def file(self, flow: str) -> str:
        """The mapping file of a flow; for setup and verify themselves, the config's webhook."""
        if flow not in self.mappings:
            return f"{self.config_file}: bitrix24 (b24-1c {flow.strip('()')})"
        return str(self.config.mappings_path / f"{flow}.yaml")

    @property
    def who(self) -> str:
        return "the application" if self.config.bitrix24.oauth is not None else "the webhook"

    @property
    def add_scope(self) -> str:
        if self.config.bitrix24.oauth is not None:
            return "add it to the application's permissions and reinstall it"
        return "add it to the webhook (Developer resources → the webhook → permissions)"

    @property
    def as_admin(self) -> str:
        if self.config.bitrix24.oauth is not None:
            return "authorize the application as a portal administrator"
        return "create the webhook as a portal administrator"

    @property
    def config_file(self) -> str:
        return str(self.config.source or "config.yaml")

    def every(self, method: str, params: dict[str, Any], key: str | None = None) -> list[Any]:
        """All pages of a list (these lists answer 50 rows a page, `next` naming the following one)."""
        return self.client.list_all(method, params, key)

    def time_zone(self) -> None:
        """The portal's clock offset (server.time) against bitrix24.portal_timezone at the same instant."""
        value = str(self.client.call("server.time").result or "")
        try:
            now = datetime.fromisoformat(value)
        except ValueError:
            self.out.fix(f"server.time answered {value!r}, not a date: the portal's time zone is unknown")
            return
        if now.utcoffset() is None:
            self.out.fix(f"server.time answered {value!r} without an offset")
            return
        zone = self.config.bitrix24.portal_timezone
        theirs = now.utcoffset().total_seconds()  # type: ignore[union-attr]
        ours = now.astimezone(ZoneInfo(zone)).utcoffset().total_seconds()  # type: ignore[union-attr]
        if theirs != ours:
            self.out.fix(
                f"is {zone} ({_offset(ours)}) but the portal's time is {_offset(theirs)} (server.time {value}): "
                "set it to the portal's zone, or deal dates and change windows shift",
                f"{self.config_file}: bitrix24.portal_timezone",
            )
        else:
            self.out.ok(f"portal time zone {_offset(theirs)} matches bitrix24.portal_timezone {zone}")

    def granted_scopes(self) -> None:
        granted = self.client.call("scope").result or []
        self.scopes = {str(s) for s in granted} | {"basic"}
        wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for flow, needs in self.needs.items():
            for need in needs:
                wanted[need.scope][flow].append(need.method)
        wanted.pop("basic", None)  # every caller has it
        granted_needed = sorted(set(wanted) & self.scopes)
        if granted_needed:
            self.out.ok(f"scopes the flows need and {self.who} has: {', '.join(granted_needed)}")
        for scope, flows in sorted(wanted.items()):
            if scope in self.scopes:
                continue
            for flow, methods in flows.items():
                where = self.file(flow)
                self.out.fix(
                    f"{self.who} lacks scope '{scope}' ({', '.join(methods)}): {self.add_scope}",
                    where,
                )

    def rights(self) -> None:
        admin = bool(self.client.call("user.admin").result)
        needing = {f: [n.method for n in needs if n.admin] for f, needs in self.needs.items()}
        needing = {f: m for f, m in needing.items() if m}
        if admin:
            self.out.ok(f"{self.who}'s user is an administrator")
            return
        if not needing:
            self.out.ok(f"{self.who}'s user is not an administrator; no configured flow needs one")
            return
        for flow, methods in needing.items():
            self.out.fix(
                f"{', '.join(methods)} answer only administrators and {self.who}'s user is not one: "
                f"{self.as_admin}",
                self.file(flow),
            )

    def methods(self) -> None:
        """method.get for every method the flows call, in batches of 50: exists on this portal, available to us."""
        names = sorted({n.method for needs in self.needs.values() for n in needs})
        reply = BatchReply({}, {}, {}, {}, {})
        for first in range(0, len(names), BATCH_LIMIT):
            part = {
                f"m{i}": ("method.get", {"name": names[i]}) for i in range(first, len(names))[:BATCH_LIMIT]
            }
            answered = self.client.batch(part)
            reply.result.update(answered.result)
            reply.errors.update(answered.errors)
        missing: dict[str, str] = {}
        unavailable: dict[str, str] = {}
        for i, name in enumerate(names):
            got = reply.result.get(f"m{i}")
            if not isinstance(got, dict):
                err = reply.errors.get(f"m{i}", {})
                self.out.fix(
                    f"method.get {name} failed: {err.get('error_description') or err or 'no answer'}"
                )
                continue
            if not got.get("isExisting"):
                missing[name] = name
            elif not got.get("isAvailable"):
                unavailable[name] = name
        for flow, needs in self.needs.items():
            for need in needs:
                if need.method in missing:
                    self.out.fix(
                        f"the portal has no method {need.method} (its plan or version lacks it; {need.doc})",
                        self.file(flow),
                    )
                elif need.method in unavailable and need.scope in self.scopes:
                    self.out.fix(
                        f"{need.method} is not available to {self.who} ({need.doc})", self.file(flow)
                    )
        if not missing and not unavailable:
            self.out.ok(f"all {len(names)} Bitrix24 methods the flows call exist and are available")

    def user_fields(self) -> None:
        listed = self.every("crm.deal.userfield.list", {"order": {"ID": "ASC"}})
        have = {str(row.get("FIELD_NAME")) for row in listed if isinstance(row, dict)}
        wanted = missing = deals = 0
        companies: set[str] | None = None  # read only when a flow writes company fields (rollups)
        for flow, spec in self.mappings.items():
            keys: dict[str, str] = {n: f"user_fields.{n}" for n in spec.user_fields}
            company = spec.target.system == "bitrix24" and spec.target.entity == "company"
            if spec.target.system == "bitrix24" and spec.target.entity in ("deal", "company"):
                keys.update({f: f"fields.{f}" for f in spec.fields if f.startswith("UF_CRM_")})
            if company and keys and companies is None:
                rows = self.every("crm.company.userfield.list", {"order": {"ID": "ASC"}})
                companies = {str(row.get("FIELD_NAME")) for row in rows if isinstance(row, dict)}
            pool = (companies or set()) if company else have
            if spec.target.system == "onec":
                keys.update(
                    {f: f"target.write_back.{f}" for f in spec.target.write_back if f.startswith("UF_")}
                )
            for name, key in keys.items():
                wanted += 1
                deals += 0 if company else 1
                if name not in pool:
                    missing += 1
                    self.out.fix(
                        f"the portal has no {'company' if company else 'deal'} user field {name}: run `b24-1c "
                        "setup` (as an administrator)",
                        f"{self.file(flow)}: {key}",
                    )
        if wanted and not missing:
            on_companies = f", and all {wanted - deals} company user fields" if wanted > deals else ""
            self.out.ok(f"all {deals} deal user fields the mappings use exist{on_companies}")

    def stages(self) -> None:
        rows = self.every("crm.category.list", {"entityTypeId": DEAL}, "categories")
        pipelines = {int(c["id"]) for c in rows if isinstance(c, dict) and "id" in c} | {0}
        statuses = self.every("crm.status.list", {"order": {"SORT": "ASC"}})
        stages = {
            str(s["STATUS_ID"])
            for s in statuses
            if isinstance(s, dict) and str(s.get("ENTITY_ID", "")).startswith("DEAL_STAGE")
        }
        checked = problems = 0
        for flow, spec in self.mappings.items():
            for stage in sorted(spec.referenced_stages()):
                checked += 1
                where = f"{self.file(flow)}: {_stage_key(spec, stage)}"
                category = stage.split(":", 1)[0][1:] if ":" in stage else "0"
                if not category.isdigit() or int(category) not in pipelines:
                    problems += 1
                    self.out.fix(
                        f"stage {stage}: the portal has no deal pipeline {category} (crm.category.list): "
                        "create it or correct the stage id",
                        where,
                    )
                elif stage not in stages:
                    problems += 1
                    how = (
                        "run `b24-1c setup`" if stage in spec.stages else "declare it under stages: and run "
                    )
                    self.out.fix(
                        f"the portal has no deal stage {stage}: "
                        + (how if stage in spec.stages else how + "`b24-1c setup`"),
                        where,
                    )
        if checked and not problems:
            self.out.ok(f"all {checked} deal stages the mappings use exist, in pipelines the portal has")


def _stage_key(spec: Mapping, stage: str) -> str:
    if stage in spec.stages:
        return f"stages.{stage}"
    if spec.source.system == "bitrix24" and "STAGE_ID" in spec.source.filter:
        flt = spec.source.filter["STAGE_ID"]
        if stage == flt or (isinstance(flt, list) and stage in flt):
            return "source.filter.STAGE_ID"
    return "fields.STAGE_ID"


def check_portal(
    client: Bitrix24Client,
    config: Config,
    mappings: dict[str, Mapping],
    needs: dict[str, list[MethodNeed]],
    out: Checklist,
) -> set[str]:
    """Every Bitrix24 line of the checklist; returns the scopes the webhook has. Refused credentials (on the first
    call) raise AuthError; any other refusal becomes a line, never a traceback."""
    check = PortalCheck(client, config, mappings, needs, out)
    try:
        check.time_zone()
    except AuthError:
        raise
    except ConnectorError as exc:
        out.fix(f"Bitrix24: {exc}")
    for step in (check.granted_scopes, check.rights, check.methods):
        try:
            step()
        except ConnectorError as exc:
            out.fix(f"Bitrix24: {exc}")
    if "crm" not in check.scopes:
        out.fix(f"user fields, pipelines, stages and field names not checked: {check.who} lacks scope 'crm'")
        return check.scopes
    for step in (check.user_fields, check.stages):
        try:
            step()
        except ConnectorError as exc:
            out.fix(f"Bitrix24: {exc}")
    return check.scopes
