"""``inspect_token``: one token explained for debugging (``jwe-gate inspect``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..exceptions import TokenError
from .codec import TokenCodec, thaw

__all__ = ["inspect_token"]


def inspect_token(codec: TokenCodec, token: str, *, now: float) -> dict[str, Any]:
    """Decrypt ``token`` for debugging: header, claims (when they decrypt) and what is wrong."""
    report: dict[str, Any] = {"header": None, "claims": None, "problem": None}
    try:
        report["header"] = codec.read_header(token)
    except TokenError as exc:
        report["problem"] = str(exc)
        return report
    try:
        claims = codec._verify(token)
    except TokenError as exc:
        report["problem"] = str(exc)
        return report
    report["claims"] = thaw(claims.raw)
    report["times"] = {
        name: _iso(claims.raw[name])
        for name in ("iat", "nbf", "exp")
        if isinstance(claims.raw.get(name), int | float)
    }
    try:
        codec._check_times(claims, now)
    except TokenError as exc:
        report["problem"] = str(exc)
        return report
    # Accepted, but only thanks to the clock-skew leeway: say so, it is about to fail.
    if now >= claims.exp:
        report["leeway"] = f"expired at {_iso(claims.exp)}; accepted within the leeway"
    elif claims.nbf is not None and now < claims.nbf:
        report["leeway"] = f"not valid before {_iso(claims.nbf)}; accepted within the leeway"
    elif now < claims.iat:
        report["leeway"] = f"issued in the future ({_iso(claims.iat)}); accepted within the leeway"
    return report


def _iso(t: float) -> str:
    """``t`` (epoch seconds) as an ISO 8601 UTC date."""
    try:
        return datetime.fromtimestamp(t, tz=UTC).isoformat()
    except (OverflowError, OSError, ValueError):  # a forged, absurd time: shown, not raised
        return f"{t} (out of range)"
