"""A table backend on Django's ORM: the project's user model (``get_user_model()``) or any
model, with Django's password hashes verified and upgraded (see :mod:`.hashers`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from asgiref.sync import sync_to_async
from django.db import DatabaseError, IntegrityError, transaction

from ...exceptions import BackendError, ConfigurationError, DuplicateRecordError
from ...types import Record
from .fields import Bound, bind

__all__ = ["DjangoBackend"]

T = TypeVar("T")


class DjangoBackend:
    """Records of Django models, through the ORM (sync; the async side runs it with asgiref's
    ``sync_to_async``, in the thread Django keeps for sync code).

    Args:
        models: gate table name -> model (a class or ``"app_label.Model"``); by default
            ``{"user": settings.AUTH_USER_MODEL}``. Each table is its own model: tables
            stay apart.
        fields: record field -> model field, over the defaults: the login field (``email``:
            the model's ``EMAIL_FIELD``; ``username``: its ``USERNAME_FIELD``), ``password``,
            ``name`` -> ``first_name`` (or ``name``), ``created_at`` -> ``date_joined``
            (epoch ms <-> a datetime), and ``username``, ``last_name``, ``is_active``,
            ``is_staff``, ``is_superuser`` where the model has them. Other fields (the gate's
            password-change stamp, fields a signup allows) live in the app's
            ``RecordData`` model: add ``"jwe_gate.integrations.django"`` to
            ``INSTALLED_APPS`` and migrate.
        active_field: a record whose field (``is_active`` by default, where the model has it)
            is false is not found: it cannot log in and its tokens stop working, as Django's
            ``ModelBackend`` refuses inactive users. None turns this off.

    Logins are unique: on the model's column when the database keeps it unique, otherwise on
    ``RecordData.login`` (``auth.User``'s email is not unique), and logins are compared
    case-insensitively with records Django made itself. A model whose ``USERNAME_FIELD`` is
    not the login gets the login there too when a signup does not give it (email as the
    username), since Django needs one.
    """

    inline: ClassVar[bool] = False

    def __init__(
        self,
        models: Mapping[str, Any] | None = None,
        *,
        fields: Mapping[str, str] | None = None,
        active_field: str | None = "is_active",
    ) -> None:
        self._models = dict(models) if models is not None else None
        self._fields = dict(fields or {})
        self._active = active_field
        self._pending: dict[str, tuple[str, str]] = {}
        self._bound: dict[str, Bound] = {}

    def bind_table(self, name: str, *, login_field: str, password_field: str) -> None:
        """Map table ``name`` to its model now when Django's apps are ready (a field the gate
        needs and the model lacks is a ConfigurationError), else at first use."""
        from django.apps import apps

        self._pending[name] = (login_field, password_field)
        self._bound.pop(name, None)
        if apps.ready:
            self._bind(name)

    def _bind(self, table: str) -> Bound:
        found = self._bound.get(table)
        if found is not None:
            return found
        from django.conf import settings

        models = self._models if self._models is not None else {"user": settings.AUTH_USER_MODEL}
        if table not in models:
            raise ConfigurationError(f"DjangoBackend has no model for table {table!r}")
        login_field, password_field = self._pending.get(table, ("email", "password"))
        bound = bind(models[table], table, login_field, password_field, self._fields, self._active)
        self._bound[table] = bound
        return bound

    # -- sync --------------------------------------------------------------------------------

    def get(self, table: str, id: str) -> Record | None:
        b = self._bind(table)
        key = b.key(id)
        if key is None:
            return None  # not the spelling of a key: no record, never a database error
        return _guard(lambda: b.read(b.model._default_manager.filter(pk=key).first()))

    def find(self, table: str, field: str, value: Any) -> Record | None:
        b = self._bind(table)
        return _guard(lambda: b.read(b.lookup(field, value)))

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        b = self._bind(table)
        login = fields.get(unique)

        def insert() -> Any:
            with transaction.atomic(using=b.db):
                if login is not None and b.lookup(unique, login, active_only=False) is not None:
                    raise DuplicateRecordError(f"{table}.{unique} already exists")
                return b.insert(fields, unique)

        try:
            obj = _guard(insert)
        except BackendError as exc:
            cause = exc.__cause__
            # Lost a race with another signup (or the login is taken as someone's username):
            # the account is in use. Any other constraint failing is a database error.
            if isinstance(cause, IntegrityError) and _guard(lambda: b.taken(fields, unique)):
                raise DuplicateRecordError(f"{table}.{unique} already exists") from None
            raise
        record = _guard(lambda: b.read(obj, active_only=False))
        assert record is not None
        return record

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        b = self._bind(table)
        key = b.key(id)
        if key is None:
            return None

        def change() -> Any:
            with transaction.atomic(using=b.db):
                obj = b.model._default_manager.select_for_update().filter(pk=key).first()
                if obj is None:
                    return None
                b.change(obj, changes)
                return obj

        obj = _guard(change)
        return None if obj is None else _guard(lambda: b.read(obj, active_only=False))

    # -- async: the same, in Django's thread for sync code ----------------------------------

    async def aget(self, table: str, id: str) -> Record | None:
        return await sync_to_async(self.get, thread_sensitive=True)(table, id)

    async def afind(self, table: str, field: str, value: Any) -> Record | None:
        return await sync_to_async(self.find, thread_sensitive=True)(table, field, value)

    async def acreate(self, table: str, fields: Mapping[str, Any], *, unique: str) -> Record:
        return await sync_to_async(self.create, thread_sensitive=True)(table, fields, unique=unique)

    async def aupdate(self, table: str, id: str, changes: Mapping[str, Any]) -> Record | None:
        return await sync_to_async(self.update, thread_sensitive=True)(table, id, changes)


def _guard(fn: Callable[[], T]) -> T:
    """``fn()``, with a database failure as the gate's :class:`BackendError` (a 503)."""
    try:
        return fn()
    except BackendError:
        raise
    except DatabaseError as exc:
        raise BackendError(f"database error: {type(exc).__name__}") from exc
