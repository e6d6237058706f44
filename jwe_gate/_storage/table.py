"""``Table``: one auth-enabled record set, and the one place its invariants are kept.

Whatever the backend, a ``Table`` sets ``created_at`` (epoch milliseconds, like Xano), never
lets a caller write ``id`` or ``created_at``, normalizes logins, and hides the password hash and
hidden fields from the app. Both kinds of backend work from both colours of caller (see
``jwe_gate._twins``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

from .._mail.recovery import Recovery
from .._sansio.records import CREATED_AT, EMAIL_VERIFIED, PASSWORD_CHANGED_AT, RESERVED
from .._twins import Effect, Twin, twin
from ..exceptions import ConfigurationError
from ..types import Record
from .protocols import AsyncBackend, Backend

__all__ = ["Table"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SYNC = ("get", "find", "create", "update")


class Table:
    """One auth-enabled record set (``user``, ``admin``, ...).

    Args:
        name: the table name; tokens carry it in ``tbl``.
        backend: where the records live (``Backend``, ``AsyncBackend``, or both).
        login_field: the unique field users log in with (``email`` by default; ``username``
            works too). Emails are trimmed and lower-cased.
        password_field: the field holding the argon2 hash; never shown to the app.
        hidden: more fields the app never sees.
        access_ttl: access-token lifetime, seconds (15 minutes).
        refresh_ttl: refresh-token lifetime, seconds (30 days).
        recovery: account recovery (password reset, email verification, sign-in links) for
            this table; its endpoints are served only when given.
        signup_fields: more fields signup takes beside ``name``, each with its type (``str``,
            ``int``, ``float`` or ``bool``): ``{"company": str, "age": int}``. Optional; a value
            of the wrong type is a 400 naming the field; fields not listed are ignored.
    """

    __slots__ = (
        "_inline_get",
        "_ops",
        "access_ttl",
        "backend",
        "changes",
        "hidden",
        "login_field",
        "name",
        "password_field",
        "recovery",
        "refresh_ttl",
        "signup_fields",
    )

    def __init__(
        self,
        name: str,
        backend: Backend | AsyncBackend,
        *,
        login_field: str = "email",
        password_field: str = "password",
        hidden: Collection[str] = (),
        access_ttl: float = 15 * 60,
        refresh_ttl: float = 30 * 24 * 3600,
        recovery: Recovery | None = None,
        signup_fields: Mapping[str, type] | None = None,
    ) -> None:
        if isinstance(hidden, str):  # hidden="notes" would hide the fields n, o, t, e, s
            raise ConfigurationError("hidden must be a collection of field names, e.g. ['notes']")
        if "id" in (password_field, *hidden):  # user.identity (the token's sub) is the id
            raise ConfigurationError("the id field cannot be hidden")
        for label, value in (
            ("name", name),
            ("login_field", login_field),
            ("password_field", password_field),
            *(("hidden", h) for h in hidden),
        ):
            # Names reach SQL backends as identifiers: keep them to a safe alphabet.
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ConfigurationError(f"table {label} {value!r} is not a valid identifier")
        if not (0 < access_ttl < math.inf and 0 < refresh_ttl < math.inf):  # NaN fails too
            raise ConfigurationError("token lifetimes must be positive and finite")
        sync = all(callable(getattr(backend, n, None)) for n in _SYNC)
        aio = all(callable(getattr(backend, "a" + n, None)) for n in _SYNC)
        if not (sync or aio):
            raise ConfigurationError(
                f"{type(backend).__name__} implements neither Backend (get, find, create, "
                f"update) nor AsyncBackend (aget, afind, acreate, aupdate)"
            )
        bind = getattr(backend, "bind_table", None)
        if callable(bind):
            # A backend that maps fields to real columns checks them now, at start-up: a column
            # the gate needs and the table lacks is a ConfigurationError, never a skipped check.
            bind(name, login_field=login_field, password_field=password_field)
        inline = getattr(backend, "inline", False) is True
        # Only reads run inline: even a local SQLite write can wait on another writer's lock.
        self._ops: dict[str, Twin[Any]] = {
            n: twin(backend, n, inline=inline and n == "get") for n in _SYNC
        }
        self._inline_get: Callable[..., Record | None] | None = (
            self._ops["get"].fn if inline and sync and not aio else None
        )
        self.name = name
        self.backend = backend
        self.login_field = login_field
        self.password_field = password_field
        # The hash and the revocation stamp never reach the app (SPEC: What the app sees).
        self.hidden = frozenset({password_field, PASSWORD_CHANGED_AT, *hidden})
        self.access_ttl = float(access_ttl)
        self.refresh_ttl = float(refresh_ttl)
        if recovery is not None and not isinstance(recovery, Recovery):
            raise ConfigurationError("recovery must be a Recovery")
        if recovery is not None and login_field != "email":
            raise ConfigurationError("recovery mails go to the login field: it must be email")
        self.recovery = recovery
        self.signup_fields = _signup_fields(signup_fields or {}, self.hidden | {login_field})
        self.changes = 0
        """How many updates this process made through the table: what a gate remembers of a
        record read before the last one is stale."""

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {type(self.backend).__name__})"

    def public(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record as the app may see it: hidden fields removed."""
        return {k: v for k, v in record.items() if k not in self.hidden}

    def normalize_login(self, value: str) -> str:
        """Trim, and lower-case emails, so lookups and storage agree."""
        value = value.strip()
        return value.lower() if self.login_field == "email" or "@" in value else value

    # -- the invariants, kept here once for every backend --------------------------------------

    @staticmethod
    def _new(fields: Mapping[str, Any]) -> dict[str, Any]:
        # The storage layer owns id and created_at: a caller's values are never stored.
        new = {k: v for k, v in fields.items() if k not in RESERVED}
        new[CREATED_AT] = int(time.time() * 1000)
        return new

    def _changes(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        new = {k: v for k, v in changes.items() if k not in RESERVED}
        if self.login_field in new and EMAIL_VERIFIED not in new:
            # A changed email is unverified again: the proof was for the old address.
            new[EMAIL_VERIFIED] = False
        return new

    # -- effects, for the endpoint flows -----------------------------------------------------------

    def effect(self, op: str, *args: Any) -> Effect[Any]:
        """The effect of ``get``/``find``/``create``/``update`` with ``args`` (for flows)."""
        return Effect(getattr(self, op), getattr(self, "a" + op), args)

    # -- sync --------------------------------------------------------------------------------------

    def get(self, id: str) -> Record | None:
        result: Record | None = self._ops["get"].fn(self.name, id)
        return result

    def find(self, value: Any) -> Record | None:
        result: Record | None = self._ops["find"].fn(self.name, self.login_field, value)
        return result

    def create(self, fields: Mapping[str, Any]) -> Record:
        result: Record = self._ops["create"].fn(
            self.name, self._new(fields), unique=self.login_field
        )
        return result

    def update(self, id: str, changes: Mapping[str, Any]) -> Record | None:
        try:
            result: Record | None = self._ops["update"].fn(self.name, id, self._changes(changes))
        finally:
            self.changes += 1  # after the write: what the gate remembers of a record is stale
        return result

    # -- async -------------------------------------------------------------------------------------

    async def aget(self, id: str) -> Record | None:
        if self._inline_get is not None:
            # The per-request read of a local backend: called here, without a coroutine
            # for the bridge (the hot path of every authenticated request).
            result: Record | None = self._inline_get(self.name, id)
            return result
        result = await self._ops["get"].afn(self.name, id)
        return result

    async def afind(self, value: Any) -> Record | None:
        result: Record | None = await self._ops["find"].afn(self.name, self.login_field, value)
        return result

    async def acreate(self, fields: Mapping[str, Any]) -> Record:
        result: Record = await self._ops["create"].afn(
            self.name, self._new(fields), unique=self.login_field
        )
        return result

    async def aupdate(self, id: str, changes: Mapping[str, Any]) -> Record | None:
        try:
            result: Record | None = await self._ops["update"].afn(
                self.name, id, self._changes(changes)
            )
        finally:
            self.changes += 1  # after the write: what the gate remembers of a record is stale
        return result


_SIGNUP_TYPES = (str, int, float, bool)


def _signup_fields(fields: Mapping[str, type], taken: Collection[str]) -> Mapping[str, type]:
    """The checked ``signup_fields``: safe names, known types, none the gate owns."""
    if not isinstance(fields, Mapping):
        raise ConfigurationError("signup_fields must be a mapping {name: type}")
    for name, kind in fields.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigurationError(f"signup field {name!r} is not a valid identifier")
        # A signup must never set what the gate owns (verification, stamps, the hash, the id).
        if name in (*RESERVED, *taken, EMAIL_VERIFIED, PASSWORD_CHANGED_AT, "name"):
            raise ConfigurationError(f"signup field {name!r} is a field the gate owns")
        if kind not in _SIGNUP_TYPES:
            raise ConfigurationError(f"signup field {name!r}: type must be str, int, float or bool")
    return MappingProxyType(dict(fields))
