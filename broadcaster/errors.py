"""Errors of the fan-out; each has a stable ``code`` that protocol ``error`` messages carry."""

from __future__ import annotations


class BroadcasterError(Exception):
    """Root of every error the broadcaster raises or reports to a client."""

    code = "internal_error"

    def __init__(self, message: str = "", *, channel: str | None = None) -> None:
        self.message = message or self.__doc__ or self.code
        self.channel = channel
        super().__init__(self.message)


class BadJson(BroadcasterError):
    """The frame is not valid UTF-8 JSON."""

    code = "bad_json"


class BadMessage(BroadcasterError):
    """The message is JSON but not a well-formed client op (wrong shape or field type)."""

    code = "bad_message"


class UnknownOp(BroadcasterError):
    """The ``op`` is not one of subscribe, unsubscribe, ping, auth."""

    code = "unknown_op"


class UnknownChannel(BroadcasterError):
    """The channel name is not games, game:<id>, league:<name> or user:<account>."""

    code = "unknown_channel"


class BadConflate(BroadcasterError):
    """``conflate_ms`` is not an integer in 0..10000."""

    code = "bad_conflate"


class BadResume(BroadcasterError):
    """``resume`` is not ``{channel: {epoch, seq}}`` for channels of the same op."""

    code = "bad_resume"


class AlreadySubscribed(BroadcasterError):
    """The connection is already subscribed to the channel."""

    code = "already_subscribed"


class NotSubscribed(BroadcasterError):
    """The connection is not subscribed to the channel."""

    code = "not_subscribed"


class TooManySubscriptions(BroadcasterError):
    """The subscription would exceed the per-connection limit."""

    code = "too_many_subscriptions"


class RateLimited(BroadcasterError):
    """Too many subscribe ops per second on this connection."""

    code = "rate_limited"


class Unauthorized(BroadcasterError):
    """A ``user:<account>`` channel needs an ``auth`` op whose token's ``sub`` is the account."""

    code = "unauthorized"


class TokenInvalid(BroadcasterError):
    """The JWT is malformed, badly signed, uses another algorithm or lacks ``sub``/``exp``."""

    code = "token_invalid"


class TokenExpired(BroadcasterError):
    """The JWT has expired."""

    code = "token_expired"


class Unavailable(BroadcasterError):
    """The gateway cannot reach Redis right now; retry later."""

    code = "unavailable"


class InternalError(BroadcasterError):
    """An unexpected server error; the connection stays open."""

    code = "internal_error"


ERROR_CODES: tuple[str, ...] = tuple(
    sorted({cls.code for cls in BroadcasterError.__subclasses__()} | {BroadcasterError.code})
)
