"""Parsing and checking endpoint input. Every check here runs before any hashing or store
round trip: bad input costs nothing."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from .._sansio import refusals
from .._sansio.http import Refusal
from .flow import Refused

__all__ = ["json_object", "login_value", "one_time_token", "refresh_token", "signup_extras", "text"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_REFRESH_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
LOGIN_MAX = 254
NAME_MAX = 200
FIELD_MAX = 1000
"""The longest string a signup field (``Table(signup_fields=...)``) may hold."""
_INT_MAX = 2**53  # what JSON readers in every language keep exactly


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # deep nesting ([[[[...) raised a 503, not a 400
        raise Refused(refusals.input_error("body", "Request body must be a JSON object.")) from None
    if not isinstance(data, dict):
        raise Refused(refusals.input_error("body", "Request body must be a JSON object."))
    return data


def text(data: Mapping[str, Any], name: str, *, max_len: int, required: bool = True) -> str:
    """Field ``name`` as a string of at most ``max_len`` characters, or a 400 naming it."""
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise Refused(refusals.input_error(name, f"Missing param: {name}"))
    # Lone surrogates cannot be encoded: they made hashing (and rendering) raise, a 503.
    if len(value) > max_len or "\x00" in value or _SURROGATE.search(value):
        # Checked before any hashing: an oversized field costs nothing.
        raise Refused(refusals.input_error(name, f"Invalid value for {name}."))
    return value


def login_value(data: Mapping[str, Any], field: str, normalize: Callable[[str], str]) -> str:
    """The login field, normalized by the table (``normalize``), or a 400."""
    value: str = normalize(text(data, field, max_len=LOGIN_MAX))
    if field == "email" and not _EMAIL.fullmatch(value):
        raise Refused(refusals.input_error(field, "Invalid email address."))
    # No real login has a control character; refusing them keeps CR/LF out of the logs and
    # stops look-alike accounts that differ from another only by an invisible character.
    if not value or any(ord(c) < 0x20 for c in value):
        raise Refused(refusals.input_error(field, f"Invalid value for {field}."))
    return value


def refresh_token(data: Mapping[str, Any]) -> str:
    """The ``refreshToken`` field, or a 400 (missing) or 401 (not one we could have minted)."""
    token = data.get("refreshToken")
    if not isinstance(token, str) or not token:
        raise Refused(refusals.input_error("refreshToken", "Missing param: refreshToken"))
    if not _REFRESH_TOKEN.fullmatch(token):
        # Not a token we could have minted: refused without a store round trip, so junk of
        # any size or alphabet never costs a hash and a query.
        raise Refused(refusals.REFRESH_INVALID)
    return token


def one_time_token(data: Mapping[str, Any], refusal: Refusal) -> str:
    """The ``token`` field of a recovery endpoint, or a 400: missing, or not one we could have
    minted (``refusal``, the same answer as an unknown or spent token)."""
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise Refused(refusals.input_error("token", "Missing param: token"))
    if not _REFRESH_TOKEN.fullmatch(token):
        # Junk of any size or alphabet is refused without a store round trip.
        raise Refused(refusal)
    return token


def signup_extras(data: Mapping[str, Any], fields: Mapping[str, type]) -> dict[str, Any]:
    """The table's extra signup fields that came, each of its type, or a 400 naming the first
    that is not. Fields the table does not list are ignored (never stored)."""
    found: dict[str, Any] = {}
    for name, kind in fields.items():
        value = data.get(name)
        if value is None:
            continue  # optional: absent (or null) stores nothing
        if kind is str:
            found[name] = text(data, name, max_len=FIELD_MAX)
            continue
        # bool is an int to Python, but never a number a user meant (nor 1 a True).
        ok = (
            isinstance(value, bool)
            if kind is bool
            else not isinstance(value, bool)
            and (isinstance(value, int) if kind is int else isinstance(value, int | float))
        )
        if ok and kind is not bool and not (math.isfinite(value) and abs(value) <= _INT_MAX):
            ok = False
        if not ok:
            raise Refused(refusals.input_error(name, f"Invalid value for {name}: {kind.__name__}."))
        found[name] = value
    return found
