"""1C OData error bodies: {"odata.error": {"code": "9", "message": {"lang": "ru", "value": "…"}}}."""

from __future__ import annotations

from typing import Any


class ODataError(Exception):
    """An OData error with 1C's internal code (a string) and Russian text."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"odata.error": {"code": self.code, "message": {"lang": "ru", "value": self.message}}}


def not_found() -> ODataError:
    return ODataError(404, "9", "Экземпляр сущности не найден")


def not_published(name: str) -> ODataError:
    return ODataError(404, "6", f"Неверный адрес ресурса: {name}")
