"""jwe_gate: Xano-style encrypted-token authentication for any ASGI or WSGI app."""

from ._asgi import GateASGIMiddleware
from ._backends.memory import MemoryBackend
from ._backends.sqlite import SQLiteBackend
from ._core import HeaderNames, RequestView, default_scopes
from ._gate import AuthRoutes, Gate
from ._handlers import AuthService, HandlerRequest, Throttle
from ._http import Refusal, Response, render_error
from ._passwords import Hasher, PasswordPolicy
from ._rules import Rule
from ._stores import Outcome, RefreshStore, Rotation, Session, ThrottleStore
from ._stores.memory import MemoryRefreshStore, MemoryThrottleStore
from ._stores.sqlite import SQLiteRefreshStore, SQLiteThrottleStore
from ._tables import AsyncBackend, Backend, Table
from ._tokens import Claims, KeyRing
from ._user import AnonymousUser, AuthInfo, AuthUser
from ._wsgi import GateWSGIMiddleware
from .exceptions import (
    BackendError,
    ConfigurationError,
    DuplicateRecordError,
    ExpiredTokenError,
    HasherBusyError,
    JWEGateError,
    MissingDependencyError,
    TokenError,
)

__all__ = [
    "AnonymousUser",
    "AsyncBackend",
    "AuthInfo",
    "AuthRoutes",
    "AuthService",
    "AuthUser",
    "Backend",
    "BackendError",
    "Claims",
    "ConfigurationError",
    "DuplicateRecordError",
    "ExpiredTokenError",
    "Gate",
    "GateASGIMiddleware",
    "GateWSGIMiddleware",
    "HandlerRequest",
    "Hasher",
    "HasherBusyError",
    "HeaderNames",
    "JWEGateError",
    "KeyRing",
    "MemoryBackend",
    "MemoryRefreshStore",
    "MemoryThrottleStore",
    "MissingDependencyError",
    "Outcome",
    "PasswordPolicy",
    "RefreshStore",
    "Refusal",
    "RequestView",
    "Response",
    "Rotation",
    "Rule",
    "SQLiteBackend",
    "SQLiteRefreshStore",
    "SQLiteThrottleStore",
    "Session",
    "Table",
    "Throttle",
    "ThrottleStore",
    "TokenError",
    "default_scopes",
    "render_error",
]
