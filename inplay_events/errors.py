"""Errors of the event contract; each has a stable ``code`` that protocols reuse."""

from __future__ import annotations


class ContractError(ValueError):
    """Root of every error the contract raises."""

    code = "contract_error"


class InvalidEvent(ContractError):
    """An event that does not satisfy contract v1; names the field and the reason."""

    code = "invalid_event"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def as_dict(self) -> dict[str, str]:
        """The error as the JSON object that dead-letter records and API errors carry."""
        return {"code": self.code, "field": self.field, "reason": self.reason}
