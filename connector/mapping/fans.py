"""The `fans:` section of a mapping: deals from different dealers for one end customer or project ("веерные заказы")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connector.mapping.specs import Strict

# The facts a fans record carries (connector/flows/fans/model.py computes them).
FAN_FACTS = ("fan", "fan_deals", "fan_group", "fan_size")


class FanTask(Strict):
    """One task per fan group for the product manager, who decides which dealer keeps the reservation."""

    responsible_id: int = Field(description="the Bitrix24 user who gets the task (the product manager)")
    title: str = "Веерный заказ: {fan_size} сделки разных дилеров"
    description: str = (
        "Сделки {fan_deals_all}: один конечный заказчик или проект. Решите, за кем оставить бронь."
    )
    deadline_days: int = Field(2, ge=1, description="the task's deadline, in days after it is made")


class FanSpec(Strict):
    """How deals are grouped into a fan: by an end-customer ИНН field, or by the same products and quantities
    within `window_days`; a group counts when its deals come from at least two dealers (`dealer_field`)."""

    by: Literal["inn", "rows"] = Field("rows", description="inn: the end-customer ИНН field; rows: products")
    inn_field: str = Field(
        "UF_CRM_END_CUSTOMER_INN", description="the deal field holding the end customer's ИНН"
    )
    window_days: int = Field(
        30, ge=1, description="deals created at most this many days after the group's first"
    )
    lookback_days: int = Field(
        60, ge=1, description="deals created this many days back are compared each run"
    )
    dealer_field: str = Field("COMPANY_ID", description="who the dealer is: deals of one dealer are no fan")
    task: FanTask | None = Field(None, description="a task for the product manager, once per fan group")
