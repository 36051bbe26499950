"""Parts of a mapping file that describe one side or one feature: the external keys and 1C references of a target,
and a money flow's payments, reminders, overdue tasks and deal stages."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connector.mapping.conditions import Condition


class Strict(BaseModel):
    """A mapping section: unknown keys are errors (with a suggestion), never ignored."""

    model_config = ConfigDict(extra="forbid")


class ExternalKey(Strict):
    """The key we stamp on every object we create, so it can be found again after a lost reply."""

    originator_id: str | None = Field(
        None,
        description="the installation id stamped on our objects; leave it out to use the config's "
        "installation.id (docs/identity.md)",
    )
    originator_field: str = "ORIGINATOR_ID"
    field: str = "ORIGIN_ID"
    # Older stamps we adopt when our 1C base holds the object they point at; filled from the config.
    adopt: list[str] = Field(default_factory=list, exclude=True)

    @property
    def originators(self) -> list[str]:
        """Our id first, then the older stamps we adopt."""
        return [x for x in dict.fromkeys([self.originator_id or "", *self.adopt]) if x]


class OneCKey(Strict):
    """The attribute of a 1C object that carries our idempotency key (e.g. НомерПоДаннымКлиента = B24-123)."""

    field: str = "НомерПоДаннымКлиента"
    prefix: str = "B24-"


class ConstValue(Strict):
    """A fixed value (where a plain string would name a property)."""

    const: str | int | bool


class OneCPackaging(Strict):
    """A row's unit that is not the product's own but one of its 1C packagings (a box of 12): the row is written
    with the packaging and its count, its quantity in the product's own unit and its prices per that unit, so its
    amounts, VAT and the order's total stay the deal's."""

    by: str | list[str] = Field(
        ["Code", "Description"],
        description="the packaging's attributes compared with the row's unit, in order (the first that matches wins)",
    )
    owner: str = Field(
        "Owner",
        description="the packaging's composite owner: the product itself or the packaging set named by `set`",
    )
    set: str | None = Field(
        "НаборУпаковок_Key",
        description="the product's attribute naming its packaging set, whose packagings it uses too (null: only "
        "packagings the product owns)",
    )
    set_entity: str = Field("Catalog_НаборыУпаковок", description="the catalog of packaging sets")
    ratio: list[str] = Field(
        ["Числитель", "Знаменатель"],
        min_length=1,
        max_length=2,
        description="how many of the product's own units one packaging holds: numerator / denominator (one name: "
        "the coefficient itself)",
    )
    count: str = Field(
        "КоличествоУпаковок",
        description="the row field that gets the number of packagings (the row's quantity)",
    )
    quantity: str = Field(
        "Количество",
        description="the row field that gets the quantity in the product's own unit (count × coefficient, to 3 "
        "decimals)",
    )
    prices: list[str] = Field(
        ["Цена"],
        description="row fields holding a price per row unit: divided by the coefficient (per own unit, to kopecks)",
    )

    @property
    def attributes(self) -> list[str]:
        return [self.by] if isinstance(self.by, str) else list(self.by)


class OneCRef(Strict):
    """A 1C reference found by one of its attributes (Catalog_Валюты by Code "643"), resolved once and cached."""

    entity: str
    by: str | list[str] = Field(
        "Code",
        description="the attribute the mapped value is compared with, or several tried in order (a product by "
        "[Code, Артикул, Description]: the first attribute that matches wins)",
    )
    where: dict[str, str | bool] = Field(default_factory=dict, description="extra equalities")
    unit_of: str | None = Field(
        None,
        description="the value is a unit code (ОКЕИ, a deal row's MEASURE_CODE) of the product in this row field: "
        "the product's own unit (its ЕдиницаИзмерения_Key) leaves the field empty; another unit fails the row, "
        "never a quantity in the wrong unit",
    )
    packaging: OneCPackaging | None = Field(
        None,
        description="with unit_of: a unit that is one of the product's packagings in this catalog is written as "
        "the packaging (count, quantity in the own unit, price per own unit) instead of failing the row",
    )

    @model_validator(mode="after")
    def _packaging_needs_unit(self) -> OneCRef:
        if self.packaging is not None and not self.unit_of:
            raise ValueError("packaging works on a row's unit: give unit_of (the product's row field) too")
        return self

    @property
    def attributes(self) -> list[str]:
        return [self.by] if isinstance(self.by, str) else list(self.by)


class OneCDefault(Strict):
    """A fixed 1C reference for every created object (the organisation, the warehouse)."""

    entity: str
    where: dict[str, str | bool] = Field(min_length=1, description="equalities that find exactly one object")


class OneCDerive(Strict):
    """A value read from the object another field points to (the counterparty's partner)."""

    from_: str = Field(alias="from", description="the field holding the reference")
    entity: str
    property: str


class PaymentsSpec(Strict):
    """Where each 1C payment row goes: native deal payments, items of a smart process, or nowhere."""

    mode: Literal["native", "smart_process", "none"] = "native"
    entity_type_id: int | None = Field(None, description="smart_process: its entityTypeId (e.g. 1040)")
    title: str = Field("Оплата {number} от {date}", description="smart_process: the item title")

    @model_validator(mode="after")
    def _type(self) -> PaymentsSpec:
        if self.mode == "smart_process" and not self.entity_type_id:
            raise ValueError("payments.mode smart_process needs entity_type_id (see crm.type.list)")
        return self


class ReminderSpec(Strict):
    """A to-do for the deal's responsible manager at the date a payment is due; moved and closed as facts change."""

    date: str = Field("pay_due_date", description="the fact (or field) holding the date")
    title: str = "Ожидается оплата по заказу {Number}"
    description: str = "Остаток к оплате: {balance} из {amount}. Срок: {pay_due_date}."
    close_when: Condition = Field(
        default_factory=lambda: Condition.model_validate({"field": "fully_paid", "eq": True})
    )
    hour: int = Field(10, ge=0, le=23, description="the to-do's time of day (portal time)")
    max_age_days: int = Field(
        60,
        ge=0,
        description="no to-do for dates further in the past than this (a first "
        "backfill must not flood managers with ancient debts)",
    )


class OverdueSpec(Strict):
    """A task for a configured user (a lawyer, a collector) when a payment is overdue by this many days."""

    after_days: int = Field(30, ge=1)
    within_days: int = Field(
        30,
        ge=0,
        description="only while at most after_days + within_days overdue, so a "
        "first backfill does not open tasks for debts of years ago",
    )
    responsible_id: int = Field(description="the Bitrix24 user who gets the task")
    responsible_by_contract_kind: dict[str, int] = Field(
        default_factory=dict,
        description="the user who gets the task by the order's contract kind (money.contract), e.g. "
        "{Тендер: 17}; other kinds go to responsible_id",
    )
    title: str = "Просрочена оплата по заказу {Number}: {days_overdue} дн."
    description: str = "Остаток {balance} из {amount}, срок оплаты был {pay_due_date}."


class ContractSpec(Strict):
    """Where an order's contract kind is read: the fact contract_kind of stage rules and of the overdue task."""

    source: str = Field(
        "Договор_Key", description="the order's contract reference (БП: ДоговорКонтрагента_Key)"
    )
    kind: str = Field(
        pattern=r"^[^.\s]+\.[^.\s]+$",
        description="lookup_name.Field holding the kind, e.g. contracts.CRM_ТипДоговора (the lookup is declared "
        "under lookups: on Catalog_ДоговорыКонтрагентов)",
    )


class MoneySpec(Strict):
    """Money facts of an order onto the deal another flow created (paid, shipped, due, stage, payments)."""

    attach_to: str = Field("orders", description="the flow whose deal receives the facts")
    shipped_by: Literal["amount", "quantity"] = "amount"
    payments: PaymentsSpec = PaymentsSpec()
    reminder: ReminderSpec | None = None
    overdue: OverdueSpec | None = None
    contract: ContractSpec | None = Field(
        None, description="the order's contract kind as the fact contract_kind"
    )
    stages_backwards: bool = Field(False, description="let stage rules move a deal back (normally never)")


class StageSpec(Strict):
    """A deal stage this mapping needs; `b24-1c setup` creates it when the portal lacks it."""

    name: str
    sort: int = Field(500, description="position in the pipeline (existing stages are 10, 20, 30 …)")
    semantics: Literal["process", "success", "failure"] = "process"
