"""JWT checks for private ``user:<account>`` channels (PyJWT; HS256 secret or RS256 key)."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from broadcaster.errors import TokenExpired, TokenInvalid
from broadcaster.settings import GatewaySettings


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid token names, and until when (epoch seconds)."""

    account: str
    expires_at: float


class Authenticator:
    """Verifies tokens against the one configured key and algorithm (never the token's)."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.algorithm = settings.jwt_algorithm
        secret = settings.jwt_secret if self.algorithm == "HS256" else settings.jwt_public_key
        self._key = secret.get_secret_value() if secret is not None else None
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway_s

    @property
    def enabled(self) -> bool:
        """Whether a key is configured (else every token is refused)."""
        return bool(self._key)

    def verify(self, token: str) -> Identity:
        """The identity of a valid token; raise TokenExpired or TokenInvalid."""
        if not self._key:
            raise TokenInvalid("this gateway has no JWT key configured")
        try:
            claims = jwt.decode(
                token,
                self._key,
                # Only the configured algorithm: a token cannot pick "none" or switch
                # RS256 to HS256 keyed with the public key.
                algorithms=[self.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token expired") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"invalid token: {exc}") from None
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenInvalid("invalid token: sub must be a non-empty string")
        return Identity(sub, float(claims["exp"]))
