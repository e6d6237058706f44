"""jwe_gate: Xano-style encrypted-token authentication for any ASGI or WSGI app."""

from __future__ import annotations

from ._asgi import GateASGIMiddleware
from ._backends.memory import MemoryBackend
from ._backends.sqlite import SQLiteBackend
from ._core import HeaderNames, RequestView, default_scopes
from ._gate import Gate
from ._http import GateError, Response, render_error
from ._rules import Rule
from ._tables import AsyncBackend, Backend, Table
from ._tokens import Claims, KeyRing
from ._user import AnonymousUser, AuthInfo, AuthUser
from ._wsgi import GateWSGIMiddleware
from .exceptions import (
    BackendError,
    ConfigurationError,
    DuplicateRecordError,
    ExpiredTokenError,
    JWEGateError,
    MissingDependencyError,
    TokenError,
)

__all__ = [
    "AnonymousUser",
    "AsyncBackend",
    "AuthInfo",
    "AuthUser",
    "Backend",
    "BackendError",
    "Claims",
    "ConfigurationError",
    "DuplicateRecordError",
    "ExpiredTokenError",
    "Gate",
    "GateASGIMiddleware",
    "GateError",
    "GateWSGIMiddleware",
    "HeaderNames",
    "JWEGateError",
    "KeyRing",
    "MemoryBackend",
    "MissingDependencyError",
    "RequestView",
    "Response",
    "Rule",
    "SQLiteBackend",
    "Table",
    "TokenError",
    "default_scopes",
    "render_error",
]
