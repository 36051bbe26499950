"""The reads of the counterparties flow, batched per page: who might already exist (by INN+KPP, our external
key, phone, e-mail), and the current state (our stamp, multifields, requisites) of the entities we will touch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.bitrix24.client import BATCH_LIMIT, Bitrix24Client
from connector.contracts import selectable
from connector.errors import RemoteRejected
from connector.flows.counterparties.model import (
    ENTITY_TYPE_ID,
    Candidate,
    Party,
    normalize_email,
    normalize_phone,
    split_ref,
    target_ref,
)
from connector.mapping.schema import ExternalKey

FINDBYCOMM_MAX = 20  # crm.duplicate.findbycomm takes at most 20 values per call
FINDBYCOMM_CAP = 20  # and names at most 20 ids of a type: an answer that long may be cut
INN_CHUNK = 10  # INNs per crm.requisite.list: few requisites each, so one page of 50 usually holds them
ID_CHUNK = 50
OWNER_CHUNK = 15  # owners per requisite list: a company rarely has more than three requisites
REQUISITE_SELECT = [
    "ID",
    "ENTITY_TYPE_ID",
    "ENTITY_ID",
    "PRESET_ID",
    "NAME",
    "XML_ID",
    "ORIGINATOR_ID",
    "RQ_INN",
    "RQ_KPP",
]
Command = tuple[str, dict[str, Any]]


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = value.get("items", list(value.values()))
    return [r for r in value or [] if isinstance(r, dict)]


def normal(rule: str, value: str) -> str:
    return normalize_phone(value) if rule == "phone" else normalize_email(value)


@dataclass(frozen=True)
class Comm:
    """One shared findbycomm command: its rule, entity type and the parties whose values it carries."""

    rule: str
    entity: str
    parties: list[Party]

    def normal(self, p: Party) -> set[str]:
        return {normal(self.rule, v) for v in (p.phones if self.rule == "phone" else p.emails)} - {""}


@dataclass
class Matches:
    """Per source key, candidate ids by rule; per entity, what we know of each candidate."""

    found: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    known: dict[str, dict[str, Candidate]] = field(default_factory=lambda: {"company": {}, "contact": {}})
    requisites: dict[str, dict[str, list[dict[str, Any]]]] = field(
        default_factory=lambda: {"company": {}, "contact": {}}
    )
    # Per source key and fuzzy rule, its normalized values, while `found` still holds every id a shared
    # findbycomm command returned (`describe` keeps those whose multifields hold one of them).
    fuzzy: dict[str, tuple[str, dict[str, set[str]]]] = field(default_factory=dict)
    # The creates carrying our external key already, as `find` answers ({source key: company id or C_<id>}).
    by_key: dict[str, str] = field(default_factory=dict)

    def add(self, key: str, rule: str, target: Any) -> None:
        self.found.setdefault(key, {}).setdefault(rule, []).append(str(target))


class Recognizer:
    """Runs the lookups of one page in as few batch requests as the 50-command limit allows."""

    def __init__(self, client: Bitrix24Client, key: ExternalKey) -> None:
        self.client = client
        self.key = key

    def _run(self, commands: dict[str, tuple[Command, Any]]) -> dict[str, Any]:
        """Run read commands 50 at a time; a list with more pages is read to its end by keyset."""
        out: dict[str, Any] = {}
        names = list(commands)
        for part in _chunks(names, BATCH_LIMIT):
            reply = self.client.batch({n: commands[n][0] for n in part})
            for name in part:
                if name in reply.errors:
                    err = reply.errors[name]
                    method = commands[name][0][0]
                    raise RemoteRejected(
                        f"{method} failed inside a batch: {err.get('error_description') or err}",
                        method=method,
                    )
                out[name] = reply.result.get(name)
                if name in reply.next:  # rare: more rows than one page; read the rest in ID order
                    method, params = commands[name][0]
                    out[name] = [
                        row
                        for page in self.client.list_keyset(method, params["filter"], params["select"])
                        for row in page
                    ]
        return out

    # -- recognition of creates ---------------------------------------------------------------------------------

    def recognise(self, parties: Sequence[Party], rules: Sequence[str], find: Sequence[str] = ()) -> Matches:
        """Candidates for every party under every configured rule, then what each candidate carries; with `find`,
        the lookup of those keys by external key (`find`'s own) in the same batches, into `matches.by_key`."""
        matches = Matches()
        commands: dict[str, tuple[Command, Any]] = self._find_commands(find)
        if "inn_kpp" in rules:
            inns = sorted({p.inn for p in parties if p.inn})
            for n, chunk in enumerate(_chunks(inns, INN_CHUNK)):
                commands[f"i{n}"] = (
                    (
                        "crm.requisite.list",
                        {"filter": {"@RQ_INN": chunk}, "select": REQUISITE_SELECT, "order": {"ID": "ASC"}},
                    ),
                    None,
                )
        asked = {p.key for p in parties} <= set(find)  # `find`'s commands ask our key of every party already
        if "external_key" in rules and not asked:
            for entity in ("company", "contact"):
                keys = [p.key for p in parties if p.entity == entity]
                for n, chunk in enumerate(_chunks(keys, ID_CHUNK)):
                    commands[f"k{entity[:3]}{n}"] = (
                        (
                            f"crm.{entity}.list",
                            {
                                "filter": {
                                    f"@{self.key.originator_field}": self.key.originators,
                                    f"@{self.key.field}": chunk,
                                },
                                "select": ["ID", self.key.field],
                                "order": {"ID": "ASC"},
                            },
                        ),
                        entity,
                    )
        for rule, kind in (("phone", "PHONE"), ("email", "EMAIL")):
            if rule in rules:
                commands.update(self._comm_commands(parties, rule, kind))
        results = self._run(commands)
        capped: list[Party] = []
        by_inn: dict[str, list[Party]] = {}
        for p in parties:
            by_inn.setdefault(p.inn, []).append(p)
        matches.by_key = self._found(commands, results)
        for name, value in results.items():
            context = commands[name][1]
            if name.startswith("f"):
                continue  # `find`'s lookup, read above
            if name.startswith("i"):
                for row in _rows(value):
                    for p in by_inn.get(str(row.get("RQ_INN") or ""), []):
                        if (
                            int(row.get("ENTITY_TYPE_ID") or 0) == p.type_id
                            and (row.get("RQ_KPP") or "") == p.kpp
                        ):
                            matches.add(p.key, "inn_kpp", row["ENTITY_ID"])
            elif name.startswith("k"):
                for row in _rows(value):
                    matches.add(str(row.get(self.key.field)), "external_key", row["ID"])
            elif isinstance(context, Comm):
                ids = value.get(context.entity.upper(), []) if isinstance(value, dict) else []
                if len(ids) >= FINDBYCOMM_CAP:  # the portal cut the answer: ask for each party on its own
                    capped.extend(context.parties)
                    continue
                for p in context.parties:
                    matches.fuzzy.setdefault(p.key, (p.entity, {}))[1][context.rule] = context.normal(p)
                    for target in ids:  # every party of the command, for now: `describe` keeps the right ones
                        matches.add(p.key, context.rule, target)
        if capped:
            self._one_by_one(matches, capped, rules)
        return matches

    def _comm_commands(
        self, parties: Sequence[Party], rule: str, kind: str
    ) -> dict[str, tuple[Command, Any]]:
        """crm.duplicate.findbycomm over the values of many parties at once (20 a command, per entity type): the
        answer names who holds any of them, not which one, so `describe` sorts them out from their multifields."""
        out: dict[str, tuple[Command, Any]] = {}
        for entity in ("company", "contact"):
            own = [p for p in parties if p.entity == entity]
            raw: dict[str, str] = {}
            for p in own:
                for v in p.phones if rule == "phone" else p.emails:
                    raw.setdefault(normal(rule, v), v)
            for n, chunk in enumerate(_chunks(sorted(raw), FINDBYCOMM_MAX)):
                values = set(chunk)
                comm = Comm(rule, entity, [p for p in own if Comm(rule, entity, []).normal(p) & values])
                params = {"type": kind, "values": [raw[v] for v in chunk], "entity_type": entity.upper()}
                out[f"{rule[0]}{entity[:3]}{n}"] = (("crm.duplicate.findbycomm", params), comm)
        return out

    def _one_by_one(self, matches: Matches, parties: list[Party], rules: Sequence[str]) -> None:
        """findbycomm per party (its values only) where a shared command hit the portal's cap of 20 ids."""
        commands: dict[str, tuple[Command, Any]] = {}
        for n, p in enumerate({p.key: p for p in parties}.values()):
            for rule, kind in (("phone", "PHONE"), ("email", "EMAIL")):
                values = list(p.phones if rule == "phone" else p.emails)[:FINDBYCOMM_MAX]
                if rule in rules and values:
                    params = {"type": kind, "values": values, "entity_type": p.entity.upper()}
                    commands[f"{rule[0]}{n}"] = (("crm.duplicate.findbycomm", params), (rule, p))
        for name, value in self._run(commands).items():
            rule, p = commands[name][1]
            matches.fuzzy.get(p.key, (p.entity, {}))[1].pop(rule, None)  # exact: nothing to sort out
            for target in value.get(p.entity.upper(), []) if isinstance(value, dict) else []:
                matches.add(p.key, rule, target)

    # -- the state of entities we will write --------------------------------------------------------------------

    def describe(
        self,
        matches: Matches,
        ids: dict[str, set[str]],
        fields: Iterable[str] = (),
        requisite_fields: Iterable[str] = (),
    ) -> None:
        """Fill `matches.known` / `matches.requisites` for these {entity: ids}: stamp, multifields, requisites."""
        commands: dict[str, tuple[Command, Any]] = {}
        for entity, wanted in ids.items():
            todo = sorted(wanted, key=int)
            for n, chunk in enumerate(_chunks(todo, ID_CHUNK)):
                commands[f"e{entity[:3]}{n}"] = (
                    (
                        f"crm.{entity}.list",
                        {
                            "filter": {"@ID": chunk},
                            "order": {"ID": "ASC"},
                            "select": selectable(
                                f"crm.{entity}.list",
                                [
                                    "ID",
                                    self.key.originator_field,
                                    self.key.field,
                                    "ORIGIN_VERSION",  # "adopted": a manager's company we recognised
                                    "PHONE",
                                    "EMAIL",
                                    *sorted(set(fields)),
                                ],
                            ),
                        },
                    ),
                    entity,
                )
            for n, chunk in enumerate(_chunks(todo, OWNER_CHUNK)):
                commands[f"r{entity[:3]}{n}"] = (
                    (
                        "crm.requisite.list",
                        {
                            "filter": {"ENTITY_TYPE_ID": ENTITY_TYPE_ID[entity], "@ENTITY_ID": chunk},
                            "select": list(
                                dict.fromkeys([*REQUISITE_SELECT, *sorted(set(requisite_fields))])
                            ),
                            "order": {"ID": "ASC"},
                        },
                    ),
                    entity,
                )
        if not commands:
            self._sort_out(matches)
            return
        for name, value in self._run(commands).items():
            entity = str(commands[name][1])
            if name.startswith("e"):
                for row in _rows(value):
                    cand = matches.known[entity].setdefault(str(row["ID"]), Candidate(str(row["ID"])))
                    cand.originator = row.get(self.key.originator_field) or None
                    cand.origin = row.get(self.key.field) or None
                    cand.phones = {str(e.get("VALUE")) for e in row.get("PHONE") or [] if isinstance(e, dict)}
                    cand.emails = {str(e.get("VALUE")) for e in row.get("EMAIL") or [] if isinstance(e, dict)}
                    cand.values = dict(row)
            else:
                for row in _rows(value):
                    owner = str(row.get("ENTITY_ID"))
                    matches.requisites[entity].setdefault(owner, []).append(row)
                    cand = matches.known[entity].setdefault(owner, Candidate(owner))
                    if row.get("RQ_INN"):
                        cand.inns.add(str(row["RQ_INN"]))
        self._sort_out(matches)

    @staticmethod
    def _sort_out(matches: Matches) -> None:
        """Of the ids a shared findbycomm command returned for a party, keep those holding one of its values."""
        for key, (entity, rules) in matches.fuzzy.items():
            for rule, values in rules.items():
                ids = matches.found.get(key, {}).get(rule)
                if not ids:
                    continue
                held = [
                    i
                    for i in ids
                    for cand in [matches.known[entity].get(i)]
                    if cand is not None
                    and values & {normal(rule, v) for v in (cand.phones if rule == "phone" else cand.emails)}
                ]
                matches.found[key][rule] = held
        matches.fuzzy.clear()

    def find(self, keys: Iterable[str]) -> dict[str, str]:
        """Companies and contacts carrying our external key, as {source key: id} (lowest id on duplicates): one
        list command per entity and 50 keys, all in shared batches."""
        commands = self._find_commands(keys)
        return self._found(commands, self._run(commands))

    def _found(self, commands: dict[str, tuple[Command, Any]], results: dict[str, Any]) -> dict[str, str]:
        """`find`'s answer from the results of its commands (named `f...`) among others."""
        found: dict[str, str] = {}
        for name, value in results.items():
            if not name.startswith("f"):
                continue
            entity, chunk = commands[name][1]
            for row in _rows(value):
                origin = str(row.get(self.key.field))
                target = target_ref(entity, str(row["ID"]))
                if origin in chunk and (
                    origin not in found or int(row["ID"]) < int(split_ref(found[origin])[1])
                ):
                    found[origin] = target
        return found

    def _find_commands(self, keys: Iterable[str]) -> dict[str, tuple[Command, Any]]:
        """The list commands of `find`: one per entity and 50 keys."""
        keys = list(dict.fromkeys(keys))
        commands: dict[str, tuple[Command, Any]] = {}
        for entity in ("company", "contact"):
            for n, chunk in enumerate(_chunks(keys, ID_CHUNK)):
                flt = {f"@{self.key.originator_field}": self.key.originators, f"@{self.key.field}": chunk}
                params = {"filter": flt, "select": ["ID", self.key.field], "order": {"ID": "ASC"}}
                commands[f"f{entity[:3]}{n}"] = ((f"crm.{entity}.list", params), (entity, set(chunk)))
        return commands
