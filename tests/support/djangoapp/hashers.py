"""Django's PBKDF2 hasher with few iterations: the same scheme and encoding, cheaper."""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2(PBKDF2PasswordHasher):  # type: ignore[misc]
    iterations = 1000
