"""Pure rules about records, kept once for every backend: the fields the gate reserves, and the
password-change stamp that revokes earlier tokens."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CREATED_AT",
    "EMAIL_VERIFIED",
    "PASSWORD_CHANGED_AT",
    "PASSWORD_STAMP",
    "RESERVED",
    "millis",
    "parse_key",
    "password_stamp",
]

CREATED_AT = "created_at"
"""Record field: when the record was made, epoch milliseconds (as Xano keeps it)."""

PASSWORD_CHANGED_AT = "password_changed_at"
"""Record field holding the time (epoch seconds) of the last password change; always hidden."""

EMAIL_VERIFIED = "email_verified"
"""Record field: True once the owner proved the email is theirs (a verification or sign-in link
followed, a password reset); False (or absent) otherwise. ``Rule(..., verified=True)`` reads it."""

PASSWORD_STAMP = "pwc"
"""Claim holding the record's ``password_changed_at`` (0 if never) when the token was minted."""

RESERVED = frozenset({"id", CREATED_AT})
"""Fields only the storage layer sets: a caller's ``id`` or ``created_at`` is never stored."""


def password_stamp(record: Mapping[str, Any]) -> float:
    """The record's ``PASSWORD_CHANGED_AT``, 0 if never changed (or not a finite number).
    The one reading of it: the gate's revocation check and the minted ``pwc`` must agree."""
    stamp = record.get(PASSWORD_CHANGED_AT)
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and math.isfinite(stamp):
        return stamp
    return 0


def millis(t: float) -> float:
    """``t`` truncated to milliseconds: how ``PASSWORD_CHANGED_AT`` is kept, so it survives
    JSON and SQL round trips and compares exactly with a token's ``pwc``."""
    return math.floor(t * 1000) / 1000


def parse_key(id: object, kind: str) -> int | uuid.UUID | str | None:
    """The key a record id names in a key column of ``kind`` (``int``, ``uuid`` or ``str``), or
    None. Ids compare as strings, so only the canonical spelling of a key names its row
    ("01", "1.0", " 1", an upper-case UUID name none), and a non-key is never a database error
    (a 500)."""
    if not isinstance(id, str) or not id:
        return None
    if kind == "int":
        ok = id.isascii() and id.isdecimal() and len(id) <= 19 and (id[0] != "0" or id == "0")
        return int(id) if ok and int(id) <= 2**63 - 1 else None
    if kind == "uuid":
        try:
            value = uuid.UUID(id)
        except ValueError:
            return None
        return value if str(value) == id else None
    return id if len(id) <= 255 else None
