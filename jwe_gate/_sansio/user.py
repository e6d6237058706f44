"""What the wrapped app sees: the user and the auth info (``scope["user"]``/``scope["auth"]``).

They carry the attributes Starlette's ``request.user`` and ``@requires`` read, without importing
Starlette.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["ANONYMOUS", "ANONYMOUS_AUTH", "AnonymousUser", "AuthInfo", "AuthUser", "Claims"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified claims of an access token."""

    sub: str
    """The record id, as a string."""
    tbl: str
    """The table the token was minted for."""
    iat: float
    exp: float
    nbf: float | None
    jti: str | None
    extras: Mapping[str, Any]
    """Xano's "extras": data stored in the token (a role, ...)."""
    raw: Mapping[str, Any] = field(repr=False)
    """Every claim, as decoded."""


@dataclass(frozen=True, slots=True)
class AuthUser:
    """An authenticated record. ``user["email"]`` reads the record."""

    record: Mapping[str, Any]
    """The record, without its password hash or hidden fields."""
    table: str
    """The table the record belongs to."""
    extras: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    """The token's extras (role, ...)."""

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        """The record id, as a string (the token's ``sub``)."""
        return str(self.record["id"])

    @property
    def display_name(self) -> str:
        for key in ("name", "email", "username"):
            value = self.record.get(key)
            if isinstance(value, str) and value:
                return value
        return self.identity

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.record.get(key, default)


@dataclass(frozen=True, slots=True)
class AnonymousUser:
    """No token (an ``optional`` or ``public`` path)."""

    @property
    def is_authenticated(self) -> bool:
        return False

    @property
    def identity(self) -> str:
        return ""

    @property
    def display_name(self) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class AuthInfo:
    """How the request was authenticated (``scope["auth"]``, ``environ["jwe_gate.auth"]``)."""

    scopes: tuple[str, ...] = ()
    """``"authenticated"`` plus what the gate derives from extras (Starlette's ``@requires``)."""
    table: str | None = None
    claims: Claims | None = None
    extras: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    token: str | None = field(default=None, repr=False)
    """The raw access token."""


ANONYMOUS = AnonymousUser()
ANONYMOUS_AUTH = AuthInfo()
