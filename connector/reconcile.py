"""Reconciliation: what 1C says about each order (ordered, paid, shipped) against what its Bitrix24 deal shows.

1C is the truth: the figures come from the same FactsReader the money flow writes from. The deal's field names are
read from the loaded mappings (admins may rename them). `compare` is pure; `Reconciler` does the reading, and the
repair, which clears the stored hashes of the drifted orders and runs the orders and money flows for them again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from rich import box
from rich.table import Table

from connector.engine.runner import RunReport
from connector.errors import ConfigError
from connector.flows.money.reminders import WATCHED
from connector.mapping.transforms import rounded
from connector.records import Change, ChildLink, LinkChange, SourceState

if TYPE_CHECKING:
    from connector.app import Connector
    from connector.mapping.schema import Mapping as FlowMapping

CENT = Decimal("0.01")
ORDERED, PAID, SHIPPED = "amount", "paid_amount", "shipped_percent"
# Facts compared, in table order; the money ones are compared only when the money mapping writes them.
FACTS = (ORDERED, PAID, "paid_percent", "balance", SHIPPED)
LABELS = {
    ORDERED: "ordered",
    PAID: "paid",
    "paid_percent": "paid %",
    "balance": "balance",
    SHIPPED: "shipped %",
}
ORDER_AMOUNT = "СуммаДокумента"  # what FactsReader calls the order's amount
NOT_SYNCED, DEAL_MISSING, MONEY_EMPTY, DIFFERS = (
    "not synced",
    "deal missing",
    "money fields empty",
    "figures differ",
)


@dataclass(frozen=True)
class Expected:
    """One 1C order's figures and the deal the ledger links it to."""

    key: str
    number: str
    deal_id: str | None
    figures: dict[str, Decimal]


@dataclass(frozen=True)
class Drift:
    """One order whose deal does not show what 1C says."""

    key: str
    number: str
    deal_id: str | None
    reason: str
    differs: tuple[str, ...]
    onec: dict[str, Decimal]
    bitrix24: dict[str, Decimal | None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: figures as strings, so no kopeck is lost to floats."""
        return {
            "order": self.key,
            "number": self.number,
            "deal_id": self.deal_id,
            "reason": self.reason,
            "differs": [LABELS.get(f, f) for f in self.differs],
            "onec": {LABELS.get(k, k): str(v) for k, v in self.onec.items()},
            "bitrix24": {LABELS.get(k, k): None if v is None else str(v) for k, v in self.bitrix24.items()},
        }


@dataclass
class Result:
    """What one reconciliation found."""

    since: datetime | None
    checked: int = 0
    drifts: list[Drift] = field(default_factory=list)

    def summary(self) -> str:
        """One line: how many orders were checked and why the drifted ones drifted."""
        scope = f" dated from {self.since.date().isoformat()}" if self.since else ""
        if not self.drifts:
            return f"checked {self.checked:,} 1C orders{scope}: no drift, every deal shows what 1C says"
        reasons = Counter(d.reason for d in self.drifts)
        detail = ", ".join(f"{n:,} {r}" for r, n in reasons.most_common())
        return f"checked {self.checked:,} 1C orders{scope}: {len(self.drifts):,} drifted ({detail})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.date().isoformat() if self.since else None,
            "checked": self.checked,
            "drifted": len(self.drifts),
            "drift": [d.as_dict() for d in self.drifts],
        }


def number_of(value: Any) -> Decimal | None:
    """A deal field as a number: legacy crm.deal.* sends strings, money UFs may read "100.00|RUB"; empty is None."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).split("|", 1)[0].strip().replace(",", ".")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def compare(
    expected: Iterable[Expected],
    deals: Mapping[str, Mapping[str, Any]],
    fields: Mapping[str, str],
    tolerance: Decimal = CENT,
) -> list[Drift]:
    """Drift of each order: no linked deal, a deleted deal, empty money fields, or figures apart by more than
    `tolerance`. `fields` maps fact names (amount, paid_amount, ...) to the deal fields that show them."""
    facts = [f for f in FACTS if f in fields]
    money = [f for f in facts if f != ORDERED]
    out: list[Drift] = []
    for order in expected:
        onec = {f: order.figures[f] for f in facts if f in order.figures}
        if order.deal_id is None or order.deal_id not in deals:
            reason = NOT_SYNCED if order.deal_id is None else DEAL_MISSING
            out.append(Drift(order.key, order.number, order.deal_id, reason, (), onec, {}))
            continue
        deal = deals[order.deal_id]
        shown = {f: number_of(deal.get(fields[f])) for f in facts}
        differs = tuple(
            f for f, mine in onec.items() if (theirs := shown[f]) is None or abs(theirs - mine) > tolerance
        )
        if not differs:
            continue
        empty = bool(money) and all(shown[f] is None for f in money)
        out.append(
            Drift(
                order.key,
                order.number,
                order.deal_id,
                MONEY_EMPTY if empty else DIFFERS,
                differs,
                onec,
                shown,
            )
        )
    return out


def _cell(drift: Drift, fact: str) -> str:
    """The 1C figure alone when the deal agrees (or is absent), "1C ≠ Bitrix24" when it does not."""
    mine = drift.onec.get(fact)
    if mine is None:
        return ""
    if fact not in drift.differs:
        return f"{mine:.2f}"
    theirs = drift.bitrix24.get(fact)
    return f"{mine:.2f} ≠ {'—' if theirs is None else f'{theirs:.2f}'}"


def drift_table(drifts: list[Drift]) -> Table:
    """One row per drifted order: ordered, paid and shipped (1C ≠ Bitrix24 where they differ), and why."""
    table = Table(
        title="drift (1C ≠ Bitrix24)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title_justify="left",
    )
    table.add_column("1C order", no_wrap=True)
    table.add_column("deal", justify="right", no_wrap=True)
    for fact in (ORDERED, PAID, SHIPPED):
        table.add_column(LABELS[fact], justify="right", no_wrap=True)
    table.add_column("drift")
    for d in drifts:
        what = d.reason if d.reason != DIFFERS else ", ".join(LABELS.get(f, f) for f in d.differs)
        table.add_row(
            d.number or d.key, d.deal_id or "—", *(_cell(d, f) for f in (ORDERED, PAID, SHIPPED)), what
        )
    return table


class Reconciler:
    """Reads 1C orders with their facts and their deals, page by page; repairs drifted orders through the flows."""

    def __init__(self, conn: Connector) -> None:
        from connector.flows.money.source import MoneySource

        self.conn = conn
        active = set(conn.config.flows)  # the mappings folder may hold flows this installation does not run
        money = [s for s in conn.mappings.values() if s.money is not None and s.flow in active]
        if not money:
            raise ConfigError(
                "reconcile compares 1C money facts with deals: add the money flow to config.flows "
                "(mappings/money.yaml)"
            )
        self.spec = money[0]
        assert self.spec.money is not None
        self.attach_to = self.spec.money.attach_to
        if self.attach_to not in active or self.attach_to not in conn.mappings:
            raise ConfigError(
                f"flow {self.spec.flow} attaches to flow '{self.attach_to}', which config.flows does "
                "not run: reconcile needs both"
            )
        source = conn.runner(self.spec.flow).source
        if not isinstance(source, MoneySource):  # pragma: no cover - the registry builds money flows this way
            raise ConfigError(f"flow {self.spec.flow} does not read 1C orders with money facts")
        self.orders = source.orders
        self.facts = source.facts
        self.fields = deal_fields(conn.mappings[self.attach_to], self.spec)
        # A figure the mapping writes rounded (whole paid %) is compared as written, not as a drift of 0.6 %.
        self.rounding = {
            str(rule.source): (rule.round, rule.rounding)
            for rule in self.spec.fields.values()
            if rule.source in FACTS and rule.round is not None and self.fields.get(rule.source) is not None
        }

    def scan(self, since: datetime | None) -> Result:
        """Every posted 1C order (dated from `since`) against its deal."""
        result = Result(since)
        start = since or datetime(1900, 1, 1)  # no --since: every order 1C has
        if start.tzinfo is None:
            start = start.replace(tzinfo=self.conn.onec_tz)
        for page in self.orders.pages(start, None, None):
            result.checked += len(page.records)
            result.drifts.extend(self._compare(page.records))
        return result

    def check(self, keys: list[str]) -> Result:
        """The named orders again (after a repair); orders no longer posted in 1C drop out."""
        result = Result(None)
        for i in range(0, len(keys), self.orders.page_size):
            records = self.orders.fetch(keys[i : i + self.orders.page_size])
            result.checked += len(records)
            result.drifts.extend(self._compare(records))
        return result

    def _compare(self, records: list[dict[str, Any]]) -> list[Drift]:
        if not records:
            return []
        today = self.conn.clock.now().astimezone(self.conn.onec_tz).date()
        facts = self.facts.compute(records, today)
        keys = [str(r["Ref_Key"]) for r in records]
        links = self.conn.ledger.links(self.attach_to, keys)
        deals = self._deals(sorted({link.target_id for link in links.values()}))
        expected = [
            Expected(
                k,
                str(r.get("Number") or "").strip(),
                links[k].target_id if k in links else None,
                {f: self._figure(f, facts[k][f]) for f in FACTS if f in self.fields},
            )
            for k, r in zip(keys, records, strict=True)
        ]
        return compare(expected, deals, self.fields)

    def _figure(self, fact: str, value: Any) -> Decimal:
        if fact in self.rounding:
            places, mode = self.rounding[fact]
            return Decimal(rounded(value, places, mode))
        return Decimal(str(value))

    def _deals(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The deals' compared fields, up to 2,500 per request (one batch of chained keyset pages)."""
        found: dict[str, dict[str, Any]] = {}
        select = ["ID", *self.fields.values()]
        for i in range(0, len(ids), 2500):
            part = ids[i : i + 2500]
            chain = min(50, len(part) // 50 + 1)  # no more sub-lists than the ids can fill: smaller requests
            for rows in self.conn.bitrix24.list_fast("crm.deal.list", {"@ID": part}, select, chain=chain):
                found.update((str(row["ID"]), row) for row in rows)
        return found

    def repair(self, drifts: list[Drift]) -> list[RunReport]:
        """Re-sync the drifted orders: forget links to deleted deals, clear stored hashes so nothing is skipped,
        then run the orders flow and the money flow for exactly these orders."""
        from connector.flows.money.target import MoneyTarget

        keys = [d.key for d in drifts]
        if not keys:
            return []
        ledger = self.conn.ledger
        money_runner = self.conn.runner(self.spec.flow)
        gone = [d.key for d in drifts if d.reason == DEAL_MISSING]
        changes: list[Change] = []
        if gone:  # the deal was deleted in Bitrix24: a new one is created, with new payments and to-dos
            changes += [LinkChange(flow, k, None) for flow in (self.attach_to, self.spec.flow) for k in gone]
            changes += [
                ChildLink(self.spec.flow, c.parent, c.kind, c.key, None)
                for children in ledger.child_links(self.spec.flow, gone).values()
                for c in children
            ]
            target = money_runner.target
            if isinstance(target, MoneyTarget):
                changes += [SourceState(target.watch_flow, WATCHED, k, drop=True) for k in gone]
        for flow in (self.attach_to, self.spec.flow):
            # The planner skips content equal to the stored hash; the deal changed behind our back, so forget it.
            stale = ledger.links(flow, keys)
            changes += [
                LinkChange(flow, k, link.target_id, version=link.source_version)
                for k, link in stale.items()
                if k not in gone
            ]
        ledger.commit(self.spec.flow, None, [], links=changes)  # the repair's ledger changes: one transaction
        reports = []
        for flow in (self.attach_to, self.spec.flow):
            runner = money_runner if flow == self.spec.flow else self.conn.runner(flow)
            report = RunReport(flow, "repair")
            run_id = ledger.start_run(flow, "repair")
            status = "failed"
            try:
                runner._process_keys(keys, report, run_id, False)  # one run over exactly these keys
                status = "ok"
            finally:
                ledger.finish_run(run_id, status, report.as_dict())
            reports.append(report)
        return reports


def remember(conn: Connector, flow: str, result: Result, left: list[Drift] | None) -> dict[str, Any]:
    """Keep the last reconcile's result for `status` and the status page: when, orders checked, drift found (by
    reason) and, after --repair, how many were repaired. One ledger commit, under the name `<flow>:reconcile`
    among the cursors; it reads nothing back, so a check next to the daemon writes only this."""
    value: dict[str, Any] = {
        "at": conn.clock.now().isoformat(timespec="seconds"),
        "since": result.since.date().isoformat() if result.since else None,
        "checked": result.checked,
        "drifted": len(result.drifts),
        "reasons": dict(Counter(d.reason for d in result.drifts).most_common()),
        "repaired": None if left is None else len(result.drifts) - len(left),
    }
    conn.ledger.commit(flow, None, [], cursor=(f"{flow}:reconcile", value))
    return value


def deal_fields(orders: FlowMapping, money: FlowMapping) -> dict[str, str]:
    """Fact name → the deal field that shows it, as the loaded mappings name them."""
    fields: dict[str, str] = {}
    for target, rule in orders.fields.items():
        if rule.source == ORDER_AMOUNT:
            fields[ORDERED] = target
            break
    else:
        fields[ORDERED] = "OPPORTUNITY"
    for target, rule in money.fields.items():
        if rule.source in FACTS and rule.source != ORDERED:
            fields.setdefault(rule.source, target)
    return fields
