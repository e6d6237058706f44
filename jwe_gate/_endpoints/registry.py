"""The endpoint registry: every auth endpoint once, as data. The gate's rules, the adapters and
(later) OpenAPI all read it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .._sansio.rules import Mode

__all__ = ["ENDPOINTS", "Endpoint"]


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


ENDPOINTS: Mapping[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint(
            "signup",
            "POST",
            "public",
            ("name", "email", "password"),
            "Create an account; answers a token pair.",
        ),
        Endpoint("login", "POST", "public", ("email", "password"), "Answers a token pair."),
        Endpoint(
            "refresh", "POST", "public", ("refreshToken",), "Spend a refresh token for a new pair."
        ),
        Endpoint("me", "GET", "required", (), "The authenticated record."),
        # Logout is "optional" so a client whose access token has expired can still log out with
        # its refresh token alone.
        Endpoint(
            "logout",
            "POST",
            "optional",
            ("refreshToken",),
            "End this session (or every session of the record).",
        ),
        Endpoint(
            "password",
            "POST",
            "required",
            ("password", "newPassword"),
            "Change the password; ends every other session.",
        ),
    )
}
