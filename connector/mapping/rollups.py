"""The `rollups:` section of a mapping: a counterparty's totals from 1C onto its Bitrix24 company, and dormancy."""

from __future__ import annotations

from pydantic import Field

from connector.mapping.specs import Strict

# The facts a rollups record carries (connector/flows/rollups/model.py computes them; a unit test keeps both equal).
ROLLUP_FACTS = (
    "Description",
    "orders_count",
    "first_order_date",
    "last_order_date",
    "lifetime_amount",
    "lifetime_paid",
    "open_debt",
    "months_since_last_order",
    "dormant",
    "dormant_since",
)


class DormantTask(Strict):
    """A task when a client becomes dormant: one per company and dormancy, stamped so it is never made twice."""

    responsible_id: int | None = Field(
        None, description="the Bitrix24 user who gets the task; empty: the company's responsible manager"
    )
    title: str = "Клиент {Description} без заказов {months_since_last_order} мес."
    description: str = (
        "Последний заказ {last_order_date}, всего заказов {orders_count}, оплачено за всё время {lifetime_paid}. "
        "Свяжитесь с клиентом."
    )
    deadline_days: int = Field(7, ge=1, description="the task's deadline, in days after it is made")
    within_days: int = Field(
        30,
        ge=0,
        description="only while the client has been dormant at most this many days, so a first run over years of "
        "history does not open a task for every client who left long ago",
    )


class RollupSpec(Strict):
    """Totals over a counterparty's posted 1C orders and their payments and shipments, written to the company the
    `attach_to` flow made (found by its ORIGINATOR_ID + ORIGIN_ID stamp), and whether the client is dormant."""

    attach_to: str = Field("counterparties", description="the flow whose company receives the totals")
    dormant_after_months: int = Field(
        6, ge=1, description="no order for this many months: the client is dormant"
    )
    task: DormantTask | None = Field(None, description="a task for the manager when a client becomes dormant")
