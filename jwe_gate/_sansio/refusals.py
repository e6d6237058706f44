"""Every refusal the gate and its endpoints answer with (SPEC §Errors), built once."""

from __future__ import annotations

from .http import Refusal

__all__ = [
    "ACCOUNT_IN_USE",
    "BAD_PATH",
    "BODY_TOO_LARGE",
    "CROSS_ORIGIN",
    "CROSS_SITE_LOGIN",
    "CSRF",
    "DENIED",
    "EXPIRED",
    "INVALID",
    "INVALID_CREDENTIALS",
    "LINK_INVALID",
    "MISSING",
    "NOT_SERVED",
    "REFRESH_INVALID",
    "TWO_TOKENS",
    "UNAVAILABLE",
    "busy",
    "duplicate_cookie",
    "duplicate_header",
    "duplicate_param",
    "input_error",
    "method_not_allowed",
]

# Every 401 carries WWW-Authenticate (RFC 6750 §3); with a token present, error="invalid_token".
MISSING = Refusal(
    401,
    "ERROR_CODE_UNAUTHORIZED",
    "Unauthorized - Authentication Required",
    headers=(("www-authenticate", "Bearer"),),
)
INVALID = Refusal(
    401,
    "ERROR_CODE_UNAUTHORIZED",
    "Invalid token.",
    headers=(("www-authenticate", 'Bearer error="invalid_token"'),),
)
EXPIRED = Refusal(
    401,
    "ERROR_CODE_UNAUTHORIZED",
    "Token expired.",
    headers=(
        (
            "www-authenticate",
            'Bearer error="invalid_token", error_description="The access token expired"',
        ),
    ),
)
DENIED = Refusal(
    403,
    "ERROR_CODE_ACCESS_DENIED",
    "Access denied.",
    headers=(("www-authenticate", 'Bearer error="insufficient_scope"'),),
)
# SPEC §Errors: a failed CSRF check is a 403 ERROR_CODE_ACCESS_DENIED; so is a WebSocket a
# cookie authenticates opened from another origin (the same check for a handshake).
CSRF = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "CSRF token missing or invalid.")
CROSS_ORIGIN = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "Cross-origin WebSocket refused.")
CROSS_SITE_LOGIN = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "Cross-origin sign-in refused.")
BAD_PATH = Refusal(400, "ERROR_CODE_BAD_REQUEST", "Malformed request path.")
UNAVAILABLE = Refusal(
    503, "ERROR_FATAL", "Authentication backend unavailable.", headers=(("retry-after", "5"),)
)

INVALID_CREDENTIALS = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "Invalid Credentials.")
ACCOUNT_IN_USE = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "This account is already in use.")
REFRESH_INVALID = Refusal(
    401,
    "ERROR_CODE_UNAUTHORIZED",
    "Invalid refresh token.",
    headers=(("www-authenticate", 'Bearer error="invalid_token"'),),
)
BODY_TOO_LARGE = Refusal(
    413, "ERROR_CODE_INPUT_ERROR", "Request body too large.", {"param": "body"}
)


def duplicate_header(header: str) -> Refusal:
    """A header that must appear once appeared twice (or held two credentials)."""
    return Refusal(
        400, "ERROR_CODE_BAD_REQUEST", f"The {header} header must appear once.", {"param": header}
    )


def duplicate_cookie(cookie: str) -> Refusal:
    """A credential cookie sent twice with different values (another Path or Domain)."""
    return Refusal(
        400,
        "ERROR_CODE_BAD_REQUEST",
        f"The {cookie} cookie was sent twice with different values; sign in again.",
        {"param": cookie},
    )


def duplicate_param(param: str) -> Refusal:
    """A query parameter that must appear once appeared twice."""
    return Refusal(
        400,
        "ERROR_CODE_BAD_REQUEST",
        f"The {param} query parameter must appear once.",
        {"param": param},
    )


TWO_TOKENS = Refusal(
    400,
    "ERROR_CODE_BAD_REQUEST",
    "Send the access token in a header or in the query, not both.",
    {"param": "authtoken"},
)


# One answer for every one-time token that does not count (unknown, spent, expired, of another
# purpose or table, replaced by a newer one, killed by a password change): which of them it
# was is nobody's business but the log's.
LINK_INVALID = Refusal(
    400, "ERROR_CODE_INPUT_ERROR", "Invalid or expired token.", {"param": "token"}
)

NOT_SERVED = Refusal(404, "ERROR_CODE_NOT_FOUND", "Not found.")


def input_error(param: str, message: str) -> Refusal:
    """Bad input to an endpoint; ``payload.param`` names the field."""
    return Refusal(400, "ERROR_CODE_INPUT_ERROR", message, {"param": param})


def busy(retry_after: int) -> Refusal:
    """Throttled, or the hashing queue is full: retry after ``retry_after`` seconds."""
    return Refusal(
        429,
        "ERROR_CODE_TOO_MANY_REQUESTS",
        "Too many requests.",
        headers=(("retry-after", str(max(1, retry_after))),),
    )


def method_not_allowed(method: str) -> Refusal:
    """An endpoint asked with another method than its own."""
    return Refusal(
        405, "ERROR_CODE_BAD_REQUEST", "Method not allowed.", headers=(("allow", method),)
    )
