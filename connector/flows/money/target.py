"""Money facts onto the deal: fields, stage (never backwards), payments as detail records, reminders, overdue tasks.

The deal is the one the `attach_to` flow (orders) created; this target never creates deals. Payments are detail
records of the order: each 1C receipt row is one Bitrix24 payment, updated in place when re-posted and removed
when un-posted or deleted, always reconciled against the order's full current set of rows (money/payments.py).

Each chunk of orders goes PREPARE (money/context.py: reads only) → RULES (money/rules.py: pure, with the run's
`today`) → APPLY through the one executor (batches of 50, settled per command). An order whose change needs nothing
but its deal's money fields is not read (money/memo.py: the ledger remembers what was written to the deal), so one
changed order costs the flow one request. The target writes nothing to the ledger: each outcome carries the child
links its commands settled (payments, to-do, task), the watch state of its order and the memo of its deal, and the
runner records them in the same commit as the outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, tzinfo

from connector.bitrix24.client import Bitrix24Client
from connector.engine.executor import BatchExecutor
from connector.engine.planned import PlannedTarget
from connector.engine.steps import RecordPlan
from connector.flows.money.context import MoneyReader, Prepared
from connector.flows.money.memo import forget
from connector.flows.money.payments import NativePayments, PaymentRules
from connector.flows.money.plan import Errors, Plan, Results
from connector.flows.money.rules import STAGE, MoneyRules
from connector.ledger import Ledger
from connector.mapping.schema import Mapping
from connector.records import Action, Outcome

CHUNK = 500  # orders prepared together (one page by default: its reads share batches, its writes fill them)


class MoneyTarget(PlannedTarget):
    """Updates deals found through the `attach_to` flow's ledger links; keeps payments and to-dos in step."""

    def __init__(
        self,
        client: Bitrix24Client,
        spec: Mapping,
        ledger: Ledger,
        today: Callable[[], date],
        onec_tz: tzinfo,
        portal_tz: tzinfo,
        in_flight: int = 1,
    ) -> None:
        assert spec.money is not None
        self.client = client
        self.executor = BatchExecutor(
            client
        )  # the one writer: units packed into batches of 50, settled per command
        self.spec = spec
        self.money = spec.money
        self.today = today  # the run's 1C business date (the runner passes the same one to prepare and rules)
        self.chunk = CHUNK
        # A backfill prepares a page while the page before is written: its reads (other orders' deals, their
        # sale orders, to-dos, tasks) do not depend on those writes, and ride in their last batch (engine/page.py).
        self.prepare_ahead = True
        originator = spec.target.external_key.originator_id or "1C"  # stamped from the installation's id
        self.originator = originator
        payments = PaymentRules(spec.flow, originator, onec_tz)
        self.rules_of = MoneyRules(self.money, spec.flow, originator, portal_tz, payments)
        self.reader = MoneyReader(client, ledger, self.rules_of, NativePayments(client), portal_tz)
        self.watch_flow = self.rules_of.watch_flow

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        return self.reader.deals(keys)

    def prepare(self, actions: Sequence[Action], today: date) -> Prepared:
        """PREPARE: what the rules of these (non-skip) actions need, read from the ledger and the portal."""
        deals = self.reader.deals([a.record.key for a in actions])
        written = {k for a in actions for k in a.record.fields if not k.startswith("@") and k != STAGE}
        return self.reader.prepare(actions, deals, written, today)

    def rules(self, actions: Sequence[Action], prepared: Prepared, today: date) -> list[RecordPlan]:
        """RULES (pure): one plan per order; an order whose deal the `attach_to` flow has not made yet gets a plan
        with no steps and its reason."""
        return [
            self.rules_of.plan(a, prepared.orders[a.record.key], prepared.stages, today, n)
            if a.record.key in prepared.orders
            else RecordPlan(a, problems=[self._waiting(a)])
            for n, a in enumerate(actions)
        ]

    def execute(self, plans: Sequence[RecordPlan], prepared: Prepared) -> list[Outcome]:
        """APPLY: every order's commands packed into shared batches, then outcomes with the links they settled."""
        ready = [p for p in plans if isinstance(p, Plan)]
        outcomes = [self._no_deal(p.action) for p in plans if not isinstance(p, Plan)]
        sent = self.executor.run([unit for p in ready if not p.problems for unit in p.units])
        for plan in ready:
            if any(k in sent.unknown for unit in plan.units for k in unit):
                continue  # its batch lost its reply: settled by lookups (deal payments, to-dos) on the recovery
            outcomes.append(self._settle(plan, sent.results, sent.errors))
        if sent.lost is not None:
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    def _waiting(self, action: Action) -> str:
        return (
            f"{action.record.label}: no deal yet (flow {self.money.attach_to} has not synced this order); "
            "retried every cycle"
        )

    def _no_deal(self, action: Action) -> Outcome:
        rec = action.record
        return Outcome(
            rec.key,
            action.kind,
            "failed",
            version=rec.version,
            deferred=True,
            error=self._waiting(action),
            label=rec.label,
            links=(forget(self.spec.flow, rec.key),),  # its deal is read again once it is there
        )

    def _settle(self, plan: Plan, results: Results, errors: Errors) -> Outcome:
        rec = plan.action.record
        problems = list(plan.problems) or [
            f"{name}: {errors[key].get('error_description') or errors[key].get('error')}"
            for key, name in plan.names.items()
            if key in errors
        ]
        links = () if plan.problems else tuple(plan.links(results, errors))  # recorded with the outcome
        if problems:
            return Outcome(
                rec.key,
                plan.action.kind,
                "failed",
                plan.deal_id,
                version=rec.version,
                label=rec.label,
                error=f"{rec.label}: " + "; ".join(problems),
                links=links,
                deferred=plan.quiet,  # written without a read (a deal deleted?): the next cycle reads it
            )
        return Outcome(
            rec.key,
            plan.action.kind,
            "applied",
            plan.deal_id,
            rec.hash,
            rec.version,
            label=rec.label,
            links=links,
        )


__all__ = ["MoneyTarget"]
