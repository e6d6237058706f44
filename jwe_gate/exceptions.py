"""The jwe_gate exception tree.

* ``JWEGateError`` -- base of everything raised here; never raised directly.
  * ``ConfigurationError`` (also ``ValueError``) -- a bad ``Gate``/``Rule``/``Table``/``KeyRing``
    argument, raised once, at construction.
  * ``MissingDependencyError`` (also ``ImportError``) -- an optional extra is not installed.
  * ``TokenError`` -- a token was refused. The message is for logs only; clients learn
    just ``expired`` (``ExpiredTokenError``) or ``invalid`` (every other ``TokenError``).
    * ``ExpiredTokenError``
  * ``BackendError`` -- a table backend could not do what was asked.
    * ``DuplicateRecordError`` -- a record with that unique login value exists already.
    * ``FieldValueError`` -- a field's value the table cannot hold (too long for its column).
  * ``HasherBusyError`` -- too many password hashes running or waiting (a 429).
  * ``MailError`` -- a mail could not be sent: the server is unreachable or refused it, TLS or
    login failed, or the mail would have injected a header (a 503 for the endpoints).
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigurationError",
    "DuplicateRecordError",
    "ExpiredTokenError",
    "FieldValueError",
    "HasherBusyError",
    "JWEGateError",
    "MailError",
    "MissingDependencyError",
    "TokenError",
]


class JWEGateError(Exception):
    """Superclass of all jwe_gate exceptions. Never raised directly."""


class ConfigurationError(JWEGateError, ValueError):
    """A configuration value is wrong; raised when the object is built, never per request."""


class MissingDependencyError(JWEGateError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package!r} is not installed; install it with: pip install 'jwe_gate[{extra}]'"
        )


class TokenError(JWEGateError):
    """A token was refused. ``str(exc)`` is the precise reason, meant for logs only."""


class ExpiredTokenError(TokenError):
    """The token's ``exp`` (plus leeway) is in the past: the client should refresh."""


class BackendError(JWEGateError):
    """A table backend failed."""


class DuplicateRecordError(BackendError):
    """A record with the same unique login value already exists."""


class FieldValueError(BackendError):
    """A record field's value the table cannot hold (say, longer than its column). ``field``
    names the record field; a signup answers it with 400 ``ERROR_CODE_INPUT_ERROR`` and
    ``payload.param`` set to that field, never a database error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class HasherBusyError(JWEGateError):
    """Too many hashes are running or waiting; answer 429 and retry later."""


class MailError(JWEGateError):
    """A mail was not sent. ``str(exc)`` says why (never with a password), for logs and the
    command line; ``code`` is the SMTP reply code when the server answered with one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The SMTP reply code (4xx temporary, 5xx permanent), or None when there was none
        (unreachable, timed out, TLS failed, refused before sending)."""
