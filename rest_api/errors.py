"""Every error the API answers with: a stable ``code``, an HTTP status and a description."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rest_api.bodies import Error


class ApiError(Exception):
    """Root of every error the API turns into ``{"error": {"code", "message"}}``."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    # What the OpenAPI document says of this status, and of the headers it adds.
    description: ClassVar[str] = (
        "Unexpected failure (no details are exposed); the server closes the connection after it."
    )
    header_docs: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> Error:
        """The JSON error object."""
        return {"error": {"code": self.code, "message": self.message}}

    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. Retry-After)."""
        return {}


class BadParameter(ApiError):
    """A query or path parameter that is missing, malformed or out of range; names it."""

    status = 400
    code = "bad_parameter"
    description = "A parameter is missing, malformed or out of range (error.parameter names it)."

    def __init__(self, parameter: str, reason: str) -> None:
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter

    def body(self) -> Error:
        """The JSON error object, with the offending parameter."""
        body = super().body()
        body["error"]["parameter"] = self.parameter
        return body


class NotFound(ApiError):
    """An unknown game, market or route."""

    status = 404
    code = "not_found"
    description = "Unknown id or route."


class MethodNotAllowed(ApiError):
    """A known route asked with a method it does not serve; says which it does."""

    status = 405
    code = "method_not_allowed"
    description = "The route does not serve this method; Allow lists those it does."
    header_docs: ClassVar[dict[str, str]] = {"Allow": "The methods this route serves."}

    def __init__(self, message: str, allowed: Iterable[str]) -> None:
        super().__init__(message)
        self.allowed = sorted(allowed)

    def headers(self) -> dict[str, str]:
        """Allow, as RFC 9110 requires of a 405."""
        return {"Allow": ", ".join(self.allowed)}


class RateLimited(ApiError):
    """The client made more requests in the window than the limit allows."""

    status = 429
    code = "rate_limited"
    description = "Too many requests from this client in the window; see Retry-After."
    header_docs: ClassVar[dict[str, str]] = {
        "Retry-After": "Seconds until the client may try again."
    }

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
    description = "The database cannot be reached."


# Every error status the API can answer with, and its code: the OpenAPI document lists these.
ERRORS: tuple[type[ApiError], ...] = (
    BadParameter,
    NotFound,
    MethodNotAllowed,
    RateLimited,
    DatabaseUnavailable,
    ApiError,
)
