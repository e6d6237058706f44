"""The ``Gate``'s settings, grouped in frozen dataclasses and validated once, when built."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, TypeVar

from ._endpoints.throttle import Throttle
from ._passwords import Hasher, PasswordPolicy
from ._tokens import DEFAULT_ALGORITHMS
from .exceptions import ConfigurationError

__all__ = ["EndpointSettings", "SessionSettings", "TokenSettings", "groups", "merge"]

ExtrasFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]
S = TypeVar("S", "TokenSettings", "SessionSettings", "EndpointSettings")


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """How access tokens are minted and verified.

    Args:
        algorithms: the accepted JWE ``alg``/``enc`` names; the first of each kind is issued.
            Default: only ``A256KW`` + ``A256CBC-HS512``.
        issuer: when set, minted into ``iss`` and required on decode.
        audience: when set, minted into ``aud`` and required on decode.
        leeway: seconds of clock skew tolerated on ``exp``/``nbf``/``iat``.
        max_token_bytes: longer tokens are refused unread.
        compress: mint ``zip: DEF`` tokens (as Xano does) and accept them; off by default.
        cache_size: how many verified tokens to remember (skips repeated decryption; expiry and
            the record are still checked every time). 0 turns it off.
    """

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    issuer: str | None = None
    audience: str | None = None
    leeway: float = 30.0
    max_token_bytes: int = 8192
    compress: bool = False
    cache_size: int = 4096

    def __post_init__(self) -> None:
        # Checked where they are used, once: the TokenCodec the Gate builds from these.
        object.__setattr__(self, "algorithms", tuple(self.algorithms))

    def codec_options(self) -> dict[str, Any]:
        """These settings as ``TokenCodec`` keywords."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """Where sessions and the throttle's counters live, and how refresh tokens rotate.

    Args:
        refresh_store: where sessions (refresh-token families) live. In process memory when
            None: use a SQLite, SQLAlchemy or Redis store when several workers serve one app;
            ``Gate(stores=...)`` gives all three stores at once.
        throttle_store: where the throttle's counters live (in process memory when None).
        once_store: where one-time tokens live (in process memory when None).
        refresh_grace: seconds during which a just-spent refresh token may be presented again
            (two tabs refreshing at once) and gets the same child; 0 turns it off.
        throttle: the throttle's limits (logins, per address, per account; signups).
        check_sessions: refuse an access token whose session has ended (logout, reuse
            detection, a password change, ``gate.revoke``), seen within a second on every
            process sharing the refresh store. False makes access tokens purely stateless: one
            stays valid until it expires (``access_ttl``) whatever happens to its session.
        recheck_after: seconds for which the gate trusts what it last read for a token it let
            through (its session live, its record, the rule's verdict), so repeated requests
            cost no store round trip; between 0 (read the stores on every request) and 1 (the
            SPEC's bound: a revocation on another process is seen within a second). A
            revocation or a record change made through this gate is seen at once.
    """

    refresh_store: object | None = None
    throttle_store: object | None = None
    once_store: object | None = None
    refresh_grace: float = 10.0
    throttle: Throttle = field(default_factory=Throttle)
    check_sessions: bool = True
    recheck_after: float = 1.0

    def __post_init__(self) -> None:
        # Revocation must reach every process within a second (SPEC §Sessions): a longer
        # memory would let an ended session's access tokens through for longer.
        if not (0 <= self.recheck_after <= 1):
            raise ConfigurationError("recheck_after must be between 0 and 1 second")
        if not (0 <= self.refresh_grace < math.inf):
            raise ConfigurationError("refresh_grace must be >= 0")
        if not isinstance(self.throttle, Throttle):
            raise ConfigurationError("throttle must be a Throttle")


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """How the auth endpoints treat passwords and bodies.

    Args:
        hasher: the argon2id ``Hasher`` (production profile, bounded pool by default).
        password_policy: what a new password must satisfy.
        extras: ``{table: fn(record) -> extras}``: extras minted into tokens by the endpoints.
        max_body_bytes: larger auth-endpoint bodies are a 413.
    """

    hasher: Hasher | None = None
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    extras: Mapping[str, ExtrasFn] = field(default_factory=lambda: MappingProxyType({}))
    max_body_bytes: int = 64 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", MappingProxyType(dict(self.extras or {})))
        if self.max_body_bytes < 1:
            raise ConfigurationError("max_body_bytes must be >= 1")
        if self.hasher is not None and not isinstance(self.hasher, Hasher):
            raise ConfigurationError("hasher must be a Hasher")
        if not isinstance(self.password_policy, PasswordPolicy):
            raise ConfigurationError("password_policy must be a PasswordPolicy")


def merge(group: S | None, default: S, flat: Mapping[str, Any]) -> S:
    """``group`` (or ``default``) with the flat keywords that were given (not None) applied.
    Giving a group and one of its flat keywords at once is refused: which would win is a
    guess."""
    given = {k: v for k, v in flat.items() if v is not None}
    if group is None:
        return replace(default, **given) if given else default
    if given:
        raise ConfigurationError(
            f"give {sorted(given)} inside {type(group).__name__}, or as keywords, not both"
        )
    return group


_ALIASES = {"token_cache_size": "cache_size"}
"""Flat keywords whose group field has another name."""


def groups(
    tokens: TokenSettings | None,
    sessions: SessionSettings | None,
    endpoints: EndpointSettings | None,
    flat: Mapping[str, Any],
) -> tuple[TokenSettings, SessionSettings, EndpointSettings]:
    """The three groups, each with the flat keywords of its fields applied (see ``merge``).
    Every flat keyword belongs to exactly one group."""
    named = {_ALIASES.get(k, k): v for k, v in flat.items()}
    if named.get("algorithms") is not None:
        named["algorithms"] = tuple(named["algorithms"])
    tok = merge(tokens, TokenSettings(), _take(TokenSettings, named))
    ses = merge(sessions, SessionSettings(), _take(SessionSettings, named))
    ends = merge(endpoints, EndpointSettings(), _take(EndpointSettings, named))
    if named:  # pragma: no cover - the Gate's keywords and the groups' fields are written together
        raise ConfigurationError(f"keywords of no settings group: {sorted(named)}")
    return tok, ses, ends


def _take(cls: type, named: dict[str, Any]) -> dict[str, Any]:
    return {f.name: named.pop(f.name) for f in fields(cls) if f.name in named}
