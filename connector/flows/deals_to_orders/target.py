"""1C as a flow target: documents created and updated through OData (or the extension's SOAP service), posted when
asked, stamped with our idempotency key (e.g. НомерПоДаннымКлиента = B24-123) so a lost reply never makes a twin,
and the number and key written back to the deal.

A page goes prepare (reads: prepare.py) → rules (pure: rules.py) → execute (connector/engine/chain.py): every
record's chain runs in rounds across both systems, 1C steps one request each, the write-backs of the whole page in
`batch` requests of up to 50, and each step whose reply was lost is settled here by a lookup on the objects.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.compare import changed_fields
from connector.crashpoints import crash_point
from connector.engine.chain import Chain, ChainExecutor, Lost, Verdict, outcomes
from connector.engine.executor import BatchExecutor, Command
from connector.engine.planned import PlannedTarget
from connector.engine.steps import RecordPlan, Step
from connector.errors import RecordError, RemoteRejected, TransientWriteError
from connector.flows.deals_to_orders import rules
from connector.flows.deals_to_orders.client import ClientMaker
from connector.flows.deals_to_orders.prepare import (
    Prepared,
    References,
    new_client,
    prepare,
    read_deal_stamps,
    read_orders,
)
from connector.mapping.client import client_spec
from connector.mapping.schema import Mapping
from connector.onec.odata import ODataClient
from connector.onec.query import F
from connector.records import Action, Outcome


class OneCTarget(PlannedTarget):
    """Writes one 1C object per request (OData has no batch), posts documents, writes back to the deals;
    `apply` (PlannedTarget) is prepare → rules → execute."""

    def __init__(
        self,
        client: ODataClient,
        spec: Mapping,
        bitrix24: Bitrix24Client | None = None,
        soap: Any = None,
        originator: str | None = None,
        in_flight: int = 1,
    ) -> None:
        self.client = client
        self.soap = soap  # a SoapClient for target.via: soap (CreateOrder / UpdateOrder of CrmExchange)
        self.spec = spec
        self.bitrix24 = bitrix24
        self.entity = spec.target.entity
        self.key = spec.target.onec_key
        self.f = F(client.tz)
        self.originator = originator  # our installation id, stamped on the deal by the write-back
        self.references = References(client, spec)
        self.options = rules.Options.of(spec, soap is not None, bitrix24 is not None, originator)
        self._clients: ClientMaker | None = None
        # One client at a time: two deals of one new company in the same round (in_flight > 1) must not both miss
        # the lookup and make two counterparties; the second finds the first's in ClientMaker's memory.
        self._client_lock = threading.Lock()
        batches = BatchExecutor(bitrix24, in_flight) if bitrix24 is not None else None
        self.executor = ChainExecutor(self, batches, in_flight)

    def defaults(self) -> dict[str, Any]:
        return self.references.defaults()

    # -- prepare → rules → execute (connector/engine/steps.py) --------------------------------------------------

    def prepare(self, actions: Sequence[Action], today: date) -> Prepared:
        """Reads only: the linked orders, our orders' deals, every record's 1C body (a new client left to make)."""
        return prepare(self.references, self.bitrix24, actions)

    def rules(self, actions: Sequence[Action], prepared: Prepared, today: date) -> list[RecordPlan]:
        return [rules.plan_record(self.spec, self.options, a, prepared) for a in actions if a.kind != "skip"]

    def execute(self, plans: Sequence[RecordPlan], prepared: Prepared) -> list[Outcome]:
        states = {
            p.key: {
                "body": dict(prepared.bodies.get(p.key, {})),
                "order": dict(prepared.orders.get(str(p.action.target_id), {})),
                "target_id": p.action.target_id,
            }
            for p in plans
        }
        return outcomes(self.executor.run(plans, states))

    # -- the steps (chain.StepRunner) ---------------------------------------------------------------------------

    def run_onec(self, chain: Chain, step: Step) -> bool:
        state, key = chain.state, chain.plan.key
        body: dict[str, Any] = state["body"]
        if step.name == rules.CLIENT:
            name, wanted = new_client(body) or ("", {})
            body[name] = self._client(wanted)
            self.references.derive(body)
            return True
        if step.name in (rules.CREATE, rules.SOAP_CREATE):
            if step.name == rules.SOAP_CREATE:
                created = self._soap_write(chain.plan.action, body)
            else:
                created = self.client.create(self.entity, body)
            state["order"], state["target_id"] = dict(created), str(created["Ref_Key"])
            return True
        target_id = str(state["target_id"])
        if step.name in (rules.UPDATE, rules.SOAP_UPDATE):
            wanted = changed_fields(state["order"], {k: body[k] for k in step.fields if k in body})
            if not wanted:
                return False
            if step.name == rules.SOAP_UPDATE:
                state["order"].update(self._soap_write(chain.plan.action, wanted))
            else:
                self.client.update(self.entity, target_id, wanted)
                state["order"].update(wanted)
            return True
        if step.name == rules.POST:
            crash_point("posting")
            try:
                self.client.post_document(self.entity, target_id)
            except TransientWriteError:
                raise  # settled by reading the order
            except RemoteRejected as exc:
                raise RecordError(f"1C refused to post the order: {exc.message}") from None
            state["order"]["Posted"] = True
            return True
        if step.name == rules.NUMBER:
            if not self._unknown(state["order"]):
                return False  # the create's reply carried it
            state["order"].update(read_orders(self.client, self.spec, [target_id]).get(target_id, {}))
            return False
        raise AssertionError(f"unknown 1C step {step.name!r} of {key}")

    def _unknown(self, order: dict[str, Any]) -> list[str]:
        """Write-back properties the order's state does not hold yet."""
        wanted = [p for p in self.spec.target.write_back.values() if isinstance(p, str)]
        return [p for p in ["Number", *wanted] if p not in order]

    def command(self, chain: Chain, step: Step) -> Command | None:
        """The write-back: tell the deal what 1C made of it (number, reference) and stamp it with our identity, so
        the 1C → Bitrix24 flow finds it by key and the Bitrix24 → 1C flow never makes a second order of it."""
        order = chain.state["order"]
        fields = {
            uf: prop.const if not isinstance(prop, str) else order.get(prop)
            for uf, prop in self.spec.target.write_back.items()
            if not isinstance(prop, str) or prop in order
        }
        if self.originator:
            fields.update({"ORIGINATOR_ID": self.originator, "ORIGIN_ID": str(chain.state["target_id"])})
        if not fields:
            return None
        crash_point("write-back")
        return ("crm.deal.update", {"id": chain.plan.key, "fields": fields})

    def took(self, chain: Chain, step: Step, result: Any) -> None:
        """A write-back's answer is `true`; nothing to learn from it."""

    def settle(self, lost: Sequence[Lost]) -> list[Verdict]:
        """Each step whose reply was lost, looked up on the objects: one read per kind of step for the page."""
        verdicts: dict[int, Verdict] = {}
        by_step: dict[str, list[tuple[int, Lost]]] = {}
        for n, item in enumerate(lost):
            by_step.setdefault(item.step.name, []).append((n, item))
        for name, items in by_step.items():
            if name in (rules.CLIENT, rules.SOAP_CREATE):
                # ClientMaker looks up by ИНН or marker before it makes anything; the service returns the same
                # order for the same idempotency key: asking again is the lookup.
                verdicts.update({n: "resend" for n, _ in items})
            elif name == rules.CREATE:
                found = self.find(x.chain.plan.key for _, x in items)
                for n, x in items:
                    ref = found.get(x.chain.plan.key)
                    if ref is not None:
                        x.chain.state["target_id"], x.chain.state["order"] = ref, {"Ref_Key": ref}
                    verdicts[n] = "done" if ref is not None else "resend"
            elif name == rules.WRITE_BACK:
                deals = read_deal_stamps(self.bitrix24, self.spec, [x.chain.plan.key for _, x in items])
                for n, x in items:
                    deal = deals.get(x.chain.plan.key, {})
                    done = rules.stamped(deal, str(x.chain.state["target_id"]))
                    verdicts[n] = "done" if done else "resend"  # an update: sending it again is harmless
            else:  # update, post: read the order again
                refs = [str(x.chain.state["target_id"]) for _, x in items]
                now = read_orders(self.client, self.spec, refs)
                for n, x in items:
                    order = now.get(str(x.chain.state["target_id"]))
                    verdicts[n] = "unsettled"
                    if order is not None and self._took_effect(x, order):
                        x.chain.state["order"].update(order)
                        verdicts[n] = "done"
        return [verdicts[n] for n in range(len(lost))]

    def _took_effect(self, item: Lost, order: dict[str, Any]) -> bool:
        if item.step.name == rules.POST:
            return bool(order.get("Posted"))
        body = item.chain.state["body"]
        return not changed_fields(order, {k: body[k] for k in item.step.fields if k in body})

    # -- the deal's client, SOAP -------------------------------------------------------------------------------

    def _client(self, wanted: dict[str, Any]) -> str:
        """The counterparty of a deal's client that 1C did not know when the deal was mapped: found or made."""
        spec = client_spec(self.spec.target)
        if spec is None or self.bitrix24 is None:
            raise RecordError("the deal's client is not in 1C and target.client is not configured")
        try:
            with self._client_lock:
                if self._clients is None:
                    self._clients = ClientMaker(self.client, self.bitrix24, spec, self.originator)
                return self._clients.resolve(dict(wanted))
        except TransientWriteError:
            raise  # settled: asked again, found by ИНН or marker then
        except RemoteRejected as exc:
            raise RecordError(
                f"1C refused the deal's client (counterparty or partner): {exc.message}"
            ) from None

    def _soap_write(self, action: Action, body: dict[str, Any]) -> dict[str, Any]:
        """CreateOrder with our idempotency key (the service returns the same order for the same key, so a lost
        reply is simply asked again), or UpdateOrder; the answer is the order's state as JSON."""
        payload = json.dumps(body, ensure_ascii=False)
        if action.kind == "create":
            key = self.key.prefix + action.record.key
            answer = self.soap.call("CreateOrder", write=True, IdempotencyKey=key, OrderJson=payload)
        else:
            answer = self.soap.call("UpdateOrder", write=True, OrderId=action.target_id, OrderJson=payload)
        try:
            state = json.loads(str(answer))
        except ValueError:
            raise RemoteRejected(
                f"CrmExchange answered {str(answer)[:100]!r} instead of the order's JSON"
            ) from None
        # The service speaks Russian keys; the write-back names OData properties.
        return {
            "Ref_Key": state.get("Ref_Key"),
            "Number": state.get("Номер"),
            "Date": state.get("Дата"),
            **state,
        }

    # -- lookups ------------------------------------------------------------------------------------------------

    def exists(self, refs: list[str]) -> list[str]:
        """Which of these keys name an object of this 1C base (to adopt objects stamped by an older release)."""
        return list(self.client.by_refs(self.entity, refs, select=["Ref_Key"]))

    def current(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The 1C objects as they are now (for --dry-run diffs)."""
        return self.client.by_refs(self.entity, ids)

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(keys)
        found: dict[str, str] = {}
        prefix = self.key.prefix
        for i in range(0, len(keys), 20):
            part = keys[i : i + 20]
            flt = self.f.any_of(self.key.field, [prefix + k for k in part])
            for row in self.client.query(self.entity, filter=flt, select=["Ref_Key", self.key.field]):
                marker = str(row.get(self.key.field, "")).strip()
                if marker.startswith(prefix):
                    found.setdefault(marker[len(prefix) :], str(row["Ref_Key"]))
        return found
