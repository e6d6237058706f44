"""The readings of a request path: every path a router or server could route a request on
(``path_readings``), and each read literally and leniently (``path_segments``), with
case folded as ``re.IGNORECASE`` folds it (``casefold``). Pure functions, no rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import unquote

__all__ = ["PathSegments", "casefold", "path_readings", "path_segments"]

# Control characters (a CR/LF smuggled as %0d%0a, NUL) and backslashes are spelled differently by
# different routers and servers; no legitimate route needs them.
_BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
# 'http://host/admin' (absolute form), as a router that parses the target reads it: '/admin'.
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def _re_folding() -> Callable[[str], str]:
    """The case folding of ``re.IGNORECASE`` on str patterns: each character's simple lower case
    (``_sre.unicode_tolower``: ``İ`` -> ``i``, the Kelvin sign -> ``k``), then the extra
    equivalences ``re`` knows (``re._casefix``: U+0131 ~ ``i``, U+017F ~ ``s``, ...) mapped to
    one representative. ``str.lower`` misses those; a Django ``(?i)`` route matches them."""
    try:
        import importlib

        sre = importlib.import_module("_sre")
        casefix = importlib.import_module("re._casefix")
        tolower: Callable[[int], int] = sre.unicode_tolower
        extra: Mapping[int, tuple[int, ...]] = casefix._EXTRA_CASES
    except (ImportError, AttributeError):  # pragma: no cover - another Python implementation
        return str.lower
    canon = {k: min(k, *v) for k, v in extra.items()}

    def fold(text: str) -> str:
        if text.isascii():
            return text.lower()  # the same as re's folding on ASCII, and fast
        out = []
        for ch in text:
            low = tolower(ord(ch))
            out.append(chr(canon.get(low, low)))
        return "".join(out)

    return fold


casefold = _re_folding()
"""Fold a string as ``re.IGNORECASE`` compares it: ``casefold(a) == casefold(b)`` exactly when
``re.fullmatch(re.escape(a), b, re.IGNORECASE)`` matches (character by character)."""


class PathSegments(tuple[str, ...]):
    """The lenient matching form of a path (the tuple itself), with its literal form beside it.

    ``literal`` is the path split on ``/`` as the router sees it: case kept, ``;params`` kept,
    empty segments (``//``, a trailing slash) kept; ``()`` for ``/``.
    """

    literal: tuple[str, ...]
    stripped: tuple[str, ...]
    """``literal`` without its leading empty segments, as Werkzeug routes ``//a/b`` (``/a/b``)."""

    def __new__(cls, lenient: Iterable[str], literal: tuple[str, ...]) -> PathSegments:
        self = super().__new__(cls, lenient)
        self.literal = literal
        lead = 0
        while lead < len(literal) and not literal[lead]:
            lead += 1
        self.stripped = literal[lead:]
        return self


def path_segments(path: str) -> PathSegments | None:
    """The matching forms of a request path, or None when the path must be refused.

    Leniently: case folded as ``re.IGNORECASE`` does (``casefold``), ``;params`` stripped
    from each segment, empty segments dropped; and
    literally (``PathSegments.literal``). Dot segments (``.``/``..``, also as ``..;x``),
    control characters and backslashes give None: routers disagree on them, so no rule can be
    trusted to cover them.
    """
    if _BAD_PATH_CHARS.search(path):
        return None
    out = []
    for raw in casefold(path).split("/"):
        seg = raw.split(";", 1)[0]
        if seg in (".", ".."):
            return None
        if seg:
            out.append(seg)
    literal = () if path == "/" else tuple(path.removeprefix("/").split("/"))
    return PathSegments(out, literal)


def path_readings(path: str, root: str = "", target: str | None = None) -> tuple[str, ...]:
    """Every path a router could route this request on (ASGI ``path`` and ``root_path``).

    ``path`` is the server's decoded path (ASGI ``path``, which should but need not start with
    ``root_path``; WSGI ``PATH_INFO``), ``root`` the ASGI ``root_path`` when ``path`` still holds
    it, ``target`` the raw request target when the server gives it (ASGI ``raw_path``).
    Each reading is then read literally and leniently by ``path_segments``.
    """
    bases = [path]
    if target is not None:
        # The target as sent, decoded once: a server may parse it differently from ``path``.
        bases.append(unquote(target.partition("?")[0], errors="replace"))
    found: dict[str, None] = {}
    for base in bases:
        spellings = [base]
        if "%" in base:
            # A router or framework that decodes again reads '%2561dmin' as '/admin'.
            spellings.append(unquote(base, errors="replace"))
        for spelled in spellings:
            variants = [spelled]
            absolute = _ABSOLUTE.match(spelled)
            if absolute:
                # An absolute-form target some routers parse: its path is what they route.
                variants.append(spelled[absolute.end() :])
            for variant in variants:
                if root:
                    # root_path, which a server may take from a client header (daphne), is
                    # stripped at a segment boundary (Starlette), without one (Quart, Django,
                    # gunicorn), wherever it first occurs (Litestar), or ignored (Falcon).
                    if variant.startswith(root):
                        found.setdefault(variant[len(root) :] or "/", None)
                    if root in variant:
                        found.setdefault(variant.split(root, 1)[1] or "/", None)
                found.setdefault(variant or "/", None)
    return tuple(found)
