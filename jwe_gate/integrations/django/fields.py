"""How a Django model holds a gate table's records: which model field is which record field,
how an id string names a key, and how values cross (datetimes, empty strings, hashes)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..._sansio.records import CREATED_AT, parse_key
from ...exceptions import ConfigurationError, FieldValueError
from ...types import Record
from .hashers import read_hash, write_hash

__all__ = ["Bound", "bind"]

logger = logging.getLogger("jwe_gate")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)
_INT_KEYS = frozenset(
    {"AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField"}
)
_TEXT = frozenset({"CharField", "TextField", "EmailField", "SlugField"})
_OPTIONAL = ("username", "last_name", "is_active", "is_staff", "is_superuser")


@dataclass
class Bound:
    """One gate table on one Django model."""

    model: Any
    table: str
    cols: dict[str, Any]
    """Record field -> the model's field (a Django ``Field``)."""
    password: str
    """The record field holding the hash."""
    login_unique: bool
    """Whether the database keeps the login column unique by itself."""
    username: Any | None
    """The model's ``USERNAME_FIELD``, filled with the login when a signup does not give it."""
    active: Any | None
    kind: str
    login: str
    """The record field users log in with."""

    @property
    def db(self) -> str:
        from django.db import router

        return str(router.db_for_write(self.model))

    def key(self, id: str) -> Any | None:
        """The key ``id`` names, or None (see ``parse_key``)."""
        return parse_key(id, self.kind)

    # -- reading -----------------------------------------------------------------------------

    def read(self, obj: Any, *, active_only: bool = True) -> Record | None:
        """The record of model instance ``obj`` (None stays None; so does an inactive one)."""
        if obj is None:
            return None
        if active_only and self.active is not None and not getattr(obj, self.active.attname):
            return None  # Django's ModelBackend refuses inactive users: so does the gate
        from .models import RecordData

        pk = obj.pk
        record: Record = {"id": pk if self.kind == "int" else str(pk)}
        row = RecordData.objects.filter(table=self.table, key=str(pk)).first()
        if row is not None and isinstance(row.data, dict):
            record.update({k: v for k, v in row.data.items() if k not in self.cols})
        for name, field in self.cols.items():
            record[name] = self._out(name, field, getattr(obj, field.attname))
        return record

    def lookup(self, name: str, value: Any, *, active_only: bool = True) -> Any | None:
        """The model instance whose record field ``name`` equals ``value``, or None (also when
        several do: an ambiguous login logs nobody in)."""
        from .models import RecordData

        manager = self.model._default_manager
        field = self.cols.get(name)
        if field is None:
            keys = list(
                RecordData.objects.filter(table=self.table, **{f"data__{name}": value}).values_list(
                    "key", flat=True
                )[:2]
            )
            found = list(manager.filter(pk__in=[k for k in map(self.key, keys) if k])[:2])
        else:
            # Logins are stored normalized, Django's own records (create_user keeps the
            # local part's case) are not: compare case-insensitively.
            text = isinstance(value, str) and field.get_internal_type() in _TEXT
            query = {f"{field.name}__{'iexact' if text else 'exact'}": self._in(name, field, value)}
            found = list(manager.filter(**query)[:2])
        if len(found) > 1:
            logger.warning("%s: several records have this %s; none is used", self.table, name)
        if len(found) != 1:
            return None
        obj = found[0]
        if active_only and self.active is not None and not getattr(obj, self.active.attname):
            return None
        return obj

    def taken(self, fields: Mapping[str, Any], unique: str) -> bool:
        """Whether a record already holds ``fields``' login (or the username it would get)."""
        login = fields.get(unique)
        if login is not None and self.lookup(unique, login, active_only=False) is not None:
            return True
        if self.username is not None and login is not None and "username" not in fields:
            query = {f"{self.username.name}__iexact": login}
            return bool(self.model._default_manager.filter(**query).exists())
        return False

    # -- writing -----------------------------------------------------------------------------

    def insert(self, fields: Mapping[str, Any], unique: str) -> Any:
        """Insert a record (inside the caller's transaction); return the model instance."""
        from .models import RecordData

        values = {
            f.attname: _fit(n, f, self._in(n, f, fields[n]))
            for n, f in self.cols.items()
            if n in fields
        }
        if self.username is not None and self.username.attname not in values:
            # The email as the username: one too long for that column (auth.User's 150) is
            # refused as the email's fault, before the database would fail on it (a 503).
            values[self.username.attname] = _fit(unique, self.username, fields.get(unique))
        obj = self.model(**values)
        obj.save(force_insert=True, using=self.db)
        RecordData.objects.using(self.db).update_or_create(
            table=self.table,
            key=str(obj.pk),
            # A stale row of a deleted record with a reused id is replaced, never inherited.
            defaults={
                "login": None if self.login_unique else _login(fields.get(unique)),
                "data": {k: v for k, v in fields.items() if k not in self.cols},
            },
        )
        return obj

    def change(self, obj: Any, changes: Mapping[str, Any]) -> None:
        """Merge ``changes`` into ``obj`` and its data row (inside the caller's transaction)."""
        from .models import RecordData

        mapped = [n for n in changes if n in self.cols]
        for name in mapped:
            field = self.cols[name]
            setattr(obj, field.attname, _fit(name, field, self._in(name, field, changes[name])))
        if mapped:
            obj.save(update_fields=[self.cols[n].name for n in mapped], using=self.db)
        row, _ = (
            RecordData.objects.using(self.db)
            .select_for_update()
            .get_or_create(table=self.table, key=str(obj.pk))
        )
        more = {k: v for k, v in changes.items() if k not in self.cols}
        if more or not self.login_unique:
            data = dict(row.data) if isinstance(row.data, dict) else {}
            data.update(more)
            row.data = data
            if not self.login_unique:
                col = self.cols[self.login]
                row.login = _login(self._out(self.login, col, getattr(obj, col.attname)))
            row.save()

    # -- values ------------------------------------------------------------------------------

    def _out(self, name: str, field: Any, value: Any) -> Any:
        if name == self.password:
            return read_hash(value)
        if name == CREATED_AT and isinstance(value, dt.datetime):
            return _millis(value)
        if value == "" and field.get_internal_type() in _TEXT and not field.null:
            return None  # a NOT NULL text column's "no value"
        return value

    def _in(self, name: str, field: Any, value: Any) -> Any:
        if name == self.password:
            value = write_hash(value)
        if name == CREATED_AT and isinstance(value, int) and _is_datetime(field):
            return _datetime(value)
        if value is None and field.get_internal_type() in _TEXT and not field.null:
            return ""
        return value


def _fit(name: str, field: Any, value: Any) -> Any:
    """``value``, or FieldValueError naming record field ``name`` when it is longer than the
    column ``field`` holds: PostgreSQL and strict MariaDB refuse it (a database error), a
    lenient MySQL cuts it, SQLite keeps it -- the same input must get the same answer."""
    limit = getattr(field, "max_length", None)
    if isinstance(value, str) and isinstance(limit, int) and len(value) > limit:
        raise FieldValueError(name, f"{name} must be at most {limit} characters.")
    return value


def _is_datetime(field: Any) -> bool:
    return bool(field.get_internal_type() == "DateTimeField")


def _login(value: Any) -> str | None:
    return value.strip().lower() if isinstance(value, str) and value.strip() else None


def _millis(value: dt.datetime) -> int:
    from django.utils import timezone

    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return (value - _EPOCH) // _MS


def _datetime(ms: int) -> dt.datetime:
    from django.conf import settings
    from django.utils import timezone

    aware = _EPOCH + ms * _MS
    if settings.USE_TZ:
        return aware
    naive: dt.datetime = timezone.make_naive(aware, timezone.get_default_timezone())
    return naive


def bind(
    model: Any,
    table: str,
    login_field: str,
    password_field: str,
    explicit: Mapping[str, str],
    active_field: str | None,
) -> Bound:
    """Map gate table ``table`` onto ``model`` (a class or ``"app_label.Model"``). A field the
    gate needs and the model lacks is a ConfigurationError, never a silently skipped check."""
    from django.apps import apps

    if isinstance(model, str):
        try:
            model = apps.get_model(model)
        except (LookupError, ValueError) as exc:
            raise ConfigurationError(f"no Django model {model!r}") from exc
    meta = model._meta
    concrete = {f.name: f for f in meta.concrete_fields}

    def field(name: str | None) -> Any | None:
        return concrete.get(name) if name else None

    cols: dict[str, Any] = {}
    username = field(getattr(model, "USERNAME_FIELD", None))
    email = getattr(model, "EMAIL_FIELD", "email")
    defaults = {
        "name": "first_name" if "first_name" in concrete else "name",
        CREATED_AT: "date_joined",
        "username": username.name if username is not None else None,
        **{n: n for n in _OPTIONAL if n != "username"},
    }
    for name, target in defaults.items():
        if name not in (login_field, password_field) and field(target) is not None:
            cols[name] = field(target)
    login_target = explicit.get(login_field)
    if login_target is None:
        if login_field in concrete:
            login_target = login_field
        elif login_field == "email":
            login_target = email
        elif login_field == "username" and username is not None:
            login_target = username.name
        else:
            login_target = defaults.get(login_field)
    for label, name, target in (
        ("login", login_field, login_target),
        ("password", password_field, explicit.get(password_field, password_field)),
    ):
        if field(target) is None:
            raise ConfigurationError(
                f"model {meta.label} has no field for the {label} field {name!r} of table "
                f"{table!r} (map it with fields={{{name!r}: ...}})"
            )
        cols[name] = field(target)
    for name, target in explicit.items():
        if field(target) is None:
            raise ConfigurationError(f"model {meta.label} has no field {target!r}")
        cols[name] = field(target)
    login_col = cols[login_field]
    pk_type = meta.pk.get_internal_type()
    return Bound(
        model=model,
        table=table,
        cols=cols,
        password=password_field,
        login_unique=bool(login_col.unique or login_col.primary_key),
        username=username if username is not None and username is not login_col else None,
        active=field(active_field) if active_field else None,
        kind="int" if pk_type in _INT_KEYS else "uuid" if pk_type == "UUIDField" else "str",
        login=login_field,
    )
