"""Pure rules about records, kept once for every backend: the fields the gate reserves, and the
password-change stamp that revokes earlier tokens."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CREATED_AT",
    "EMAIL_VERIFIED",
    "PASSWORD_CHANGED_AT",
    "PASSWORD_STAMP",
    "RESERVED",
    "millis",
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
