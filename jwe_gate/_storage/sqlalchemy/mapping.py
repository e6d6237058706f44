"""How a database table holds a gate table's records: which column is which field, how an id
string names a key, and how stamps and other values cross between columns and records."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..._sansio.records import CREATED_AT, PASSWORD_CHANGED_AT, parse_key
from ...exceptions import FieldValueError
from ...types import Record
from .engine import sa

__all__ = ["Bound", "kind_of"]

_STAMPS = (CREATED_AT, PASSWORD_CHANGED_AT)
"""Fields kept as epoch milliseconds: a DateTime column holds them as a UTC time."""


@dataclass
class Bound:
    """One gate table on one database table: which column holds which field."""

    table: sa.Table
    pk: sa.Column[Any]
    kind: str
    """``int``, ``uuid`` or ``str``: how an id string names a key."""
    cols: dict[str, sa.Column[Any]] = field(default_factory=dict)
    extra: sa.Column[Any] | None = None
    """A JSON column for the fields with no column of their own."""
    limits: dict[str, int] = field(init=False)
    """The most characters each field's text column holds (``String(n)``), found once."""

    def __post_init__(self) -> None:
        lengths = {name: getattr(col.type, "length", None) for name, col in self.cols.items()}
        self.limits = {name: n for name, n in lengths.items() if isinstance(n, int)}

    def fit(self, fields: Mapping[str, Any]) -> None:
        """Raise FieldValueError naming the first field whose text is longer than its column."""
        for name, value in fields.items():
            limit = self.limits.get(name)
            # Checked here, before any write: PostgreSQL and strict MariaDB refuse the row (a
            # 503), a lenient MySQL cuts it, SQLite keeps it -- one input, one answer: a 400.
            if limit is not None and isinstance(value, str) and len(value) > limit:
                raise FieldValueError(name, f"{name} must be at most {limit} characters.")

    def key(self, id: str) -> Any | None:
        """The key ``id`` names, or None (see ``parse_key``); a UUID as the column takes it."""
        key = parse_key(id, self.kind)
        if isinstance(key, uuid.UUID) and not getattr(self.pk.type, "as_uuid", True):
            return id  # a UUID column that holds strings
        return key

    def new_key(self) -> Any:
        """A new UUID key, for a key column the database does not fill in itself."""
        new = uuid.uuid4()
        return new if self.kind == "uuid" and getattr(self.pk.type, "as_uuid", True) else str(new)

    def unique(self, name: str) -> bool:
        """Whether the database itself keeps ``name``'s column unique."""
        col = self.cols.get(name)
        if col is None:
            return False
        if col.unique or (col.primary_key and len(self.table.primary_key.columns) == 1):
            return True
        sets = [c.columns for c in self.table.constraints if isinstance(c, sa.UniqueConstraint)]
        sets += [i.columns for i in self.table.indexes if i.unique]
        return any(len(s) == 1 and col.name in s for s in sets)

    def values(self, fields: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
        """Column values for ``fields``; the fields with no column go to the JSON column (and,
        without one, are not stored: the app's table has no place for them)."""
        row: dict[str, Any] = {}
        more = dict(extra)
        for name, value in fields.items():
            col = self.cols.get(name)
            if col is not None:
                row[col.name] = _to_column(col, name, value)
            elif self.extra is not None:
                more[name] = value
        if self.extra is not None:
            row[self.extra.name] = more
        return row

    def record(self, row: Mapping[str, Any]) -> Record:
        """The record a row holds: the JSON column's fields, then the columns' (which win)."""
        extra = row.get(self.extra.name) if self.extra is not None else None
        record: Record = dict(extra) if isinstance(extra, dict) else {}
        for name, col in self.cols.items():
            record[name] = _from_column(name, row[col.name])
        record["id"] = row[self.pk.name] if self.kind == "int" else str(row[self.pk.name])
        return record


def _to_column(col: sa.Column[Any], name: str, value: Any) -> Any:
    if name in _STAMPS and isinstance(col.type, sa.DateTime) and isinstance(value, int | float):
        stamp = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        return stamp if getattr(col.type, "timezone", False) else stamp.replace(tzinfo=None)
    return value


def _from_column(name: str, value: Any) -> Any:
    if name in _STAMPS and isinstance(value, dt.datetime):
        if value.tzinfo is None:  # a naive stamp is UTC, as written
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    if name in _STAMPS and value is not None:
        return int(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()  # the app's record is rendered as JSON
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    return value


def kind_of(pk: sa.Column[Any]) -> str:
    """How the key column ``pk`` is named by an id string."""
    if isinstance(pk.type, sa.Uuid):
        return "uuid"
    try:
        python = pk.type.python_type
    except NotImplementedError:
        return "str"
    return "int" if python is int else "uuid" if python is uuid.UUID else "str"
