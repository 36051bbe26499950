"""A deal's client that 1C does not know yet: found in 1C by ИНН+КПП (ИНН alone for a 12-digit ИНН) or by our
marker, else made there (УТ/КА: its Партнер first), before the order that needs it (docs/identity.md).

The counterparty and the partner carry our marker `b24-1c <installation id> <company|contact> <id>` in a string
attribute (`target.client.marker`, Комментарий by default): a lookup after a crash or a lost reply finds them by
ИНН, or by name for a client without ИНН, and takes only one carrying the marker when the ИНН cannot decide. The
Bitrix24 company (or contact) is then stamped with ORIGINATOR_ID/ORIGIN_ID = the counterparty, as the
counterparties flow stamps what it adopts, so that flow links it instead of making a twin company.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.bitrix24.client import Bitrix24Client
from connector.crashpoints import crash_point
from connector.errors import RecordError
from connector.logs import get_logger
from connector.mapping.client import NewClient
from connector.onec.odata import ODataClient
from connector.onec.query import F, Guid

log = get_logger(__name__)
NAME_LENGTH = 100  # Наименование of Контрагенты and Партнеры in УТ 11 / БП 3.0
PHONE, EMAIL = "Телефон", "АдресЭлектроннойПочты"


@dataclass(frozen=True)
class Client:
    """The deal's company or contact as Bitrix24 holds it."""

    entity: str  # company | contact
    id: str
    title: str
    full_name: str
    inn: str
    kpp: str
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    originator: str
    origin: str

    @property
    def kind(self) -> str:
        if self.entity == "contact" and len(self.inn) != 12:
            return "person"
        return "entrepreneur" if len(self.inn) == 12 else "company"


def _multi(value: Any) -> tuple[str, ...]:
    rows = value if isinstance(value, list) else []
    return tuple(str(r.get("VALUE") or "").strip() for r in rows if isinstance(r, dict) and r.get("VALUE"))


def marker_of(originator: str | None, entity: str, entity_id: str) -> str:
    """Our mark on a counterparty or partner made from a Bitrix24 company or contact."""
    return f"b24-1c {originator or '-'} {entity} {entity_id}"


class ClientMaker:
    """Finds or makes the 1C counterparty of a deal's company or contact; one per Bitrix24 record per run."""

    def __init__(
        self, odata: ODataClient, bitrix24: Bitrix24Client, spec: NewClient, originator: str | None
    ) -> None:
        self.odata = odata
        self.bitrix24 = bitrix24
        self.spec = spec
        self.originator = originator
        self.f = F(odata.tz)
        self._made: dict[tuple[str, str], str] = {}

    def resolve(self, wanted: dict[str, str]) -> str:
        """The counterparty's Ref_Key for {"company": id} or {"contact": id}."""
        entity, entity_id = next(iter(wanted.items()))
        if (entity, entity_id) not in self._made:
            self._made[(entity, entity_id)] = self._resolve(self._read(entity, entity_id))
        return self._made[(entity, entity_id)]

    # -- Bitrix24 ---------------------------------------------------------------------------------------------

    def _read(self, entity: str, entity_id: str) -> Client:
        names = ["ID", "ORIGINATOR_ID", "ORIGIN_ID", "PHONE", "EMAIL"]
        names += ["TITLE"] if entity == "company" else ["NAME", "LAST_NAME", "SECOND_NAME"]
        reply = self.bitrix24.batch(
            {
                "entity": (f"crm.{entity}.list", {"filter": {"ID": entity_id}, "select": names}),
                "requisite": (
                    "crm.requisite.list",
                    {
                        "filter": {"ENTITY_TYPE_ID": 4 if entity == "company" else 3, "ENTITY_ID": entity_id},
                        "select": ["ID", "RQ_INN", "RQ_KPP", "RQ_COMPANY_FULL_NAME", "RQ_COMPANY_NAME"],
                        "order": {"ID": "ASC"},
                    },
                ),
            }
        )
        rows = reply.result.get("entity") or []
        if not rows:
            raise RecordError(f"the deal's {entity} {entity_id} does not exist in Bitrix24 (deleted?)")
        row = rows[0]
        requisites = [r for r in reply.result.get("requisite") or [] if str(r.get("RQ_INN") or "").strip()]
        req = requisites[0] if requisites else {}
        if entity == "company":
            title = str(row.get("TITLE") or "").strip()
        else:
            parts = (row.get(n) for n in ("LAST_NAME", "NAME", "SECOND_NAME"))
            title = " ".join(str(p).strip() for p in parts if p and str(p).strip())
        if not title:
            raise RecordError(
                f"the deal's {entity} {entity_id} has no name; 1C needs one for the counterparty"
            )
        inn = "".join(ch for ch in str(req.get("RQ_INN") or "") if ch.isdigit())
        return Client(
            entity,
            entity_id,
            title,
            str(req.get("RQ_COMPANY_FULL_NAME") or "").strip() or title,
            inn,
            str(req.get("RQ_KPP") or "").strip() if len(inn) == 10 else "",
            _multi(row.get("PHONE")),
            _multi(row.get("EMAIL")),
            str(row.get("ORIGINATOR_ID") or ""),
            str(row.get("ORIGIN_ID") or ""),
        )

    def _stamp(self, client: Client, ref: str) -> None:
        """Stamp the company or contact like the counterparties flow stamps what it adopts (never over a stamp
        that names something else)."""
        if client.origin == ref and client.originator == self.originator:
            return
        if client.origin and client.origin != ref:
            return  # stamped for another record (by anyone): never taken over
        if not self.originator:
            return
        self.bitrix24.call(
            f"crm.{client.entity}.update",
            {
                "id": client.id,
                # "adopted": a manager's record; the counterparties flow keeps its title (docs/identity.md)
                "fields": {"ORIGINATOR_ID": self.originator, "ORIGIN_ID": ref, "ORIGIN_VERSION": "adopted"},
            },
            write=True,
        )

    # -- 1C ---------------------------------------------------------------------------------------------------

    def _resolve(self, client: Client) -> str:
        marker = marker_of(self.originator, client.entity, client.id)
        ref = self._stamped(client) or self._find(self.spec.entity, client, marker)
        if ref is None:
            self._check(client)
            if len(client.title) > NAME_LENGTH:  # never silent; the whole name goes to НаименованиеПолное
                log.warning(
                    "client name cut to 1C's Наименование length",
                    record=f"{client.entity} {client.id}",
                    field="Description",
                    length=len(client.title),
                    kept=NAME_LENGTH,
                )
            partner = self._partner(client, marker) if self.spec.partner else None
            body: dict[str, Any] = {
                "Description": client.title[:NAME_LENGTH],
                "НаименованиеПолное": client.full_name,
                "ИНН": client.inn,
                "КПП": client.kpp,
                self.spec.legal_form: self.spec.forms.get(client.kind, ""),
                self.spec.marker: marker,
            }
            if partner:
                body[self.spec.partner_field] = partner
            if self.spec.contacts:
                body[self.spec.contacts] = self._contact_rows(client)
            ref = str(self.odata.create(self.spec.entity, body)["Ref_Key"])
        crash_point("client-made")
        self._stamp(client, ref)
        return ref

    @staticmethod
    def _check(client: Client) -> None:
        """What 1C must not receive: a legal entity without its ИНН, or an ИНН of the wrong length."""
        if client.entity == "company" and not client.inn:
            raise RecordError(
                f"the deal's company {client.id} «{client.title}» has no ИНН in its requisites; 1C needs it to "
                "make the counterparty: fill in the requisite (ИНН, and КПП for a legal entity)"
            )
        if client.inn and len(client.inn) not in (10, 12):
            raise RecordError(
                f"the deal's {client.entity} {client.id} has ИНН {client.inn!r}: 10 digits (a legal entity) or 12 "
                "(an entrepreneur or a person) expected; fix the requisite"
            )

    def _stamped(self, client: Client) -> str | None:
        """A company the counterparties flow made or adopted carries its counterparty's key (the ledger may have
        lost the link): used when that counterparty still exists."""
        if not client.origin or client.originator != self.originator:
            return None
        found = self.odata.by_refs(self.spec.entity, [client.origin], select=["Ref_Key", "DeletionMark"])
        row = found.get(client.origin)
        return client.origin if row and not row.get("DeletionMark") else None

    def _find(self, entity: str, client: Client, marker: str) -> str | None:
        """By ИНН (+КПП for a 10-digit ИНН when the company has one); without ИНН by name and our marker only."""
        select = ["Ref_Key", "Code", "DeletionMark", self.spec.marker]
        if entity == self.spec.entity and client.inn:
            flt = self.f.and_(self.f.eq("ИНН", client.inn), self.f.eq("DeletionMark", False))
            rows = self.odata.query(entity, filter=flt, select=[*select, "ИНН", "КПП"])
            if client.kpp:
                rows = [r for r in rows if str(r.get("КПП") or "").strip() == client.kpp]
        else:
            flt = self.f.and_(
                self.f.eq("Description", client.title[:NAME_LENGTH]), self.f.eq("DeletionMark", False)
            )
            rows = self.odata.query(entity, filter=flt, select=select)
            rows = [r for r in rows if marker in str(r.get(self.spec.marker) or "")]
        if not rows:
            return None
        ours = [r for r in rows if marker in str(r.get(self.spec.marker) or "")]
        best = sorted(ours or rows, key=lambda r: str(r.get("Code") or ""))[0]
        return str(best["Ref_Key"])

    def _partner(self, client: Client, marker: str) -> str:
        assert self.spec.partner is not None
        partner = self._find(self.spec.partner, client, marker)  # by name and our marker: one we made
        if partner is None:
            partner = self._new_partner(client, marker)
        if self.spec.contact_persons and client.entity == "company":
            self._contact_persons(client, partner)
        return partner

    def _contact_persons(self, client: Client, partner: str) -> None:
        """The company's Bitrix24 contacts as contact persons of the partner we made, one per name (a run that
        died half-way adds only the missing ones)."""
        assert self.spec.contact_persons is not None
        names = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "POST", "PHONE", "EMAIL"]
        people = self.bitrix24.call(
            "crm.contact.list", {"filter": {"COMPANY_ID": client.id}, "select": names, "order": {"ID": "ASC"}}
        ).result
        flt = self.f.eq("Owner_Key", Guid(partner))
        there = {
            str(r.get("Description") or "").strip()
            for r in self.odata.query(
                self.spec.contact_persons, filter=flt, select=["Ref_Key", "Description"]
            )
        }
        for person in people or []:
            parts = (person.get(n) for n in ("LAST_NAME", "NAME", "SECOND_NAME"))
            name = " ".join(str(p).strip() for p in parts if p and str(p).strip())[:NAME_LENGTH]
            if not name or name in there:
                continue
            phones, emails = _multi(person.get("PHONE")), _multi(person.get("EMAIL"))
            rows = [{"Тип": PHONE, "Представление": p, "НомерТелефона": p} for p in phones]
            rows += [{"Тип": EMAIL, "Представление": e, "АдресЭП": e} for e in emails]
            body: dict[str, Any] = {
                "Description": name,
                "Owner_Key": partner,
                "ДолжностьПоВизитке": str(person.get("POST") or ""),
                self.spec.marker: marker_of(self.originator, "contact", str(person.get("ID"))),
            }
            if self.spec.contacts:
                body[self.spec.contacts] = rows
            self.odata.create(self.spec.contact_persons, body)
            there.add(name)

    def _new_partner(self, client: Client, marker: str) -> str:
        assert self.spec.partner is not None
        body: dict[str, Any] = {
            "Description": client.title[:NAME_LENGTH],
            "НаименованиеПолное": client.full_name,
            "Клиент": True,
            "ЮрФизЛицо": self.spec.partner_forms.get(client.kind, ""),
            self.spec.marker: marker,
        }
        if self.spec.contacts:
            body[self.spec.contacts] = self._contact_rows(client)
        made = str(self.odata.create(self.spec.partner, body)["Ref_Key"])
        crash_point("partner-made")
        return made

    @staticmethod
    def _contact_rows(client: Client) -> list[dict[str, str]]:
        rows = [{"Тип": PHONE, "Представление": p, "НомерТелефона": p} for p in client.phones]
        rows += [{"Тип": EMAIL, "Представление": e, "АдресЭП": e} for e in client.emails]
        return rows
