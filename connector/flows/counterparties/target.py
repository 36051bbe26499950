"""Writes 1C counterparties to Bitrix24 as companies (individuals as contacts) with their requisites.

Per page: recognise existing ones (the mapping's `target.match` order: INN+KPP, our external key, phone, e-mail;
all lookups batched), adopt what is recognised, create the rest with their requisite in the same batch
(`$result[...]`), and keep requisites and multifields of updated ones in line. Two records of one page that are
the same counterparty (equal INN+KPP, or phone/e-mail when matched on) create one company, never two.

Same INN with another КПП is another company: in 1C a branch is its own counterparty with its own contracts and
orders, and orders link to it one to one through this flow's ledger; its requisite carries the branch КПП.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.compare import changed_fields
from connector.engine.executor import BatchExecutor, Sent
from connector.engine.planned import PlannedTarget, applied, failed, unit_steps
from connector.engine.steps import RecordPlan
from connector.flows.counterparties.lookup import Matches, Recognizer
from connector.flows.counterparties.model import (
    Candidate,
    Party,
    choose,
    new_values,
    party_of,
    requisite_change,
    split_ref,
    target_ref,
    twins,
)
from connector.logs import get_logger
from connector.mapping.schema import ExternalKey, MatchRule
from connector.records import Action, Outcome

log = get_logger(__name__)
PARAMS = {"REGISTER_SONET_EVENT": "N"}
VERSION_FIELD, ADOPTED = "ORIGIN_VERSION", "adopted"  # a company we recognised, not made (docs/identity.md)


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list) and not value)


def _found_by(p: Party, rule: str) -> str:
    by = {"inn_kpp": f"ИНН {p.inn}" + (f", КПП {p.kpp}" if p.kpp else ""), "external_key": "its 1C key"}
    return f"found by {by.get(rule, rule)}"


def _describe(err: dict[str, Any]) -> str:
    code = err.get("error")
    desc = err.get("error_description") or ""
    return f"{code}: {desc}".strip(": ") if code not in (None, "") else str(desc or "rejected")


@dataclass
class Write:
    """The commands for one party: its entity (add or update) and, optionally, its requisite."""

    party: Party
    entity_id: str | None  # None: created by this write
    entity: tuple[str, dict[str, Any]] | None
    requisite: tuple[str, dict[str, Any]] | None = None
    followers: list[Party] = field(default_factory=list)
    adopted_by: str | None = None  # the match rule that recognised an existing entity for a create

    def commands(self, n: int) -> dict[str, tuple[str, dict[str, Any]]]:
        out = {}
        if self.entity is not None:
            out[f"e{n}"] = self.entity
        if self.requisite is not None:
            method, params = self.requisite
            if self.entity_id is None:  # the owner is created in this very batch
                params = {"fields": {**params["fields"], "ENTITY_ID": f"$result[e{n}]"}}
            out[f"q{n}"] = (method, params)
        return out


@dataclass
class Prepared:
    """A page's parties (or why a record is none) and what the lookups found."""

    parties: dict[str, Party | str]
    matches: Matches


@dataclass
class PartyPlan(RecordPlan):
    """A record's plan; the leader of a group of twins carries the group's write."""

    write: Write | None = None


class CounterpartyWriter(PlannedTarget):
    """Target for `target.entity: company`: companies and contacts with requisites, found again by external key."""

    def __init__(
        self,
        client: Bitrix24Client,
        external_key: ExternalKey,
        match: Sequence[MatchRule],
        batch_size: int = 25,
        in_flight: int = 1,
        owned: Iterable[str] = (),
    ) -> None:
        self.client = client
        self.key = external_key
        # Fields the mapping declares `owner: onec`: written even on a company a manager made by hand.
        self.owned = set(owned)
        # Our own key is always consulted (last when not configured): it is how a lost reply is recovered.
        self.match_rules: list[str] = list(dict.fromkeys([*match, "external_key"]))
        self.batch_size = max(1, min(batch_size, BATCH_LIMIT // 2))
        self.executor = BatchExecutor(
            client, limit=2 * self.batch_size
        )  # an entity and its requisite a record
        self.lookup = Recognizer(client, external_key)

    # The engine does not look a page's creates up before prepare: prepare does, in its first round of batches.
    finds_in_prepare = True

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Companies and contacts carrying our external key, as {source key: id}; contacts as C_<id>."""
        return self.lookup.find(keys)

    def prepare(self, actions: Sequence[Action], today: date) -> Prepared:
        """Reads only: each record's party and the candidates the match rules find for the creates, with what is
        known of them and of the updates' targets (values, phones, e-mails, requisites)."""
        parties = {a.record.key: party_of(a) for a in actions}
        live = [p for p in parties.values() if not isinstance(p, str)]
        if not live:
            return Prepared(parties, Matches())
        known, matches = self._recognise(live, find=True)
        parties.update({p.key: p for p in known})
        return Prepared(parties, matches)

    def rules(self, actions: Sequence[Action], prepared: Prepared, today: date) -> list[PartyPlan]:
        """Pure: per record, its entity's add or update (only what differs) and its requisite, one unit; a record
        that is the same counterparty as another of the page rides with it (no step of its own)."""
        plans: dict[str, PartyPlan] = {}
        parties: list[Party] = []
        for given in actions:
            party = prepared.parties[given.record.key]
            if isinstance(party, str):
                plans[given.record.key] = PartyPlan(given, problems=[f"{given.record.label}: {party}"])
                continue
            a = party.action  # a create that prepare found by our external key is that object's update
            if a.kind == "update" and a.target_id and split_ref(a.target_id)[0] != party.entity:
                was = split_ref(a.target_id)[0]
                plans[a.record.key] = PartyPlan(
                    a,
                    problems=[
                        f"{a.record.label}: linked to a {was} ({a.target_id}) but 1C now makes it a "
                        f"{party.entity} (its legal form changed); merge or convert it in Bitrix24, then "
                        "`b24-1c retry`"
                    ],
                )
            else:
                parties.append(party)
        for w in self._plan(parties, prepared.matches) if parties else []:
            plan = PartyPlan(w.party.action, write=w)
            for step in unit_steps(w.commands(0)):
                plan.steps.append(step)
            where = target_ref(w.party.entity, str(w.entity_id)) if w.entity_id else None
            if w.adopted_by:
                plan.done.append(f"{where}: recognised by {w.adopted_by}; linked instead of created")
            if where and not w.commands(0):
                plan.done.append(f"{where}: holds what we would write already; linked")
            plans[w.party.key] = plan
            for f in w.followers:
                plans[f.key] = PartyPlan(
                    f.action, done=[f"the same counterparty as {w.party.action.record.label}: linked with it"]
                )
        return [plans[a.record.key] for a in actions]

    def execute(self, plans: Sequence[RecordPlan], prepared: Prepared) -> list[Outcome]:
        """Every write through the one executor; a write that needs nothing links its record (and twins) as is.
        Records whose batch lost its reply are looked up by key by the engine; nothing is re-sent here."""
        outcomes = [failed(p.action, "; ".join(p.problems), remember=False) for p in plans if p.problems]
        writes = [p.write for p in plans if isinstance(p, PartyPlan) and p.write is not None]
        for w in writes:
            if w.adopted_by:
                log.info(
                    "recognised an existing counterparty; linking it instead of creating",
                    key=w.party.key,
                    entity=w.party.entity,
                    id=w.entity_id,
                    by=w.adopted_by,
                )
        for w in [w for w in writes if not w.commands(0)]:  # already what we would write: linked, not written
            target = target_ref(w.party.entity, str(w.entity_id))
            outcomes += [applied(x.action, target) for x in [w.party, *w.followers]]
            writes.remove(w)
        sent = self.executor.run([w.commands(n) for n, w in enumerate(writes)])
        for n, w in enumerate(writes):
            if not (w.commands(n).keys() & sent.unknown):
                outcomes.extend(self._outcomes(n, w, sent))
        if sent.lost is not None:
            sent.lost.settled = outcomes
            raise sent.lost
        return outcomes

    # -- planning -----------------------------------------------------------------------------------------------

    def adoptions(self, actions: Sequence[Action]) -> dict[str, tuple[str, str]]:
        """A dry run's view of the creates a real run would link to an existing company or contact instead, as
        {source key: ('company 12', 'found by ИНН 7701234567, КПП 770101001')}. Reads only."""
        parties = [p for a in actions if a.kind == "create" for p in [party_of(a)] if not isinstance(p, str)]
        matches = self._recognise(parties)[1] if parties else Matches()
        out: dict[str, tuple[str, str]] = {}
        for p in parties:
            found = matches.found.get(p.key, {})
            chosen = choose(p, self.match_rules, found, matches.known[p.entity], str(self.key.originator_id))
            if chosen is not None:
                out[p.key] = (f"{p.entity} {chosen[0]}", _found_by(p, chosen[1]))
        return out

    def adopted_in(self, plans: Iterable[RecordPlan]) -> dict[str, tuple[str, str]]:
        """The same view from a dry run's plans (pure: what their prepare found, without reading again): a create
        prepare found by our external key too (its plan is that object's update)."""
        return {
            p.key: (f"{w.party.entity} {w.entity_id}", _found_by(w.party, w.adopted_by or "external_key"))
            for p in plans
            if isinstance(p, PartyPlan)
            and (w := p.write) is not None
            and w.entity_id
            and (w.adopted_by or w.party.action.kind == "update")
        }

    def _recognise(self, parties: list[Party], find: bool = False) -> tuple[list[Party], Matches]:
        """Candidates of the creates and what is known of them and of the updates' targets. With `find`, the
        creates are looked up by our external key in the same batches (the engine does not ask `find` before
        prepare: `finds_in_prepare`), and one that carries it is that object's update, as `find` would make it."""
        creates = [p for p in parties if p.action.kind == "create"]
        keys = [p.key for p in creates] if find else []
        matches = self.lookup.recognise(creates, self.match_rules, keys) if creates else Matches()
        parties = [self._found(p, matches.by_key.get(p.key)) for p in parties]
        creates = [p for p in parties if p.action.kind == "create"]
        ids: dict[str, set[str]] = {"company": set(), "contact": set()}
        for p in creates:
            for found in matches.found.get(p.key, {}).values():
                ids[p.entity].update(found)
        for p in parties:
            if p.action.kind == "update":
                ids[p.entity].add(split_ref(str(p.action.target_id))[1])
        self.lookup.describe(
            matches, ids, {f for p in parties for f in p.fields}, {f for p in parties for f in p.requisite}
        )
        return parties, matches

    @staticmethod
    def _found(p: Party, target: str | None) -> Party:
        """A create found by our external key becomes the update of what was found (its party as an update's)."""
        if target is None or p.action.kind != "create":
            return p
        party = party_of(Action("update", p.action.record, target))
        return p if isinstance(party, str) else party

    def _plan(self, parties: list[Party], matches: Matches) -> list[Write]:
        """Pure: the writes of these parties, given what the lookups found."""
        creates = [p for p in parties if p.action.kind == "create"]
        updates = [p for p in parties if p.action.kind == "update"]
        writes: list[Write] = []
        fresh: list[Party] = []
        for p in creates:
            chosen = choose(
                p,
                self.match_rules,
                matches.found.get(p.key, {}),
                matches.known[p.entity],
                str(self.key.originator_id),
            )
            if chosen is None:
                fresh.append(p)
                continue
            target, rule = chosen
            write = self._existing(p, target, matches, adopt=rule)
            write.adopted_by = rule
            writes.append(write)
        for p in updates:
            writes.append(self._existing(p, split_ref(str(p.action.target_id))[1], matches, adopt=None))
        following = twins(fresh, self.match_rules)
        joined: dict[str, list[Party]] = {}
        for p in fresh:
            if p.key in following:
                joined.setdefault(following[p.key], []).append(p)
        leaders = {p.key: self._new(p, joined.get(p.key, [])) for p in fresh if p.key not in following}
        for p in fresh:
            if p.key in following:
                leaders[following[p.key]].followers.append(p)
        return writes + list(leaders.values())

    def _new(self, p: Party, twins_of: Sequence[Party] = ()) -> Write:
        """The create of a party; the phones and e-mails of its 1C duplicates (same ИНН+КПП, one company) too, so a
        lost ledger later finds the company already carrying them (nothing to write)."""
        fields = {**p.fields, self.key.originator_field: self.key.originator_id, self.key.field: p.key}
        for kind, own in (("PHONE", p.phones), ("EMAIL", p.emails)):
            values = [(v, p.value_type(kind, v)) for v in own]
            for twin in twins_of:
                extra = new_values(
                    kind, twin.phones if kind == "PHONE" else twin.emails, [v for v, _ in values]
                )
                values += [(v, twin.value_type(kind, v)) for v in extra]
            if values:
                fields[kind] = [{"VALUE": v, "VALUE_TYPE": t} for v, t in values]
        requisite = requisite_change(p, [], str(self.key.originator_id))
        return Write(
            p,
            None,
            (f"crm.{p.entity}.add", {"fields": fields, "params": PARAMS}),
            self._requisite(p, requisite, "0"),
        )

    def _existing(self, p: Party, target: str, matches: Matches, adopt: str | None) -> Write:
        cand = matches.known[p.entity].get(target, Candidate(target))
        # Only what differs from the entity as it is now: a found or adopted company that already holds our
        # values is linked without a write (a lost ledger costs reads, never writes).
        fields = changed_fields(cand.values, p.fields) if cand.values else dict(p.fields)
        # Take over an unstamped entity, or one an older release stamped for this very record; never re-stamp one
        # that carries another record's or system's key.
        legacy = cand.originator in self.key.adopt and cand.origin == p.key
        hand_made = bool(adopt) and adopt != "external_key" and not cand.origin and not cand.originator
        # A company another installation made (one legal entity in two 1C bases) is linked, never restamped, and
        # keeps its values the way a manager's does: the base that made it keeps its title.
        theirs = bool(cand.originator) and cand.originator not in self.key.originators
        if hand_made or theirs or cand.values.get(VERSION_FIELD) == ADOPTED:
            # A manager's company recognised by ИНН, phone or e-mail keeps what it has (its title above all);
            # only fields the mapping owns outright (`owner: onec`) or that are empty are written.
            fields = {k: v for k, v in fields.items() if k in self.owned or _empty(cand.values.get(k))}
        if hand_made or legacy:
            fields.update({self.key.originator_field: self.key.originator_id, self.key.field: p.key})
        if hand_made:
            fields[VERSION_FIELD] = ADOPTED  # remembered on the company: later updates keep its values too
        for kind, wanted, present in (("PHONE", p.phones, cand.phones), ("EMAIL", p.emails, cand.emails)):
            extra = new_values(kind, wanted, present)
            if extra:
                fields[kind] = [{"VALUE": v, "VALUE_TYPE": p.value_type(kind, v)} for v in extra]
        requisite = requisite_change(
            p, matches.requisites[p.entity].get(target, []), str(self.key.originator_id), self.key.adopt
        )
        return Write(
            p,
            target,
            (f"crm.{p.entity}.update", {"id": target, "fields": fields, "params": PARAMS})
            if fields
            else None,
            self._requisite(p, requisite, target),
        )

    def _requisite(self, p: Party, change: Any, owner: str) -> tuple[str, dict[str, Any]] | None:
        if change is None:
            return None
        kind, req_id, fields = change
        if kind == "update":
            return "crm.requisite.update", {"id": req_id, "fields": fields}
        return "crm.requisite.add", {"fields": {**fields, "ENTITY_TYPE_ID": p.type_id, "ENTITY_ID": owner}}

    # -- outcomes -----------------------------------------------------------------------------------------------

    def _failed(self, a: Action, error: str, target: str | None = None) -> Outcome:
        return Outcome(
            a.record.key, a.kind, "failed", target or a.target_id, error=error, label=a.record.label
        )

    def _outcomes(self, n: int, w: Write, reply: Sent) -> list[Outcome]:
        a = w.party.action
        head = reply.errors.get(f"e{n}")
        if w.entity is not None and (head is not None or f"e{n}" not in reply.results):
            error = f"{a.record.label}: " + (
                _describe(head) if head else "no result for it in the batch reply"
            )
            return [
                self._failed(
                    x.action,
                    error
                    if x is w.party
                    else f"{x.action.record.label}: same counterparty "
                    f"as {a.record.label}, which failed: {error}",
                )
                for x in [w.party, *w.followers]
            ]
        raw = str(reply.results[f"e{n}"]) if w.entity_id is None else w.entity_id
        target = target_ref(w.party.entity, raw)
        req_err = reply.errors.get(f"q{n}")
        if req_err is not None or (w.requisite is not None and f"q{n}" not in reply.results):
            error = f"{a.record.label}: requisite (ИНН/КПП): " + (
                _describe(req_err) if req_err else "no result for it in the batch reply"
            )
            return [self._failed(x.action, error, target) for x in [w.party, *w.followers]]
        out = [
            Outcome(
                a.record.key, a.kind, "applied", target, a.record.hash, a.record.version, label=a.record.label
            )
        ]
        for f in w.followers:
            log.info("same counterparty twice in 1C; linked to one", key=f.key, twin=w.party.key, id=target)
            rec = f.action.record
            out.append(
                Outcome(rec.key, f.action.kind, "applied", target, rec.hash, rec.version, label=rec.label)
            )
        return out
