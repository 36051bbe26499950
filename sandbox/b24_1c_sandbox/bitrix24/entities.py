"""CRM entity types and their fields: one store per type, two views (legacy UPPER_CASE strings, camelCase typed).

Records are stored once, in the legacy shape (UPPER_CASE keys, string scalars, null for empty links), so a deal
written through `crm.deal.*` and read through `crm.item.*` (entityTypeId 2) is the same object.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_COMMON: dict[str, str] = {
    "ID": "integer",
    "TITLE": "string",
    "ASSIGNED_BY_ID": "user",
    "CREATED_BY_ID": "user",
    "MODIFY_BY_ID": "user",
    "DATE_CREATE": "datetime",
    "DATE_MODIFY": "datetime",
    "OPENED": "char",
    "COMMENTS": "string",
    "ORIGINATOR_ID": "string",
    "ORIGIN_ID": "string",
    "ORIGIN_VERSION": "string",
    "LAST_ACTIVITY_TIME": "datetime",
    "LAST_ACTIVITY_BY": "user",
}
_MONEY: dict[str, str] = {
    "OPPORTUNITY": "double",
    "IS_MANUAL_OPPORTUNITY": "char",
    "TAX_VALUE": "double",
    "CURRENCY_ID": "crm_currency",
}
_STAGED: dict[str, str] = {
    "CATEGORY_ID": "crm_category",
    "STAGE_ID": "crm_status",
    "STAGE_SEMANTIC_ID": "string",
    "MOVED_BY_ID": "user",
    "MOVED_TIME": "datetime",
    "BEGINDATE": "date",
    "CLOSEDATE": "date",
    "CLOSED": "char",
}

DEAL_FIELDS: dict[str, str] = {
    **_COMMON,
    **_MONEY,
    **_STAGED,
    "TYPE_ID": "crm_status",
    "IS_NEW": "char",
    "IS_RECURRING": "char",
    "IS_RETURN_CUSTOMER": "char",
    "IS_REPEATED_APPROACH": "char",
    "PROBABILITY": "integer",
    "COMPANY_ID": "crm_company",
    "CONTACT_ID": "crm_contact",
    "QUOTE_ID": "crm_quote",
    "SOURCE_ID": "crm_status",
    "SOURCE_DESCRIPTION": "string",
    "LEAD_ID": "crm_lead",
    "ADDITIONAL_INFO": "string",
    "LOCATION_ID": "location",
    "UTM_SOURCE": "string",
    "UTM_MEDIUM": "string",
    "UTM_CAMPAIGN": "string",
    "UTM_CONTENT": "string",
    "UTM_TERM": "string",
    "LAST_COMMUNICATION_TIME": "string",  # null in the crm.deal.get capture (see EMPTY_AS)
}
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM")
UTM = ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM")
COMPANY_FIELDS: dict[str, str] = {
    **_COMMON,
    "COMPANY_TYPE": "crm_status",
    "INDUSTRY": "crm_status",
    "REVENUE": "double",
    "CURRENCY_ID": "crm_currency",
    "EMPLOYEES": "crm_status",
    "IS_MY_COMPANY": "char",
    "ADDRESS": "string",
    "HAS_PHONE": "char",
    "HAS_EMAIL": "char",
    # The rest of the keys a real crm.company.get returns (api-reference/crm/companies/crm-company-get.md).
    "LOGO": "file",
    "LEAD_ID": "crm_lead",
    "HAS_IMOL": "char",
    "BANKING_DETAILS": "string",
    "ORIGIN_VERSION": "string",
    **dict.fromkeys(
        [
            f"{prefix}{part}"
            for prefix in ("ADDRESS", "REG_ADDRESS")
            for part in ("_2", "_CITY", "_POSTAL_CODE", "_REGION", "_PROVINCE", "_COUNTRY", "_COUNTRY_CODE")
        ],
        "string",
    ),
    "ADDRESS_LOC_ADDR_ID": "integer",
    "ADDRESS_LEGAL": "string",
    "REG_ADDRESS": "string",
    "REG_ADDRESS_LOC_ADDR_ID": "integer",
    "LAST_COMMUNICATION_TIME": "string",
    **dict.fromkeys(UTM, "string"),
    **dict.fromkeys(MULTIFIELDS, "crm_multifield"),
}
CONTACT_FIELDS: dict[str, str] = {
    **_COMMON,
    "NAME": "string",
    "LAST_NAME": "string",
    "SECOND_NAME": "string",
    "HONORIFIC": "crm_status",
    "POST": "string",
    "TYPE_ID": "crm_status",
    "SOURCE_ID": "crm_status",
    "COMPANY_ID": "crm_company",
    "BIRTHDATE": "date",
    **dict.fromkeys(UTM, "string"),  # writable per crm.contact.add
    "HAS_PHONE": "char",
    "HAS_EMAIL": "char",
    **dict.fromkeys(MULTIFIELDS, "crm_multifield"),
}
INVOICE_FIELDS: dict[str, str] = {
    **_COMMON,
    **_MONEY,
    **_STAGED,
    "ACCOUNT_NUMBER": "string",
    "XML_ID": "string",
    "PREVIOUS_STAGE_ID": "crm_status",
    "COMPANY_ID": "crm_company",
    "CONTACT_ID": "crm_contact",
    "MYCOMPANY_ID": "crm_company",
    "PARENT_ID_2": "crm_entity",
}
DYNAMIC_FIELDS: dict[str, str] = {
    **_COMMON,
    **_MONEY,
    **_STAGED,
    "XML_ID": "string",
    "PREVIOUS_STAGE_ID": "crm_status",
    "COMPANY_ID": "crm_company",
    "CONTACT_ID": "crm_contact",
    "MYCOMPANY_ID": "crm_company",
    "PARENT_ID_2": "crm_entity",
    "PARENT_ID_31": "crm_entity",
}
# Empty fields as portals return them in legacy crm.*.get/list: "0" or "", never null. Sources (real responses):
# deal: bitrix-tools/b24-rest-docs tutorials/crm/how-to-edit-crm-objects/how-to-set-paid-date-to-deal.md at
# b98534c4 (crm.deal.get of a deal without a company: COMPANY_ID "0", PROBABILITY "0", COMMENTS "", SOURCE_ID "",
# SOURCE_DESCRIPTION "", MOVED_BY_ID "0"; LEAD_ID, QUOTE_ID, ADDITIONAL_INFO, LOCATION_ID, ORIGIN*, UTM_* stay null);
# company: api-reference/crm/companies/crm-company-get.md (COMMENTS ""; LEAD_ID, ORIGIN*, ADDRESS*, UTM_* null);
# contact: api-reference/crm/leads/crm-lead-list.md shows the same COMPANY_ID "0" of the shared CRM entity base.
EMPTY_AS: dict[int, dict[str, str]] = {
    2: {
        "COMPANY_ID": "0",
        "PROBABILITY": "0",
        "COMMENTS": "",
        "SOURCE_ID": "",
        "SOURCE_DESCRIPTION": "",
        "MOVED_BY_ID": "0",
    },
    3: {"COMPANY_ID": "0"},
    4: {"COMMENTS": ""},
}

READ_ONLY = {
    "ID",
    "STAGE_SEMANTIC_ID",
    "IS_NEW",
    "CREATED_BY_ID",
    "MODIFY_BY_ID",
    "MOVED_BY_ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "MOVED_TIME",
    "LAST_ACTIVITY_TIME",
    "LAST_ACTIVITY_BY",
    "CLOSED",
    "HAS_PHONE",
    "HAS_EMAIL",
    "HAS_IMOL",
    "LAST_COMMUNICATION_TIME",
    "PREVIOUS_STAGE_ID",
}


@dataclass(frozen=True)
class EntityType:
    """One CRM entity type: its store, names, UF entity and fields."""

    id: int
    store: str
    name: str
    abbr: str
    uf_entity: str
    fields: dict[str, str] = field(default_factory=dict)
    uf_camel_prefix: str = "ufCrm_"
    uf_prefix: str = "UF_CRM_"
    events: str = ""  # event name stem: ONCRMDEAL, ONCRMDYNAMICITEM...
    payments: bool = False

    @property
    def staged(self) -> bool:
        """Has pipelines and stages."""
        return "STAGE_ID" in self.fields


TYPES: dict[int, EntityType] = {
    t.id: t
    for t in (
        EntityType(2, "deal", "DEAL", "D", "CRM_DEAL", DEAL_FIELDS, events="ONCRMDEAL", payments=True),
        EntityType(3, "contact", "CONTACT", "C", "CRM_CONTACT", CONTACT_FIELDS, events="ONCRMCONTACT"),
        EntityType(4, "company", "COMPANY", "CO", "CRM_COMPANY", COMPANY_FIELDS, events="ONCRMCOMPANY"),
        EntityType(
            31,
            "smart_invoice",
            "SMART_INVOICE",
            "SI",
            "CRM_SMART_INVOICE",
            INVOICE_FIELDS,
            uf_camel_prefix="ufCrm_SMART_INVOICE_",
            uf_prefix="UF_CRM_SMART_INVOICE_",
            events="ONCRMDYNAMICITEM",
            payments=True,
        ),
        EntityType(
            1038,
            "dynamic_1038",
            "DYNAMIC_1038",
            "T40e",
            "CRM_1",
            DYNAMIC_FIELDS,
            uf_camel_prefix="ufCrm1_",
            uf_prefix="UF_CRM_1_",
            events="ONCRMDYNAMICITEM",
        ),
    )
}
BY_STORE: dict[str, EntityType] = {t.store: t for t in TYPES.values()}
BY_ABBR: dict[str, EntityType] = {t.abbr: t for t in TYPES.values()}
# Known to the portal but not served by crm.item.* (old invoices) or not emulated (leads, quotes...).
UNSUPPORTED = {5: "ENTITY_TYPE_NOT_SUPPORTED"}

_CAMEL_EXCEPTIONS = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "MOVED_BY_ID": "movedBy",
    "ID": "id",
}
_UPPER_EXCEPTIONS = {v: k for k, v in _CAMEL_EXCEPTIONS.items()}
_INT_TYPES = {
    "integer",
    "user",
    "crm_company",
    "crm_contact",
    "crm_category",
    "crm_entity",
    "crm_lead",
    "crm_quote",
    "location",
    "employee",
}
_FILTER_TYPES = {
    "crm_entity": "integer",
    "crm_lead": "integer",
    "crm_quote": "integer",
    "location": "integer",
    "crm_multifield": "string",
    "money": "string",
    "url": "string",
    "file": "string",
    "employee": "user",
    "address": "string",
    "crm": "string",
    "iblock_element": "integer",
    "iblock_section": "integer",
}


def to_camel(name: str, et: EntityType) -> str:
    """UPPER_CASE field name → crm.item camelCase name (UF names get the type's ufCrm prefix)."""
    if name in _CAMEL_EXCEPTIONS:
        return _CAMEL_EXCEPTIONS[name]
    if name.startswith(et.uf_prefix):
        return et.uf_camel_prefix + name[len(et.uf_prefix) :]
    head, *rest = name.lower().split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def camel_map(et: EntityType, uf_names: list[str]) -> dict[str, str]:
    """camelCase name → UPPER name for every field of a type, UFs included."""
    return {to_camel(n, et): n for n in [*et.fields, *uf_names]}


def from_camel(name: str, et: EntityType, known: dict[str, str]) -> str | None:
    """A camelCase (or UPPER, or original UF) input name → the stored UPPER name; None if unknown."""
    if name in known:
        return known[name]
    upper = name.upper()
    if upper in et.fields or upper.startswith("UF_"):
        return upper
    if name in _UPPER_EXCEPTIONS:
        return _UPPER_EXCEPTIONS[name]
    lowered = {k.lower(): v for k, v in known.items()}
    return lowered.get(name.lower())


def filter_type(kind: str) -> str:
    """A field type as the filter engine knows it."""
    return _FILTER_TYPES.get(kind, kind if kind in _TYPED_OK else "string")


_TYPED_OK = {
    "integer",
    "double",
    "string",
    "char",
    "date",
    "datetime",
    "boolean",
    "crm_status",
    "crm_company",
    "crm_contact",
    "user",
    "crm_currency",
    "crm_category",
    "enumeration",
}


def typed(value: Any, kind: str) -> Any:
    """A stored (string) value as crm.item.* returns it: ints, floats, strings; lists stay lists."""
    if isinstance(value, list):
        return [typed(v, kind) for v in value]
    if value is None or value == "":
        return None if kind in _INT_TYPES or kind == "double" else value
    if kind in _INT_TYPES or kind == "enumeration":
        try:
            return int(str(value))
        except ValueError:
            return value
    if kind == "double":
        try:
            number = float(str(value))
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def as_str(value: Any) -> str | None:
    """A scalar as the legacy API stores it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def money(value: Any) -> str:
    """Amounts are strings with two decimals."""
    try:
        return f"{float(str(value).replace(',', '.') or 0):.2f}"
    except ValueError:
        return "0.00"


UF_NAME = re.compile(r"^UF_CRM_[A-Z0-9_]+$")
