"""``jwe-gate demo``: a Starlette app (or, with ``--wsgi``, a Flask app) behind the gate.

Tables ``user`` and ``admin`` in one SQLite file; the auth endpoints at ``/auth/*`` (user) and
``/admin/auth/*`` (admin: no signup -- add admins with ``jwe-gate adduser --table admin``);
``/api/hello`` (user), ``/admin/stats`` (admin), ``/health`` (public), the auth endpoints'
OpenAPI document at ``/openapi.json`` (public) and a page at ``/``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ._demo_apps import PageConfig, flask_app, starlette_app
from ._demo_mail import OUTBOX_PATH, DemoMail, demo_mail, is_loopback
from ._gate import AuthRoutes, Gate
from ._sansio.cookies import Cookies
from ._sansio.rules import Rule
from ._storage.bundle import Stores
from ._storage.sqlite import SQLiteBackend
from ._storage.table import Table
from ._tokens import KeyRing
from .exceptions import ConfigurationError, MissingDependencyError

__all__ = [
    "DEMO_TABLES",
    "build_gate",
    "demo_cookies",
    "is_loopback",
    "open_backend",
    "open_refresh_store",
    "open_stores",
    "redacted",
    "serve",
]

DEMO_DIR = Path(".jwe_gate")
DEFAULT_DB = DEMO_DIR / "demo.db"
DEFAULT_KEYS = DEMO_DIR / "keys.json"
DEMO_TABLES = ("user", "admin")
"""The demo's tables: the ones ``adduser`` and ``revoke`` may name."""


def _say(message: str) -> None:
    print(f"jwe_gate demo: {message}", file=sys.stderr, flush=True)


def redacted(value: str) -> str:
    """A database or Redis URL without its password (a path as it is): what the demo and the
    command line print, since a URL's password is a secret."""
    scheme, sep, rest = value.partition("://")
    if not sep or "@" not in rest:
        return value
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else value


def _is_url(db: str | None) -> bool:
    return bool(db) and "://" in str(db)


def _private_file(db: str | None) -> Path:
    """The SQLite path for ``--db`` (the demo's file by default), created owner-only: it holds
    emails and password hashes. SQLite gives its -wal and -shm files the same mode."""
    path = Path(db) if db else DEFAULT_DB
    if not db:
        DEMO_DIR.mkdir(mode=0o700, exist_ok=True)
    elif not path.parent.is_dir():
        raise ConfigurationError(f"--db {db!r}: the folder {str(path.parent)!r} does not exist")
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))  # owner-only from its first byte
    os.chmod(path, 0o600)  # and a file an older release made world-readable, now
    return path


def open_backend(db: str | None, prefix: str = "") -> Any:
    """The backend for ``--db``: a SQLAlchemy URL (``postgresql+psycopg://...``,
    ``mysql+pymysql://...``; tables named ``prefix + table``), else a SQLite path (the demo's
    file by default)."""
    if _is_url(db):
        from ._storage.sqlalchemy import SQLAlchemyBackend

        return SQLAlchemyBackend(str(db), prefix=prefix)
    return SQLiteBackend(_private_file(db))


def open_stores(
    db: str | None, redis: str | None, redis_prefix: str = "jwe_gate:", db_prefix: str = ""
) -> Stores:
    """The stores for ``--redis URL`` (Redis, keys under ``redis_prefix``), else those of
    ``--db``: the same SQL database, or the demo's SQLite file."""
    if redis:
        from ._storage.redis import redis_stores

        _say(f"stores in Redis at {redacted(redis)} (keys {redis_prefix}*)")
        return redis_stores(url=redis, prefix=redis_prefix)
    if _is_url(db):
        from ._storage.sqlalchemy import sqlalchemy_stores

        return sqlalchemy_stores(str(db), prefix=db_prefix + "jwe_gate_")
    return Stores.sqlite(_private_file(db))


def open_refresh_store(
    db: str | None, redis: str | None = None, redis_prefix: str = "jwe_gate:", db_prefix: str = ""
) -> Any:
    """The sessions of ``--redis`` or ``--db`` (the demo's file by default)."""
    return open_stores(db, redis, redis_prefix, db_prefix).refresh


def load_or_create_keys(keys: str | None) -> KeyRing:
    """``--keys FILE``, else ``JWE_GATE_KEYS``, else the demo's key file; a missing file is
    created with a new key set (first run)."""
    if not keys and os.environ.get("JWE_GATE_KEYS"):
        _say("using keys from the JWE_GATE_KEYS environment variable")
        return KeyRing.from_env()
    path = Path(keys) if keys else DEFAULT_KEYS
    if path.exists():
        _say(f"using keys from {path.resolve()}")
        return KeyRing.from_file(path)
    ring = KeyRing.generate()
    ring.save(path)
    _say(f"created a new key set in {path.resolve()} (keep it secret)")
    return ring


def demo_cookies(host: str) -> Cookies:
    """The cookie transport's settings for ``--cookies``, served on ``host``."""
    secure = not is_loopback(host)
    # The demo speaks plain HTTP. A Secure cookie is sent over HTTPS only (browsers' exceptions
    # for localhost vary), so on a loopback host, where nobody else is on the wire, the demo
    # drops Secure; on any other host it keeps it, and a TLS proxy must stand in front.
    if secure:
        _say(f"cookies are Secure: browsers send them only over HTTPS (put TLS in front of {host})")
    return Cookies(secure=secure)


def build_gate(
    *,
    db: str | None = None,
    keys: str | None = None,
    redis: str | None = None,
    redis_prefix: str = "jwe_gate:",
    db_prefix: str = "",
    query_token: bool = False,
    mail: DemoMail | None = None,
    **options: Any,
) -> Gate:
    """The demo's gate: its tables, its stores, the auth routes, and its rules (with
    ``query_token``, ``/api/**`` also accepts ``?authtoken=``; with ``mail``, the ``user``
    table recovers accounts, and an outbox it has is public)."""
    backend = open_backend(db, db_prefix)
    if isinstance(backend, SQLiteBackend):
        _say(f"SQLite database {Path(backend.path).resolve()}")
    else:
        _say(f"database {redacted(str(db))}")
    if not any(k in options for k in ("refresh_store", "throttle_store", "stores")):
        options["stores"] = open_stores(db, redis, redis_prefix, db_prefix)
    return Gate(
        keys=load_or_create_keys(keys),
        tables=[
            Table("user", backend, recovery=mail.recovery if mail else None),
            Table("admin", backend),
        ],
        rules=[
            Rule("/", "public", methods=["GET"]),
            # The outbox shows mail so a person can click its links: public in the demo only.
            *(
                [Rule(OUTBOX_PATH, "public", methods=["GET"])]
                if mail and mail.outbox is not None
                else []
            ),
            Rule("/health", "public"),
            Rule("/openapi.json", "public", methods=["GET"]),
            Rule("/admin/**", "required", table="admin"),
            *([Rule("/api/**", "required", query_token=True)] if query_token else []),
        ],
        auth_routes={
            "/auth": "user",
            "/admin/auth": AuthRoutes(
                "admin", frozenset({"login", "me", "refresh", "logout", "password"})
            ),
        },
        extras={"admin": lambda record: {"role": "admin"}},
        **options,
    )


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    db: str | None = None,
    keys: str | None = None,
    wsgi: bool = False,
    redis: str | None = None,
    redis_prefix: str = "jwe_gate:",
    db_prefix: str = "",
    query_token: bool = False,
    cookies: bool = False,
    mail: dict[str, Any] | None = None,
) -> None:
    """Run the demo until interrupted: the page uses bearer headers, or with ``cookies`` the
    cookie transport (not with ``query_token``: the page would hold no token for a URL).
    ``mail`` holds ``demo_mail``'s SMTP keywords (``smtp``, ``smtp_security``, ...)."""
    if cookies and query_token:
        raise ConfigurationError(
            "--cookies and --query-token do not combine: in cookie mode the page holds no "
            "token it could put in a URL (the tokens are HttpOnly cookies); choose one"
        )
    recovery = demo_mail(host, port, **(mail or {}))
    page: dict[str, Any] = {"query_token": query_token, "mail": recovery.via}
    options: dict[str, Any] = {}
    if cookies:
        settings = demo_cookies(host)
        options["cookies"] = settings
        page.update(
            transport="cookies",
            csrf_cookie=settings.csrf_cookie,
            csrf_header=settings.csrf_header,
        )
    gate = build_gate(
        db=db,
        keys=keys,
        redis=redis,
        redis_prefix=redis_prefix,
        db_prefix=db_prefix,
        query_token=query_token,
        mail=recovery,
        **options,
    )
    if query_token:
        _say("/api/** also accepts ?authtoken= (it shows in access logs: demo use only)")
    url = f"http://{host}:{port}/"
    if wsgi:
        try:
            import waitress
        except ImportError as exc:
            raise MissingDependencyError("waitress", "demo") from exc
        app = flask_app(gate, PageConfig("Flask app on waitress (WSGI)", **page), recovery.outbox)
        try:
            server = waitress.create_server(app, host=host, port=port, threads=8)
        except OSError as exc:  # a busy port: a message and exit 2, not a traceback
            raise ConfigurationError(f"cannot listen on {host}:{port}: {exc}") from exc
        _say(f"serving {url} (WSGI: Flask behind gate.wsgi, on waitress)")
        server.run()
        return
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("uvicorn", "demo") from exc
    _say(f"serving {url} (ASGI: Starlette behind gate.asgi, on uvicorn)")
    # No proxy in front of the demo: X-Forwarded-For must not choose the throttle's address.
    app = starlette_app(
        gate, PageConfig("Starlette app on uvicorn (ASGI)", **page), recovery.outbox
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)
