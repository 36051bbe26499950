"""Error envelopes exactly as portals send them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A REST error: HTTP status, `error` code (may be "" or an int) and `error_description`."""

    def __init__(self, status: int, code: str | int, description: str, **extra: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.status = status
        self.code = code
        self.description = description
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def legacy(description: str) -> ApiError:
    """Legacy crm.* errors: HTTP 400 with an empty-string code."""
    return ApiError(400, "", description)


NOT_FOUND = "Not found"
BAD_ID = "ID is not defined or invalid"
QUERY_LIMIT = ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
OPERATION_LIMIT = ApiError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
OVERLOAD = ApiError(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload")
METHOD_NOT_FOUND = ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
INVALID_CREDENTIALS = ApiError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
NO_AUTH = ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
HTTPS_REQUIRED = ApiError(400, "INVALID_REQUEST", "Https required.")


def insufficient_scope(via: str = "webhook") -> ApiError:
    return ApiError(401, "insufficient_scope",
                    f"The request requires higher privileges than provided by the {via} token")
