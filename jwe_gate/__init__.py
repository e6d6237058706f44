"""jwe_gate: Xano-style encrypted-token authentication for any ASGI or WSGI app."""

from ._asgi import GateASGIMiddleware
from ._endpoints.service import AuthService
from ._endpoints.throttle import Throttle
from ._gate import AuthRoutes, Gate
from ._passwords import Hasher, PasswordPolicy
from ._sansio.decision import default_scopes
from ._sansio.http import Refusal, Response, render_error
from ._sansio.request import HandlerRequest, RequestView
from ._sansio.rules import Rule
from ._sansio.transports import HeaderNames, Transport, XanoHeaders
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
    HasherBusyError,
    JWEGateError,
    MissingDependencyError,
    TokenError,
)

__all__ = [
    "AnonymousUser",
    "AsyncBackend",
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
    "DuplicateRecordError",
    "EndpointSettings",
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
    "MemoryOneTimeStore",
    "MemoryRefreshStore",
    "MemoryThrottleStore",
    "MissingDependencyError",
    "OneTimeStore",
    "Outcome",
    "PasswordPolicy",
    "RedisOneTimeStore",
    "RedisRefreshStore",
    "RedisThrottleStore",
    "RefreshStore",
    "Refusal",
    "RequestView",
    "Response",
    "Rotation",
    "Rule",
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
]
