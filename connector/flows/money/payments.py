"""Native deal payments, one per 1C receipt row, written as a real portal accepts them.

`crm.item.payment.add` takes only the owner and makes an empty payment (unpaid, for 0); `crm.item.payment.update`
changes only the paid flag and the pay system. Sum, dates, the 1C number and our external key (`xmlId`) are set
with `sale.payment.update` (scope `sale`, administrators), and the sale module refuses to change the sum of a paid
payment, so a re-posted 1C payment with a new sum goes unpay → update → pay. A create is two steps (add, then the
update that stamps the key), so before creating we list the deal's payments: one with our `xmlId` is ours (a lost
ledger, a lost reply), and an empty one without it is what an interrupted create left behind and is adopted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.flows.money.plan import Errors, Plan, Results
from connector.flows.money.reads import Answers, Command, chunks, reason, run_reads
from connector.ledger import Child
from connector.records import Change, ChildLink, content_hash

SELECT = ["id", "orderId", "xmlId", "sum", "paid", "datePaid", "id1c", "payVoucherNum"]
KINDS = {"bank": "платёжный документ", "cash": "приходный кассовый ордер"}
CENT = 0.005
PAYMENT = "payment"  # the child link kind of a payment, keyed by its 1C row


@dataclass
class Portal:
    """What the portal holds for one order's deal, read before planning."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)  # payment id → sale.payment.list row
    unknown: list[str] = field(default_factory=list)  # the deal's payments the ledger does not link
    problem: str | None = None


@dataclass
class Need:
    """One order's payments: the wanted 1C rows, the ledger's child links, and which rows must be written."""

    order: str
    deal_id: str
    wanted: dict[str, dict[str, Any]]
    have: dict[str, Child]

    @property
    def changed(self) -> list[str]:
        return sorted(
            k for k, p in self.wanted.items() if k not in self.have or self.have[k].state != content_hash(p)
        )

    @property
    def gone(self) -> list[str]:
        return sorted(k for k in self.have if k not in self.wanted)


def sale_fields(p: dict[str, Any], xml_id: str, tz: tzinfo) -> tuple[dict[str, Any], str]:
    """(fields for sale.payment.update except the paid flag, the payment's date) of one 1C row.

    1C dates are naive server-local times: they are placed in the 1C server's zone, never the portal's."""
    paid_at = datetime.fromisoformat(str(p["date"])[:19]).replace(tzinfo=tz)
    fields = {
        "sum": float(p["amount"]),
        "xmlId": xml_id,
        "id1c": str(p["document"]),
        "payVoucherNum": str(p["number"]),
        "payVoucherDate": paid_at.isoformat(),
        "comments": f"1С: {KINDS.get(str(p.get('kind')), 'документ')} № {p['number']} от {paid_at:%d.%m.%Y}",
        "updated1c": "Y",
    }
    return fields, paid_at.isoformat()


class PaymentRules:
    """Plans each order's payment commands from what `NativePayments.prepare` read, and the child links they
    settle. Pure: no I/O."""

    def __init__(self, flow: str, originator: str, onec_tz: tzinfo) -> None:
        self.flow = flow
        self.prefix = f"{originator}:"
        self.tz = onec_tz

    def xml_id(self, key: str) -> str:
        """Our external key of a 1C payment row, with the installation's originator."""
        return f"{self.prefix}{key}"

    # -- rules --------------------------------------------------------------------------------------------------

    def plan(self, plan: Plan, need: Need, portal: Portal | None) -> None:
        """Commands for one order: create, correct in place (unpay → update → pay when a paid sum changes), adopt,
        remove; and the links each settles."""
        if not need.changed and not need.gone:
            return
        portal = portal or Portal()
        if portal.problem:
            plan.problems.append(f"payments: {portal.problem}")
            return
        ours = {
            str(portal.rows[i].get("xmlId")): i
            for i in portal.unknown
            if i in portal.rows and str(portal.rows[i].get("xmlId") or "").startswith(self.prefix)
        }
        orphans = [
            i
            for i in portal.unknown
            if i in portal.rows
            and not str(portal.rows[i].get("xmlId") or "").startswith(self.prefix)
            and portal.rows[i].get("paid") != "Y"
            and abs(float(portal.rows[i].get("sum") or 0)) < CENT
        ]
        for key in need.changed:
            p = need.wanted[key]
            xml = self.xml_id(key)
            link = need.have.get(key)
            target: str | None = None
            if link is not None and link.target_id in portal.rows:
                target = link.target_id
            elif xml in ours:
                target = ours.pop(xml)
            elif orphans:
                target = orphans.pop(0)  # left by an interrupted create: adopted, never twinned
            self._write(plan, need.order, key, p, target, portal.rows.get(target or ""))
        for key in need.gone:
            self._remove(plan, need.have[key].target_id, need.order, key)
        for xml, pid in ours.items():  # ours on the deal, unknown to the ledger, no longer in 1C
            if xml[len(self.prefix) :] not in need.wanted:
                self._remove(plan, pid, need.order, None)

    def _write(
        self,
        plan: Plan,
        order: str,
        key: str,
        p: dict[str, Any],
        target: str | None,
        row: dict[str, Any] | None,
    ) -> None:
        fields, paid_at = sale_fields(p, self.xml_id(key), self.tz)
        name = f"payment {p['number']}"
        unit: dict[str, tuple[str, dict[str, Any]]] = {}
        add = None
        if target is None:
            add = plan.cmd("pa")
            unit[add] = ("crm.item.payment.add", {"entityTypeId": 2, "entityId": int(plan.deal_id)})
            ref: Any = f"$result[{add}]"
            paid, same_sum = False, False
        else:
            ref = int(target)
            paid = row is not None and row.get("paid") == "Y"
            same_sum = row is not None and abs(float(row.get("sum") or 0) - fields["sum"]) < CENT
            if row is not None and _holds(row, fields, paid_at):  # e.g. found after a lost ledger: link only
                digest = content_hash(p)
                plan.after.append(lambda results, errors: [self.link(order, key, str(target), digest)])
                return
        if paid and not same_sum:  # the sale module refuses to change a paid sum: unpay, update, pay
            unit[plan.cmd("pn")] = ("crm.item.payment.unpay", {"id": ref})
            paid = False
        if paid:
            unit[plan.cmd("pu")] = (
                "sale.payment.update",
                {"id": ref, "fields": {**fields, "datePaid": paid_at}},
            )
        else:
            unit[plan.cmd("pu")] = ("sale.payment.update", {"id": ref, "fields": fields})
            unit[plan.cmd("pp")] = (
                "sale.payment.update",
                {"id": ref, "fields": {"paid": "Y", "datePaid": paid_at}},
            )
        plan.add(unit, name)
        digest = content_hash(p)

        def record(results: Results, errors: Errors) -> list[Change]:
            if add is not None and add not in results:
                return []  # nothing was created
            pid = str(_id_of(results[add])) if add is not None else str(target)
            done = all(k in results and k not in errors for k in unit)
            return [self.link(order, key, pid, digest if done else None)]

        plan.after.append(record)

    def link(self, order: str, key: str, target: str | None, digest: str | None = None) -> ChildLink:
        """The child link of one payment (target None: dropped); `digest` None makes the next run write it again."""
        return ChildLink(self.flow, order, PAYMENT, key, target, digest)

    def _remove(self, plan: Plan, pid: str, order: str, key: str | None) -> None:
        """Unpaid first (a paid payment is not deleted), then deleted; the link goes with it."""
        delete = plan.cmd("pd")
        plan.add(
            {
                plan.cmd("pn"): ("crm.item.payment.unpay", {"id": int(pid)}),
                delete: ("crm.item.payment.delete", {"id": int(pid)}),
            },
            "payment removal",
        )
        if key is not None:
            plan.after.append(
                lambda results, errors: (
                    [self.link(order, key, None)] if delete in results and delete not in errors else []
                )
            )


class NativePayments:
    """Reads what the deals hold before the rules plan: the deals' payments, ours by xmlId or not, paid, sums."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    def reads(self, needs: Iterable[Need]) -> PaymentReads:
        """The reads of these orders' payments, for the caller to send with its other reads."""
        return PaymentReads(self.client, needs)

    def prepare(self, needs: Iterable[Need]) -> dict[str, Portal]:
        """The portal's payments of these orders' deals, both rounds sent on their own."""
        reads = self.reads(needs)
        return reads.portals(run_reads(self.client, reads.payments(run_reads(self.client, reads.commands()))))


class PaymentReads:
    """The payments of the deals whose payments change, listed in two rounds of shared read batches.

    A deal's payments are the payments of the sale orders bound to it: `crm.orderentity.list` names the orders of
    50 deals in one command, `sale.payment.list` (`=orderId`, which the docs allow with an array) lists every
    payment of 25 orders in one command, with the fields the rules compare (ours by xmlId? paid? which sum?). A
    deal no order is bound to has no payment: nothing more is read for it (a fresh backfill reads one command per
    50 deals). Listing even when every changed row is linked: a linked payment deleted on the portal is created
    again, and a create interrupted between its two steps (an empty payment without our xmlId) must be found by
    the next run, whatever the ledger remembers."""

    def __init__(self, client: Bitrix24Client, needs: Iterable[Need]) -> None:
        self.client = client
        needs = [n for n in needs if n.changed or n.gone]
        self.state = {n.order: Portal() for n in needs}
        self.listing = {n.order: n for n in needs if n.changed}
        self.by_deal: dict[str, list[str]] = {}
        for n in self.listing.values():
            self.by_deal.setdefault(str(n.deal_id), []).append(n.order)
        deals = sorted(self.by_deal, key=int)
        self.bound: dict[str, list[str]] = {
            f"ob{i}": part for i, part in enumerate(chunks(deals, DEALS_PER_READ))
        }
        self.orders: dict[str, list[int]] = {}  # command → the sale orders it lists payments of
        self.deal_of: dict[int, str] = {}  # sale order → deal

    def commands(self) -> dict[str, Command]:
        """Round 1: the sale orders bound to the deals."""
        return {name: ("crm.orderentity.list", _bound_params(deals)) for name, deals in self.bound.items()}

    def payments(self, answers: Answers) -> dict[str, Command]:
        """Round 2, from round 1's answers: every payment of the orders found."""
        for name, deals in self.bound.items():
            if name in answers.errors:
                self._fail(deals, f"the deal's payments could not be listed: {reason(answers.errors[name])}")
                continue
            rows = _rows(answers.results.get(name), "orderEntity")
            if name in answers.more:  # more orders than one page: the rest, page by page
                rows = self.client.list_all("crm.orderentity.list", _bound_params(deals), key="orderEntity")
            for row in rows:
                if str(row.get("ownerId")) in self.by_deal:
                    self.deal_of[int(row["orderId"])] = str(row["ownerId"])
        orders = sorted(self.deal_of)
        self.orders = {f"sp{i}": part for i, part in enumerate(chunks(orders, ORDERS_PER_READ))}
        return {name: ("sale.payment.list", _payment_params(part)) for name, part in self.orders.items()}

    def portals(self, answers: Answers) -> dict[str, Portal]:
        """What each order's deal holds, from round 2's answers."""
        for name, part in self.orders.items():
            deals = sorted({self.deal_of[o] for o in part}, key=int)
            if name in answers.errors:
                self._fail(deals, f"the deal's payments could not be read: {reason(answers.errors[name])}")
                continue
            rows = _rows(answers.results.get(name), "payments")
            if name in answers.more:
                rows = self.client.list_all("sale.payment.list", _payment_params(part), key="payments")
            for row in rows:
                deal = self.deal_of.get(int(row.get("orderId") or 0))
                for order in self.by_deal.get(deal or "", []):
                    pid = str(row.get("id"))
                    known = {link.target_id for link in self.listing[order].have.values()}
                    self.state[order].rows[pid] = row
                    if pid not in known:
                        self.state[order].unknown.append(pid)
        return self.state

    def _fail(self, deals: Iterable[str], problem: str) -> None:
        for deal in deals:
            for order in self.by_deal.get(deal, []):
                self.state[order].problem = problem


DEALS_PER_READ = 50  # deals per crm.orderentity.list: one order each, so one page of 50 holds them
ORDERS_PER_READ = 25  # orders per sale.payment.list: a page of 50 holds two payments each


def _bound_params(deals: list[str]) -> dict[str, Any]:
    return {
        "select": ["orderId", "ownerId"],
        "filter": {"=ownerTypeId": 2, "@ownerId": [int(d) for d in deals]},
        "order": {"ownerId": "asc", "orderId": "asc"},
    }


def _payment_params(orders: list[int]) -> dict[str, Any]:
    return {"select": SELECT, "filter": {"=orderId": orders}, "order": {"id": "asc"}}


def _rows(value: Any, key: str) -> list[dict[str, Any]]:
    rows = value.get(key, []) if isinstance(value, dict) else value
    return [r for r in rows or [] if isinstance(r, dict)]


def _holds(row: dict[str, Any], fields: dict[str, Any], paid_at: str) -> bool:
    """The portal's payment already shows this 1C row: ours, paid at its date, its sum and number."""
    try:
        same_date = datetime.fromisoformat(str(row.get("datePaid"))) == datetime.fromisoformat(paid_at)
    except ValueError:
        return False
    return (
        row.get("paid") == "Y"
        and same_date
        and str(row.get("xmlId")) == fields["xmlId"]
        and abs(float(row.get("sum") or 0) - fields["sum"]) < CENT
        and str(row.get("id1c") or "") == fields["id1c"]
        and str(row.get("payVoucherNum") or "") == fields["payVoucherNum"]
    )


def _id_of(created: Any) -> Any:
    return created.get("item", {}).get("id") if isinstance(created, dict) else created
