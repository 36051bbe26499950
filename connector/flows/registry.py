"""Chooses a flow's source and target from its mapping: the only place that knows which class serves which."""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.clock import BusinessDay
from connector.engine.planned import PlannedTarget
from connector.engine.protocols import Source, Target
from connector.errors import ConfigError
from connector.mapping.schema import Mapping

if TYPE_CHECKING:
    from connector.app import Connector


def build(conn: Connector, spec: Mapping, today: BusinessDay | None = None) -> tuple[Source, Target]:
    """(source, target) for a mapping; both (and the runner) share the run's one business date `today`."""
    today = today or BusinessDay(conn.clock, conn.onec_tz)
    source, target = _build(conn, spec, today)
    if isinstance(target, PlannedTarget) and target.today is None:
        target.today = today  # its own `apply` (outside the runner) sees the run's date too
    return source, target


def _build(conn: Connector, spec: Mapping, today: BusinessDay) -> tuple[Source, Target]:
    from connector.flows.onec_source import OneCSource
    from connector.flows.orders.target import DealWriter

    src, tgt = spec.source, spec.target
    if spec.money is not None:
        return _money(conn, spec, today)
    if spec.rollups is not None:
        return _rollups(conn, spec, today)
    if spec.fans is not None:
        return _fans(conn, spec, today)
    if src.system == "onec" and tgt.system == "bitrix24" and tgt.entity == "smart_invoice":
        from connector.flows.invoices.source import InvoiceSource
        from connector.flows.invoices.target import InvoiceTarget

        return (
            InvoiceSource(
                conn.odata,
                spec,
                conn.config.onec.page_size,
                conn.ledger,
                today,
                conn.installation_id,
            ),
            InvoiceTarget(conn.bitrix24, spec, in_flight=conn.config.sync.in_flight),
        )
    if src.system == "onec":
        source: Source = OneCSource(conn.odata, spec, conn.config.onec.page_size, conn.installation_id)
    elif src.system == "bitrix24" and src.entity == "deal":
        from zoneinfo import ZoneInfo

        from connector.flows.deals_to_orders.source import DealSource

        source = DealSource(
            conn.bitrix24,
            spec,
            ZoneInfo(conn.config.bitrix24.portal_timezone),
            conn.clock,
            ours=conn.installation_id,
            takes=conn.config.installation.takes,
            adopt=conn.config.installation.adopt,
            ledger=conn.ledger,
        )
    else:
        raise ConfigError(f"flow {spec.flow}: reading from {src.system} {src.entity} is not supported yet")
    if tgt.system == "bitrix24" and tgt.entity == "deal":
        target: Target = DealWriter(
            conn.bitrix24, tgt.external_key, conn.config.sync.batch_size, conn.config.sync.in_flight
        )
    elif tgt.system == "bitrix24" and tgt.entity == "company":
        from connector.flows.counterparties.target import CounterpartyWriter

        target = CounterpartyWriter(
            conn.bitrix24,
            tgt.external_key,
            tgt.match,
            conn.config.sync.batch_size,
            conn.config.sync.in_flight,
            owned=[name for name, rule in spec.fields.items() if rule.owner == "onec"],
        )
    elif tgt.system == "bitrix24" and tgt.entity == "user":
        from connector.flows.managers.target import UserMatcher

        target = UserMatcher(conn.bitrix24, spec.table)
    elif tgt.system == "onec":
        from connector.flows.deals_to_orders.target import OneCTarget

        target = OneCTarget(
            conn.odata,
            spec,
            conn.bitrix24,
            conn.soap() if tgt.via == "soap" else None,
            originator=conn.installation_id,
            in_flight=conn.config.sync.in_flight,  # 1C steps too; the OData client's connections bound them
        )
    else:
        raise ConfigError(f"flow {spec.flow}: writing to {tgt.system} {tgt.entity} is not supported yet")
    return source, target


def _money(conn: Connector, spec: Mapping, today: BusinessDay) -> tuple[Source, Target]:
    """Orders with their money facts → the deal the `attach_to` flow made; one business date for the run."""
    from zoneinfo import ZoneInfo

    from connector.flows.money.source import MoneySource
    from connector.flows.money.target import MoneyTarget

    assert spec.money is not None
    source = MoneySource(
        conn.odata,
        spec,
        conn.config.onec.page_size,
        conn.ledger,
        today,
        by_quantity=spec.money.shipped_by == "quantity",
        installation=conn.installation_id,
    )
    portal_tz = ZoneInfo(conn.config.bitrix24.portal_timezone)
    target = MoneyTarget(
        conn.bitrix24, spec, conn.ledger, today, conn.onec_tz, portal_tz, in_flight=conn.config.sync.in_flight
    )
    return source, target


def _rollups(conn: Connector, spec: Mapping, today: BusinessDay) -> tuple[Source, Target]:
    """A client's totals and dormancy from 1C → the company the `attach_to` flow made."""
    from zoneinfo import ZoneInfo

    from connector.flows.rollups.source import RollupSource
    from connector.flows.rollups.target import RollupWriter

    assert spec.rollups is not None
    attach = spec.rollups.attach_to
    source = RollupSource(conn.odata, spec, conn.config.onec.page_size, today)
    target = RollupWriter(
        conn.bitrix24,
        spec.rollups,
        conn.installation_id,
        conn.config.installation.adopt,
        source.facts_of,
        today,
        ZoneInfo(conn.config.bitrix24.portal_timezone),
        # The company the counterparties flow links each client to: a guess that lets prepare ask a due dormancy
        # task in its first round (the stamp found in that round still decides which company it is).
        linked=lambda keys: {k: link.target_id for k, link in conn.ledger.links(attach, keys).items()},
    )
    return source, target


def _fans(conn: Connector, spec: Mapping, today: BusinessDay) -> tuple[Source, Target]:
    """Deals of different dealers for one end customer or project → flagged, linked, one task per group."""
    from zoneinfo import ZoneInfo

    from connector.flows.fans.source import FanSource
    from connector.flows.fans.target import FanWriter

    assert spec.fans is not None
    portal_tz = ZoneInfo(conn.config.bitrix24.portal_timezone)
    source = FanSource(conn.bitrix24, spec, conn.clock, portal_tz)
    target = FanWriter(conn.bitrix24, spec.fans, conn.installation_id, source.facts_of, today, portal_tz)
    return source, target
