"""The mappings' field names checked against 1C's $metadata and Bitrix24's crm.*.fields (part of `b24-1c verify`)."""

from __future__ import annotations

import difflib
from typing import Protocol

from connector.bitrix24.client import Bitrix24Client
from connector.config import Config
from connector.errors import ConfigError
from connector.mapping.crosscheck import INVOICE_FACTS
from connector.mapping.engine import FACT_NAMES
from connector.mapping.fans import FAN_FACTS
from connector.mapping.rollups import ROLLUP_FACTS
from connector.mapping.schema import FieldRule, Mapping
from connector.onec.odata import ODataClient


class Systems(Protocol):
    """What the names check reads: the config, the loaded mappings and a client of each system."""

    @property
    def config(self) -> Config: ...
    @property
    def mappings(self) -> dict[str, Mapping]: ...
    @property
    def bitrix24(self) -> Bitrix24Client: ...
    @property
    def odata(self) -> ODataClient: ...


FACTS = {*FACT_NAMES, "payments", "Number"}
RESERVED_TARGETS = {"KIND", "PRESET_ID", "PHONE", "EMAIL", "STAGE_ID"}  # handled by the targets themselves


def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=2)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _sources(rules: dict[str, FieldRule]) -> list[tuple[str, str]]:
    return [(target, name) for target, rule in rules.items() for name in rule.source_names()]


class OnlineCheck:
    """Collects every naming problem of the configured flows (one $metadata fetch, one *.fields call each)."""

    def __init__(self, conn: Systems) -> None:
        self.conn = conn
        self._crm: dict[str, set[str]] = {}

    def crm_fields(self, entity: str) -> set[str]:
        if entity not in self._crm:
            reply = self.conn.bitrix24.call(f"crm.{entity}.fields", {})
            self._crm[entity] = set(reply.result or {})
        return self._crm[entity]

    def problems(self) -> list[str]:
        out: list[str] = []
        for flow in self.conn.config.flows:
            spec = self.conn.mappings[flow]
            where = f"{self.conn.config.mappings_path / (flow + '.yaml')}"
            try:
                out += self._mapping(spec, where)
            except ConfigError as exc:
                out.append(f"{where}: {exc.message}")
        return out

    def _onec(self, entity: str, where: str, key: str) -> tuple[set[str], dict[str, set[str]]] | str:
        meta = self.conn.odata.metadata
        if entity not in meta.entities:
            return f"{where}: {key}: 1C does not publish {entity}{_hint(entity, set(meta.entities))}"
        info = meta.entities[entity]
        return set(info.properties), {t: set(cols) for t, cols in info.tables.items()}

    def _mapping(self, spec: Mapping, where: str) -> list[str]:
        out: list[str] = []
        src, tgt = spec.source, spec.target
        if src.system == "onec":
            found = self._onec(src.entity, where, "source.entity")
            if isinstance(found, str):
                return [found]
            props, tables = found
            known = props | set(tables) | (FACTS if spec.money else set())
            known |= set(ROLLUP_FACTS) if spec.rollups else set()
            known |= set(INVOICE_FACTS) if tgt.entity == "smart_invoice" else set()  # its order's facts
            for name in [*src.filter, src.key, *([src.date_field] if src.date_field else [])]:
                if name not in known:
                    out.append(
                        f"{where}: source: 1C {src.entity} has no property '{name}'{_hint(name, known)}"
                    )
            for target, name in _sources(spec.fields):
                if name not in known:
                    out.append(
                        f"{where}: fields.{target}: 1C {src.entity} has no property '{name}'"
                        f"{_hint(name, known)}"
                    )
            contract = spec.money.contract if spec.money is not None else None
            if contract is not None and contract.source not in props:
                out.append(
                    f"{where}: money.contract.source: 1C {src.entity} has no property '{contract.source}'"
                    f"{_hint(contract.source, props)}"
                )
            if spec.rows is not None:
                cols = tables.get(spec.rows.source)
                if cols is None:
                    out.append(
                        f"{where}: rows.source: 1C {src.entity} has no tabular section "
                        f"'{spec.rows.source}'{_hint(spec.rows.source, set(tables))}"
                    )
                else:
                    for target, name in _sources(spec.rows.fields):
                        if name not in cols:
                            out.append(
                                f"{where}: rows.fields.{target}: {src.entity}.{spec.rows.source} has no "
                                f"column '{name}'{_hint(name, cols)}"
                            )
            for table_name, table in spec.lookups.items():
                found = self._onec(table.entity, where, f"lookups.{table_name}.entity")
                if isinstance(found, str):
                    out.append(found)
                    continue
                for name in [table.key, *table.fields]:
                    if name not in found[0]:
                        out.append(
                            f"{where}: lookups.{table_name}: 1C {table.entity} has no property '{name}'"
                            f"{_hint(name, found[0])}"
                        )
        elif src.entity in ("deal", "company", "contact"):
            known = self.crm_fields(src.entity) | {"PRODUCT_ROWS", "ID"}
            known |= set(FAN_FACTS) if spec.fans else set()
            for target, name in _sources(spec.fields):
                if name not in known:
                    hint = "; run `b24-1c setup`" if name.startswith("UF_") else _hint(name, known)
                    out.append(f"{where}: fields.{target}: Bitrix24 {src.entity} has no field '{name}'{hint}")
        if tgt.system == "bitrix24" and tgt.entity in ("deal", "company"):
            known = self.crm_fields(tgt.entity)
            for target in spec.fields:
                if target in RESERVED_TARGETS or target.startswith(("RQ_", "PHONE_", "EMAIL_")):
                    continue
                if target not in known:
                    hint = "; run `b24-1c setup`" if target.startswith("UF_") else _hint(target, known)
                    out.append(
                        f"{where}: fields.{target}: Bitrix24 {tgt.entity} has no field '{target}'{hint}"
                    )
        elif tgt.system == "onec":
            found = self._onec(tgt.entity, where, "target.entity")
            if isinstance(found, str):
                return [*out, found]
            props, tables = found
            for target in [*spec.fields, tgt.onec_key.field]:
                if target not in props:
                    out.append(
                        f"{where}: fields.{target}: 1C {tgt.entity} has no property '{target}'"
                        f"{_hint(target, props)}"
                    )
            if spec.rows is not None and spec.rows.target not in tables:
                out.append(
                    f"{where}: rows.target: 1C {tgt.entity} has no tabular section '{spec.rows.target}'"
                )
        return out


def check_online(conn: Systems) -> list[str]:
    """Every naming problem at once; an empty list when all names exist on both systems."""
    return OnlineCheck(conn).problems()


__all__ = ["OnlineCheck", "Systems", "check_online"]
