"""jwe_gate: Xano-style encrypted-token authentication for any ASGI or WSGI app."""

import typing as _typing

from ._asgi import GateASGIMiddleware
from ._endpoints.service import AuthService
from ._endpoints.throttle import Throttle
from ._gate import AuthRoutes, Gate
from ._mail import AsyncMailer, ConsoleMailer, Mail, Mailer, OutboxMailer, SMTPMailer
from ._mail.recovery import MailTemplate, Recovery
from ._passwords import Hasher, PasswordPolicy
from ._sansio.cookies import Cookies
from ._sansio.decision import default_scopes
from ._sansio.http import Refusal, Response, render_error
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.rules import Rule
from ._sansio.transports import HeaderNames, Issued, Transport, XanoHeaders
from ._sansio.user import AnonymousUser, AuthInfo, AuthUser, Claims
from ._settings import EndpointSettings, SessionSettings, TokenSettings
from ._storage.bundle import Stores
from ._storage.memory import (
    MemoryBackend,
    MemoryOneTimeStore,
    MemoryRefreshStore,
    MemoryThrottleStore,
)
from ._storage.protocols import (
    AsyncBackend,
    AsyncOneTimeStore,
    AsyncRefreshStore,
    AsyncThrottleStore,
    Backend,
    OneTimeStore,
    Outcome,
    RefreshStore,
    Rotation,
    Session,
    ThrottleStore,
)
from ._storage.redis import (
    RedisOneTimeStore,
    RedisRefreshStore,
    RedisThrottleStore,
    redis_client,
    redis_stores,
)
from ._storage.sqlite import (
    SQLiteBackend,
    SQLiteOneTimeStore,
    SQLiteRefreshStore,
    SQLiteThrottleStore,
)
from ._storage.table import Table
from ._tokens import KeyRing
from ._wsgi import GateWSGIMiddleware
from .exceptions import (
    BackendError,
    ConfigurationError,
    DuplicateRecordError,
    ExpiredTokenError,
    FieldValueError,
    HasherBusyError,
    JWEGateError,
    MailError,
    MissingDependencyError,
    TokenError,
)

if _typing.TYPE_CHECKING:  # the lazy names below, typed for checkers
    from ._storage.sqlalchemy import (
        SQLAlchemyBackend,
        SQLAlchemyOneTimeStore,
        SQLAlchemyRefreshStore,
        SQLAlchemyThrottleStore,
        sqlalchemy_stores,
    )

_LAZY = {
    "SQLAlchemyBackend": "jwe_gate._storage.sqlalchemy",
    "SQLAlchemyOneTimeStore": "jwe_gate._storage.sqlalchemy",
    "SQLAlchemyRefreshStore": "jwe_gate._storage.sqlalchemy",
    "SQLAlchemyThrottleStore": "jwe_gate._storage.sqlalchemy",
    "sqlalchemy_stores": "jwe_gate._storage.sqlalchemy",
}
"""Names whose optional dependency is imported on first use (a missing one raises
MissingDependencyError naming the extra), so importing jwe_gate never needs it."""


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'jwe_gate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AnonymousUser",
    "AsyncBackend",
    "AsyncMailer",
    "AsyncOneTimeStore",
    "AsyncRefreshStore",
    "AsyncThrottleStore",
    "AuthInfo",
    "AuthRoutes",
    "AuthService",
    "AuthUser",
    "Backend",
    "BackendError",
    "Claims",
    "ConfigurationError",
    "ConsoleMailer",
    "Cookies",
    "DuplicateRecordError",
    "EndpointSettings",
    "ExpiredTokenError",
    "FieldValueError",
    "Gate",
    "GateASGIMiddleware",
    "GateWSGIMiddleware",
    "HandlerRequest",
    "Hasher",
    "HasherBusyError",
    "HeaderNames",
    "Issued",
    "JWEGateError",
    "KeyRing",
    "Mail",
    "MailError",
    "MailTemplate",
    "Mailer",
    "MemoryBackend",
    "MemoryOneTimeStore",
    "MemoryRefreshStore",
    "MemoryThrottleStore",
    "MissingDependencyError",
    "OneTimeStore",
    "OutboxMailer",
    "Outcome",
    "PasswordPolicy",
    "Recovery",
    "RedisOneTimeStore",
    "RedisRefreshStore",
    "RedisThrottleStore",
    "RefreshStore",
    "Refusal",
    "RequestView",
    "Response",
    "Rotation",
    "Rule",
    "SMTPMailer",
    "SQLAlchemyBackend",
    "SQLAlchemyOneTimeStore",
    "SQLAlchemyRefreshStore",
    "SQLAlchemyThrottleStore",
    "SQLiteBackend",
    "SQLiteOneTimeStore",
    "SQLiteRefreshStore",
    "SQLiteThrottleStore",
    "Session",
    "SessionSettings",
    "Stores",
    "Table",
    "Throttle",
    "ThrottleStore",
    "TokenError",
    "TokenSettings",
    "Transport",
    "XanoHeaders",
    "default_scopes",
    "redis_client",
    "redis_stores",
    "render_error",
    "sqlalchemy_stores",
]
