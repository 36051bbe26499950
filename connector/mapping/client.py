"""The mapping's `target.client` (deals → 1C orders): how a deal's client that 1C does not know yet is made there."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NEW_CLIENT = (
    "@client"  # a mapped value {NEW_CLIENT: {"company": id} or {"contact": id}}: the target finds or makes it
)


class NewClient(BaseModel):
    """Bitrix24 → 1C: a deal whose company (or, without one, contact) has no 1C counterparty yet gets one first
    (УТ/КА: with its Партнер), after a lookup by ИНН+КПП (ИНН alone for a 12-digit ИНН); both carry our marker
    (docs/identity.md), so a crash between making them and making the order never leaves a twin."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field("Контрагент_Key", description="the order's field that receives the counterparty")
    company: str = Field("COMPANY_ID", description="the deal's company field")
    contact: str = Field("CONTACT_ID", description="the deal's contact field, used when it has no company")
    entity: str = "Catalog_Контрагенты"
    partner: str | None = Field(
        "Catalog_Партнеры", description="УТ/КА: the partner catalog (null for БП 3.0, which has none)"
    )
    partner_field: str = Field("Партнер_Key", description="the counterparty's reference to its partner")
    marker: str = Field(
        "Комментарий",
        description="a string attribute of the counterparty and the partner that receives our marker "
        "`b24-1c <installation id> <company|contact> <id>`",
    )
    legal_form: str = Field("ЮрФизЛицо", description="the counterparty's legal form attribute")
    forms: dict[str, str] = Field(
        default_factory=lambda: {
            "company": "ЮрЛицо",
            "entrepreneur": "ИндивидуальныйПредприниматель",
            "person": "ФизЛицо",
        },
        description="legal form values by kind (company: 10-digit ИНН, entrepreneur: 12-digit ИНН, person)",
    )
    partner_forms: dict[str, str] = Field(
        default_factory=lambda: {"company": "Компания", "entrepreneur": "Компания", "person": "ЧастноеЛицо"},
        description="the partner's ЮрФизЛицо by kind",
    )
    contact_persons: str | None = Field(
        "Catalog_КонтактныеЛицаПартнеров",
        description="УТ/КА: the catalog the company's Bitrix24 contacts become contact persons of the partner in "
        "(Owner_Key = the partner we made; one per name); null to leave them out",
    )
    contacts: str | None = Field(
        "КонтактнаяИнформация",
        description="the tabular section for phones and e-mails (Тип = Телефон | АдресЭлектроннойПочты, "
        "Представление); null where the catalog has none",
    )


def client_spec(target: object) -> NewClient | None:
    """`target.client` of a mapping's target spec (None when not configured)."""
    found = getattr(target, "client", None)
    return found if isinstance(found, NewClient) else None
