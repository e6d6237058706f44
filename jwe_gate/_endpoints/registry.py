"""The endpoint registry: every auth endpoint once, as data. The gate's rules, the adapters and
the OpenAPI document (jwe_gate.openapi) all read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .._sansio.rules import Mode, Rule
from ..exceptions import ConfigurationError

__all__ = ["ENDPOINTS", "LENIENT", "AuthRoutes", "Endpoint", "endpoint_rules"]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One auth endpoint, served under each auth prefix at ``/<name>``."""

    name: str
    method: str
    mode: Mode
    """The gate's mode for it: who may call it."""
    inputs: tuple[str, ...] = ()
    """The JSON body fields it reads."""
    summary: str = ""
    lenient: bool = False
    """Answered even when the access token that came is refused (expired, ended): the endpoint
    has another credential to go on."""
    required: tuple[str, ...] = ()
    """The inputs it refuses (400) to go without."""
    answer: str = "pair"
    """What it answers on success: ``pair`` (200 token pair), ``record`` (200), ``none`` (204)."""
    refusals: tuple[int, ...] = (400, 503)
    """Every status it may refuse with (SPEC §Errors): for OpenAPI."""


ENDPOINTS: Mapping[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            "signup",
            "POST",
            "public",
            ("name", "email", "password"),
            "Create an account; answers a token pair.",
            required=("email", "password"),
            refusals=(400, 403, 413, 429, 503),
        ),
        Endpoint(
            "login",
            "POST",
            "public",
            ("email", "password"),
            "Answers a token pair.",
            required=("email", "password"),
            refusals=(400, 403, 413, 429, 503),
        ),
        Endpoint(
            "refresh",
            "POST",
            "public",
            ("refreshToken",),
            "Spend a refresh token for a new pair.",
            required=("refreshToken",),
            refusals=(400, 401, 413, 503),
        ),
        Endpoint(
            "me",
            "GET",
            "required",
            (),
            "The authenticated record.",
            answer="record",
            refusals=(400, 401, 413, 503),
        ),
        # Logout is "optional" and lenient so a client whose access token has expired can still
        # log out with its refresh token, whether or not it also sends the stale header.
        Endpoint(
            "logout",
            "POST",
            "optional",
            ("refreshToken", "all"),
            "End this session (or every session of the record).",
            lenient=True,
            answer="none",
            refusals=(400, 401, 413, 503),
        ),
        Endpoint(
            "password",
            "POST",
            "required",
            ("password", "newPassword"),
            "Change the password; ends every other session.",
            required=("password", "newPassword"),
            refusals=(400, 401, 403, 413, 429, 503),
        ),
    )
}


LENIENT = frozenset(e.name for e in ENDPOINTS.values() if e.lenient)
"""The endpoints that answer without a valid access token."""


@dataclass(frozen=True, slots=True)
class AuthRoutes:
    """Which auth endpoints the gate serves for ``table`` under a prefix (all by default)."""

    table: str
    endpoints: frozenset[str] = frozenset(ENDPOINTS)

    def __post_init__(self) -> None:
        unknown = set(self.endpoints) - set(ENDPOINTS)
        if unknown or not self.endpoints:
            raise ConfigurationError(
                f"unknown auth endpoints {sorted(unknown)}; choose from {sorted(ENDPOINTS)}"
            )


def endpoint_rules(prefix: str, routes: AuthRoutes) -> list[tuple[Rule, str]]:
    """The gate's rules for the endpoints ``routes`` serves under ``prefix``."""
    return [
        (Rule(f"{prefix}/{name}", ENDPOINTS[name].mode, table=routes.table), name)
        for name in sorted(routes.endpoints)
    ]
