"""Pure rules of the counterparties flow: a mapped 1C counterparty as a Bitrix24 company or contact with its
requisite, validation of INN/KPP, match keys, choosing among candidates, and what a requisite needs.

Mapped field names (mappings/counterparties.yaml) are Bitrix24 names; a few are reserved:
  KIND       company | entrepreneur | foreign | person (default company); person becomes a contact
  PRESET_ID  the requisite preset (default: 1 for company/foreign, 2 for entrepreneur, 3 for person)
  PHONE, EMAIL  one value, a list, or several values separated by , ; or new lines (multifields)
  RQ_*       requisite fields (RQ_INN, RQ_KPP, RQ_COMPANY_FULL_NAME...); every other field goes on the entity.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from connector.records import Action

EntityName = Literal["company", "contact"]
ENTITY_TYPE_ID: dict[str, int] = {"company": 4, "contact": 3}
# kind -> (entity, default preset, INN digits required (0: INN optional), KPP allowed)
KINDS: dict[str, tuple[EntityName, int, int, bool]] = {
    "company": ("company", 1, 10, True),
    "entrepreneur": ("company", 2, 12, False),
    "foreign": ("company", 1, 0, True),
    "person": ("contact", 3, 0, False),
}
RESERVED = {"KIND", "PRESET_ID", "PHONE", "EMAIL"}
# VALUE_TYPE of crm_multifield (api-reference/crm/data-types.md): PHONE_MOBILE, EMAIL_HOME … are reserved fields too
VALUE_TYPES = {
    "PHONE": ("WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"),
    "EMAIL": ("WORK", "HOME", "MAILING", "OTHER"),
}
FUZZY_RULES = ("phone", "email")  # matches that can be wrong, so candidates are vetted
_KPP = re.compile(r"^\d{4}[\dA-Z]{2}\d{3}$")  # since 2019 positions 5-6 may be letters
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SPLIT = re.compile(r"[,;\n]+")


def normalize_phone(value: str) -> str:
    """Digits only, last ten: +7 912 …, 8 912 … and 7912… are one number (as Bitrix24's dedup sees it)."""
    return "".join(ch for ch in value if ch.isdigit())[-10:]


def normalize_email(value: str) -> str:
    """Trimmed and lower-case."""
    return value.strip().lower()


def _values(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list | tuple) else _SPLIT.split(str(raw)) if raw is not None else []
    return [str(v).strip() for v in items if v is not None and str(v).strip()]


@dataclass(frozen=True)
class Party:
    """One counterparty as the target will write it."""

    action: Action
    entity: EntityName
    preset: int
    fields: dict[str, Any]
    requisite: dict[str, str]
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    value_types: tuple[tuple[str, str, str], ...] = ()  # (PHONE|EMAIL, normalized value, VALUE_TYPE) not WORK

    def value_type(self, kind: str, value: str) -> str:
        """The multifield VALUE_TYPE of one phone or e-mail (WORK unless a PHONE_<TYPE> field gave it)."""
        norm = normalize_phone(value) if kind == "PHONE" else normalize_email(value)
        return next((t for k, v, t in self.value_types if k == kind and v == norm), "WORK")

    @property
    def key(self) -> str:
        return self.action.record.key

    @property
    def inn(self) -> str:
        return self.requisite.get("RQ_INN", "")

    @property
    def kpp(self) -> str:
        return self.requisite.get("RQ_KPP", "")

    @property
    def type_id(self) -> int:
        return ENTITY_TYPE_ID[self.entity]

    def match_keys(self, rules: Sequence[str]) -> list[tuple[str, ...]]:
        """Keys under which two records of one page are the same counterparty (external keys never collide)."""
        keys: list[tuple[str, ...]] = []
        for rule in rules:
            if rule == "inn_kpp" and self.inn:
                keys.append(("inn_kpp", self.entity, self.inn, self.kpp))
            elif rule == "phone":
                keys += [("phone", self.entity, normalize_phone(p)) for p in self.phones]
            elif rule == "email":
                keys += [("email", self.entity, normalize_email(e)) for e in self.emails]
        return keys


def target_ref(entity: str, entity_id: str) -> str:
    """The id the ledger keeps: a company's plain id, a contact's as C_<id> (Bitrix24's own prefix), so a
    company field linked through this flow can never receive a contact's id."""
    return f"C_{entity_id}" if entity == "contact" else entity_id


def split_ref(ref: str) -> tuple[EntityName, str]:
    """(entity, id) of a ledger target id."""
    return ("contact", ref[2:]) if ref.startswith("C_") else ("company", ref)


def split_name(full: str) -> dict[str, str]:
    """ "Фамилия Имя Отчество" → LAST_NAME, NAME, SECOND_NAME (one word: NAME only)."""
    parts = full.split()
    if len(parts) == 1:
        return {"NAME": parts[0]}
    out = {"LAST_NAME": parts[0], "NAME": parts[1]}
    if len(parts) > 2:
        out["SECOND_NAME"] = " ".join(parts[2:])
    return out


def party_of(action: Action) -> Party | str:
    """The party an action writes, or why it cannot be written (a dead letter's reason)."""
    rec = action.record
    fields = rec.create_fields() if action.kind == "create" else dict(rec.fields)  # create-only fields too
    kind = str(fields.pop("KIND", "company") or "company").strip()
    if kind not in KINDS:
        return f"KIND is '{kind}'; expected one of {', '.join(KINDS)} (check the KIND map in the mapping)"
    entity, preset, inn_digits, kpp_allowed = KINDS[kind]
    raw_preset = fields.pop("PRESET_ID", None)
    try:
        preset = int(raw_preset) if raw_preset not in (None, "") else preset
    except (TypeError, ValueError):
        return f"PRESET_ID is '{raw_preset}', not a requisite preset id"
    found: dict[str, list[str]] = {"PHONE": _values(fields.pop("PHONE", None)), "EMAIL": []}
    found["EMAIL"] = _values(fields.pop("EMAIL", None))
    typed: list[tuple[str, str, str]] = []
    for multifield in [n for n in fields if n.startswith(("PHONE_", "EMAIL_"))]:
        kind, _, value_type = multifield.partition("_")
        if value_type not in VALUE_TYPES[kind]:
            valid = ", ".join(VALUE_TYPES[kind])
            return f"{multifield}: {kind} has no VALUE_TYPE {value_type} (valid: {valid})"
        for value in _values(fields.pop(multifield)):
            found[kind].append(value)
            norm = normalize_phone(value) if kind == "PHONE" else normalize_email(value)
            typed.append((kind, norm, value_type))
    phones, emails = tuple(found["PHONE"]), tuple(found["EMAIL"])
    requisite = {k: str(v).strip() for k, v in fields.items() if k.startswith("RQ_") and v not in (None, "")}
    entity_fields = {k: v for k, v in fields.items() if not k.startswith("RQ_")}
    problems = _check(kind, inn_digits, kpp_allowed, requisite, phones, emails)
    if not kpp_allowed:
        requisite.pop("RQ_KPP", None)
    title = str(entity_fields.get("TITLE") or "").strip()
    if entity == "company" and not title:
        problems.append("TITLE is empty: a company needs a name")
    if entity == "contact":
        entity_fields.pop("TITLE", None)
        if not any(entity_fields.get(n) for n in ("NAME", "LAST_NAME")):
            if not title:
                problems.append("TITLE is empty: a contact needs a name")
            entity_fields.update(split_name(title) if title else {})
    if problems:
        return "; ".join(problems)
    if requisite or entity == "company":
        name = (
            requisite.pop("NAME", None)
            or title
            or " ".join(str(entity_fields.get(n, "")) for n in ("LAST_NAME", "NAME", "SECOND_NAME")).strip()
        )
        requisite["NAME"] = name[:255]
    return Party(action, entity, preset, entity_fields, requisite, phones, emails, tuple(typed))


def _check(
    kind: str,
    inn_digits: int,
    kpp_allowed: bool,
    requisite: Mapping[str, str],
    phones: Iterable[str],
    emails: Iterable[str],
) -> list[str]:
    problems = []
    inn, kpp = requisite.get("RQ_INN", ""), requisite.get("RQ_KPP", "")
    if inn_digits and not inn:
        problems.append(
            f"RQ_INN is empty: a {kind} needs its ИНН ({inn_digits} digits) to be recognised in "
            "Bitrix24; fill it in 1C"
        )
    elif inn and (not inn.isdigit() or len(inn) not in ((inn_digits,) if inn_digits else (10, 12))):
        want = f"{inn_digits}" if inn_digits else "10 or 12"
        problems.append(f"RQ_INN '{inn}' is not an ИНН of a {kind} ({want} digits)")
    if kpp and kpp_allowed and not _KPP.match(kpp):
        problems.append(
            f"RQ_KPP '{kpp}' is not a КПП (9 characters: 4 digits, 2 digits or letters, 3 digits)"
        )
    for phone in phones:
        if len(normalize_phone(phone)) < 6:
            problems.append(f"PHONE '{phone}' has fewer than 6 digits")
    for email in emails:
        if not _EMAIL.match(email.strip()):
            problems.append(f"EMAIL '{email}' is not an e-mail address")
    return problems


@dataclass
class Candidate:
    """What we know of an existing company or contact that might be the counterparty."""

    id: str
    originator: str | None = None
    origin: str | None = None
    inns: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)  # the fields as they are now (for "already there")


def acceptable(party: Party, cand: Candidate, rule: str, originator: str) -> bool:
    """Whether a fuzzy (phone/e-mail) match may be adopted: never another 1C counterparty, never another INN."""
    if rule not in FUZZY_RULES:
        return True
    if cand.originator and cand.origin and cand.origin != party.key:
        return False  # stamped for another record, by us, an older release, another installation or system
    return not (party.inn and cand.inns and party.inn not in cand.inns)


def choose(
    party: Party,
    rules: Sequence[str],
    found: Mapping[str, Sequence[str]],
    known: Mapping[str, Candidate],
    originator: str,
) -> tuple[str, str] | None:
    """(target id, rule) of the first rule, in the configured order, whose lowest acceptable candidate exists."""
    for rule in rules:
        ids = sorted({str(i) for i in found.get(rule, ())}, key=int)
        for target in ids:
            cand = known.get(target, Candidate(target))
            if acceptable(party, cand, rule, originator):
                return target, rule
    return None


def twins(parties: Sequence[Party], rules: Sequence[str]) -> dict[str, str]:
    """{follower key: leader key} for records of one page that would create the same counterparty; a shared
    phone or e-mail never joins two records with different INNs."""
    claimed: dict[tuple[str, ...], Party] = {}
    out: dict[str, str] = {}
    for p in parties:
        keys = p.match_keys(rules)
        leader = next(
            (
                claimed[k]
                for k in keys
                if k in claimed
                and (k[0] not in FUZZY_RULES or not (p.inn and claimed[k].inn and p.inn != claimed[k].inn))
            ),
            None,
        )
        if leader is not None:
            out[p.key] = leader.key
            continue
        for k in keys:
            claimed.setdefault(k, p)
    return out


def requisite_change(
    party: Party, rows: Sequence[Mapping[str, Any]], originator: str, adopt: Sequence[str] = ()
) -> tuple[Literal["add", "update"], str | None, dict[str, str]] | None:
    """What keeps the party's requisite right: add one, update one (its id), or nothing.

    Ours is the one stamped with our key; else an unstamped one with the same INN+KPP is taken over; a
    requisite stamped for another record (a 1C duplicate sharing this company) is left alone.
    """
    if not party.inn:
        return (
            None  # a requisite is how a counterparty is recognised: without an ИНН there is nothing to keep
        )
    stamp = {"ORIGINATOR_ID": originator, "XML_ID": party.key}
    ours = next(
        (r for r in rows if r.get("XML_ID") == party.key and r.get("ORIGINATOR_ID") in (originator, *adopt)),
        None,
    )
    if ours is None:
        same = [
            r for r in rows if (r.get("RQ_INN") or "") == party.inn and (r.get("RQ_KPP") or "") == party.kpp
        ]
        free = next((r for r in same if not r.get("XML_ID")), None)
        if free is not None:
            return "update", str(free["ID"]), {**_differences(party.requisite, free), **stamp}
        if same:
            return None
        return "add", None, {**party.requisite, **stamp, "PRESET_ID": str(party.preset)}
    diff = _differences(party.requisite, ours)
    if ours.get("ORIGINATOR_ID") != originator:
        diff.update(stamp)  # an older release's stamp: ours now
    if "RQ_KPP" in ours and ours.get("RQ_KPP") and not party.kpp:
        diff["RQ_KPP"] = ""  # the КПП was cleared in 1C
    return ("update", str(ours["ID"]), diff) if diff else None


def _differences(wanted: Mapping[str, str], row: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in wanted.items() if str(row.get(k) or "") != v}


def new_values(kind: str, wanted: Iterable[str], present: Iterable[str]) -> list[str]:
    """Multifield values to add: ours that the entity does not carry yet (others' entries are never removed)."""
    norm = normalize_phone if kind == "PHONE" else normalize_email
    have = {norm(v) for v in present}
    out = []
    for v in wanted:
        if norm(v) not in have:
            have.add(norm(v))
            out.append(v)
    return out
