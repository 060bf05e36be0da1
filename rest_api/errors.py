"""Every error the API answers with; each has a stable ``code`` and an HTTP status."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Root of every error the API turns into ``{"error": {"code", "message"}}``."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON error object."""
        return {"error": {"code": self.code, "message": self.message}}

    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. Retry-After)."""
        return {}


class BadParameter(ApiError):
    """A query or path parameter that is missing, malformed or out of range; names it."""

    status = 400
    code = "bad_parameter"

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter

    def body(self) -> dict[str, Any]:
        """The JSON error object, with the offending parameter."""
        body = super().body()
        body["error"]["parameter"] = self.parameter
        return body


class NotFound(ApiError):
    """An unknown game, market or route."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """A known route asked with a method it does not serve."""

    status = 405
    code = "method_not_allowed"


class RateLimited(ApiError):
    """The client made more requests in the window than the limit allows."""

    status = 429
    code = "rate_limited"

    def __init__(self, limit: int, window_s: float, retry_after_s: float) -> None:
        super().__init__(f"more than {limit} requests in {window_s:g} s; retry later")
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        """Retry-After in whole seconds (at least 1)."""
        return {"Retry-After": str(max(1, int(self.retry_after_s + 0.999)))}


class DatabaseUnavailable(ApiError):
    """The database cannot be reached or did not answer in time."""

    status = 503
    code = "database_unavailable"


# Every error status the API can answer with, and its code: the OpenAPI document lists these.
ERRORS: tuple[type[ApiError], ...] = (
    BadParameter,
    NotFound,
    MethodNotAllowed,
    RateLimited,
    DatabaseUnavailable,
    ApiError,
)
