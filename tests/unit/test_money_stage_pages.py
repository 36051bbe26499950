"""crm.status.list pages by 50 over every directory (its docs page says so): the money flow's stage order must come
from every page, or on a portal with many lead sources or other directories sorted first the deal stages are missing
and the never-backwards rule cannot tell one stage from another."""

from __future__ import annotations

from typing import Any

from connector.flows.money.context import MoneyReader
from connector.flows.money.reads import Answers


def status(entity: str, sid: str, sort: int) -> dict[str, Any]:
    return {"ENTITY_ID": entity, "STATUS_ID": sid, "SORT": str(sort)}


class Client:
    """The rest of the directory, as `list_all` reads it page by page."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[str] = []

    def list_all(self, method: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append(method)
        return self.rows


def reader(client: Client) -> MoneyReader:
    made = MoneyReader.__new__(MoneyReader)
    made.client = client  # type: ignore[assignment]
    made._stages = None
    return made


def test_the_stages_are_read_past_the_first_page() -> None:
    sources = [status("SOURCE", f"S{n}", 1) for n in range(60)]
    stages = [status("DEAL_STAGE", "EXECUTING", 40), status("DEAL_STAGE", "FINAL_INVOICE", 50)]
    client = Client(sources + stages)
    first = Answers(results={"stages": sources[:50]}, more={"stages"})
    order = reader(client)._stages_from(first)
    assert order == {"EXECUTING": 40, "FINAL_INVOICE": 50}
    assert client.calls == ["crm.status.list"]


def test_a_directory_that_fits_one_page_is_not_read_again() -> None:
    stages = [status("DEAL_STAGE", "NEW", 10), status("DEAL_STAGE_1", "C1:NEW", 10)]
    client = Client([])
    order = reader(client)._stages_from(Answers(results={"stages": stages}))
    assert order == {"NEW": 10, "C1:NEW": 10} and client.calls == []
