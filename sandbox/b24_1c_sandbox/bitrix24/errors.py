"""Error envelopes exactly as portals send them (reference §2.2-2.3)."""

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
        """The JSON error body."""
        return {"error": self.code, "error_description": self.description, **self.extra}


def legacy(description: str) -> ApiError:
    """Legacy crm.* errors: HTTP 400 with an empty-string code."""
    return ApiError(400, "", description)


def item_not_found() -> ApiError:
    """`crm.item.*` and friends: 400 NOT_FOUND."""
    return ApiError(400, "NOT_FOUND", "Element not found")


def payment_error(code: int, description: str) -> ApiError:
    """`crm.item.payment.*` errors carry integer codes: 0 (generic/access) and 100 (required fields)."""
    return ApiError(400, code, description)


def argument(description: str, name: str) -> ApiError:
    """An ERROR_ARGUMENT built from an ArgumentException names the parameter."""
    return ApiError(400, "ERROR_ARGUMENT", description, argument=name)


NOT_FOUND = "Not found"
BAD_ID = "ID is not defined or invalid"
QUERY_LIMIT = ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
OPERATION_LIMIT = ApiError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
OVERLOAD = ApiError(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload")
INTERNAL = ApiError(500, "INTERNAL_SERVER_ERROR", "Internal server error")
METHOD_NOT_FOUND = ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
INVALID_CREDENTIALS = ApiError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
NO_AUTH = ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
HTTPS_REQUIRED = ApiError(400, "INVALID_REQUEST", "Https required.")
EXPIRED_TOKEN = ApiError(401, "expired_token", "The access token provided has expired")
# The exact text of invalid_token is not documented (reference §1.2).
INVALID_TOKEN = ApiError(401, "invalid_token", "The access token provided is invalid")
APP_CONTEXT_REQUIRED = ApiError(403, "ACCESS_DENIED", "Application context required")
ACCESS_DENIED = ApiError(403, "ACCESS_DENIED", "Access denied!")
BATCH_NOT_ALLOWED = ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage")
BATCH_TOO_LONG = ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")


def insufficient_scope(via: str = "webhook", status: int = 401) -> ApiError:
    """A method outside the granted scopes; the text names the kind of token."""
    return ApiError(
        status,
        "insufficient_scope",
        f"The request requires higher privileges than provided by the {via} token",
    )
