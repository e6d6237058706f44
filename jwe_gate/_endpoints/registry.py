"""The endpoint registry: every auth endpoint once, as data. The gate's rules, the adapters and
the OpenAPI document (jwe_gate.openapi) all read it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from .._sansio.rules import Mode, Rule
from ..exceptions import ConfigurationError

__all__ = ["ENDPOINTS", "LENIENT", "AuthRoutes", "Endpoint", "endpoint_rules", "served"]


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
    """What it answers on success: ``pair`` (200 token pair), ``record`` (200), ``none`` (204),
    ``accepted`` (202)."""
    refusals: tuple[int, ...] = (400, 503)
    """Every status it may refuse with (SPEC §Errors): for OpenAPI."""
    purpose: str | None = None
    """The account-recovery purpose it belongs to (``reset``, ``verify``, ``magic``): served
    only for a table whose ``Recovery`` has that purpose's link."""


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
        # Account recovery (SPEC §Account recovery). forgot and magic answer 202 whatever the
        # email: the lookup and the mail happen after the answer (no enumeration).
        Endpoint(
            "password/forgot",
            "POST",
            "public",
            ("email",),
            "Mail a password-reset link (202 whether or not the email has an account).",
            required=("email",),
            answer="accepted",
            refusals=(400, 413, 429, 503),
            purpose="reset",
        ),
        Endpoint(
            "password/reset",
            "POST",
            "public",
            ("token", "newPassword"),
            "Set a new password with a reset link's token; ends every session of the record.",
            required=("token", "newPassword"),
            refusals=(400, 413, 429, 503),
            purpose="reset",
        ),
        Endpoint(
            "verify/send",
            "POST",
            "required",
            (),
            "Mail a link that verifies the record's email.",
            answer="accepted",
            refusals=(400, 401, 403, 413, 429, 503),
            purpose="verify",
        ),
        Endpoint(
            "verify",
            "POST",
            "public",
            ("token",),
            "Verify the email with a verification link's token; answers the record.",
            required=("token",),
            answer="record",
            refusals=(400, 413, 503),
            purpose="verify",
        ),
        Endpoint(
            "magic",
            "POST",
            "public",
            ("email",),
            "Mail a one-time sign-in link (202 whether or not the email has an account).",
            required=("email",),
            answer="accepted",
            refusals=(400, 413, 429, 503),
            purpose="magic",
        ),
        Endpoint(
            "magic/login",
            "POST",
            "public",
            ("token",),
            "Sign in with a sign-in link's token; answers a token pair.",
            required=("token",),
            refusals=(400, 413, 429, 503),
            purpose="magic",
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


def served(routes: AuthRoutes, purposes: Collection[str]) -> AuthRoutes:
    """``routes`` without the recovery endpoints of a purpose the table does not configure
    (``purposes``: those it does). Asking for one explicitly is a ``ConfigurationError``;
    the default (every endpoint) just leaves them out."""
    unserved = {n for n in routes.endpoints if ENDPOINTS[n].purpose not in (None, *purposes)}
    if not unserved:
        return routes
    if routes.endpoints != frozenset(ENDPOINTS):
        raise ConfigurationError(
            f"auth endpoints {sorted(unserved)} of table {routes.table!r} need "
            "Table(recovery=Recovery(...)) with their link"
        )
    return AuthRoutes(routes.table, routes.endpoints - unserved)
