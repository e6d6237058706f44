"""Django's password hashes, verified by the gate's hasher and upgraded to argon2id."""

from __future__ import annotations

from typing import Any

from ..._passwords import Hasher

__all__ = ["DJANGO_ARGON2", "django_hashes", "hasher", "read_hash", "write_hash"]

DJANGO_ARGON2 = "argon2"
"""The prefix Django's ``Argon2PasswordHasher`` puts before an argon2 hash
(``argon2$argon2id$v=19$...``)."""


def django_hashes(stored: str, password: str) -> bool | None:
    """The ``foreign`` verifier of :class:`~jwe_gate.Hasher` for Django's hashes: True or
    False for a hash one of ``settings.PASSWORD_HASHERS`` knows (PBKDF2, bcrypt, scrypt, ...),
    None for anything else. Needs Django's settings configured."""
    from django.contrib.auth.hashers import check_password, identify_hasher

    try:
        identify_hasher(stored)
    except ValueError:
        return None  # not a Django hash, or its hasher is not in PASSWORD_HASHERS
    return bool(check_password(password, stored))


def hasher(**options: Any) -> Hasher:
    """A :class:`~jwe_gate.Hasher` (``options`` as its own) that also verifies Django's
    hashes, so a login upgrades them to argon2id: ``Gate(..., hasher=hasher())``."""
    return Hasher(**options, foreign=django_hashes)


def read_hash(stored: Any) -> Any:
    """A password column's value as the gate's hasher reads it: Django's argon2 encoding
    loses its prefix; other schemes stay as they are (for :func:`django_hashes`)."""
    if isinstance(stored, str) and stored.startswith(DJANGO_ARGON2 + "$argon2"):
        return stored[len(DJANGO_ARGON2) :]
    return stored


def write_hash(value: Any) -> Any:
    """The gate's argon2 hash in Django's encoding, so Django's own login (the admin site)
    still verifies it with its ``Argon2PasswordHasher``."""
    if isinstance(value, str) and value.startswith("$argon2"):
        return DJANGO_ARGON2 + value
    return value
