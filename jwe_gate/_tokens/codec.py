"""The compact-JWE codec: mints and verifies access tokens (``inspection`` explains one)."""

from __future__ import annotations

import json
import math
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from threading import Lock, local
from types import MappingProxyType
from typing import Any

from jwcrypto import jwe, jwk
from jwcrypto.common import base64url_decode, json_encode

from .._sansio.records import PASSWORD_STAMP
from .._sansio.user import Claims
from ..exceptions import ConfigurationError, ExpiredTokenError, TokenError
from .keys import KeyRing

__all__ = [
    "DEFAULT_ALGORITHMS",
    "PASSWORD_STAMP",
    "TokenCodec",
    "thaw",
]

DEFAULT_ALGORITHMS: tuple[str, str] = ("A256KW", "A256CBC-HS512")
"""The one pair the gate issues and, by default, the only pair it accepts (RFC 8725 §3.1)."""

KEY_MANAGEMENT_ALGS = frozenset(
    {"A128KW", "A192KW", "A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW", "dir"}
)
ASYMMETRIC_ALGS = frozenset(
    {"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"}
)
CONTENT_ALGS = frozenset(
    {"A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM"}
)
_KEY_BITS = {
    "A128KW": 128,
    "A192KW": 192,
    "A256KW": 256,
    "A128GCMKW": 128,
    "A192GCMKW": 192,
    "A256GCMKW": 256,
}
_ENC_KEY_BITS = {
    "A128CBC-HS256": 256,
    "A192CBC-HS384": 384,
    "A256CBC-HS512": 512,
    "A128GCM": 128,
    "A192GCM": 192,
    "A256GCM": 256,
}

# Compact serialization only: five segments of the base64url alphabet, nothing else (no padding,
# no spaces, no JSON serialization); the encrypted key may be empty ("dir").
_COMPACT = re.compile(
    r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"
    r"\.[A-Za-z0-9_-]+"
)
_REGISTERED_NUMERIC = ("exp", "iat", "nbf")
# A base64url segment of length 4n+2 (4n+3) leaves 4 (2) bits of its last character unused: the
# characters whose unused bits are all zero, the only ones base64url_encode ever writes there.
_CANONICAL_TAIL = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTAINERS = (dict, list)
_NUMBERS = (int, float)


def _is_number(value: object) -> bool:
    # bool is an int subclass; "exp": true must not pass as 1.
    return isinstance(value, _NUMBERS) and not isinstance(value, bool) and math.isfinite(value)


def _canonical(segment: str) -> bool:
    """True when the segment is the one base64url spelling of its bytes (no stray trailing bits).

    ``segment`` holds only base64url characters (the compact-form pattern checked that)."""
    # Two spellings of one token would make the verified-token cache and logs disagree, and a
    # "flipped bit" in a trailing character must never still decode to the same bytes. Read
    # from the text alone: jwcrypto decodes the segments itself, no need to decode them twice.
    rest = len(segment) % 4
    return rest == 0 or (rest != 1 and segment[-1] in _CANONICAL_TAIL[rest])


class TokenCodec:
    """Mints and verifies compact JWE access tokens. Validates its settings once, here."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 30.0,
        max_token_bytes: int = 8192,
        compress: bool = False,
        cache_size: int = 4096,
    ) -> None:
        algs = tuple(dict.fromkeys(algorithms))
        for name in algs:
            if name.startswith("PBES2"):
                # Password-based JWE lets a token choose its own work factor (p2c): never.
                raise ConfigurationError("PBES2 algorithms are never accepted")
            if name not in KEY_MANAGEMENT_ALGS | ASYMMETRIC_ALGS | CONTENT_ALGS:
                raise ConfigurationError(f"unknown JWE algorithm {name!r}")
        kw = [a for a in algs if a in KEY_MANAGEMENT_ALGS | ASYMMETRIC_ALGS]
        enc = [a for a in algs if a in CONTENT_ALGS]
        if not kw or not enc:
            raise ConfigurationError("algorithms must list a key-management alg and an enc")
        if leeway < 0 or max_token_bytes <= 0 or cache_size < 0:
            raise ConfigurationError("leeway, max_token_bytes and cache_size must be >= 0")
        self.keys = keys
        self.kw_algs = frozenset(kw)
        self.enc_algs = frozenset(enc)
        self.issue_alg, self.issue_enc = kw[0], enc[0]
        self._check_issue_key()
        self.issuer = issuer
        self.audience = audience
        self.leeway = float(leeway)
        self.max_token_bytes = max_token_bytes
        self.compress = compress
        self._algs = list(algs)
        self._cache: OrderedDict[str, Claims] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()
        self._local = local()

    def _check_issue_key(self) -> None:
        key = self.keys.encryption_key
        if key.get("kty") != "oct":
            if self.issue_alg not in ASYMMETRIC_ALGS:
                raise ConfigurationError(f"{self.issue_alg} needs an 'oct' encryption key")
            return
        bits = len(base64url_decode(key.get("k", ""))) * 8
        need = (
            _ENC_KEY_BITS[self.issue_enc]
            if self.issue_alg == "dir"
            else _KEY_BITS.get(self.issue_alg)
        )
        if need is not None and bits != need:
            raise ConfigurationError(
                f"{self.issue_alg}/{self.issue_enc} needs a {need}-bit encryption key, "
                f"the ring's first key has {bits} bits"
            )

    # -- minting ---------------------------------------------------------------------------

    def mint(
        self,
        table: str,
        id: Any,
        *,
        ttl: float,
        now: float,
        extras: Mapping[str, Any] | None = None,
        session: str | None = None,
        password_stamp: float | None = None,
    ) -> str:
        """An access token for record ``id`` of ``table``, valid ``ttl`` seconds from ``now``.

        ``session`` is the refresh family (the ``sid`` claim, so logout can end that session);
        ``password_stamp`` the record's password-change stamp (the ``pwc`` claim, which must
        still match the record for the token to count: exact revocation)."""
        if not ttl > 0:  # NaN fails too
            raise ConfigurationError("ttl must be positive")
        if extras is not None and not isinstance(extras, Mapping):
            raise ConfigurationError("extras must be a mapping")
        if not str(id):
            raise ConfigurationError("the record id must not be empty")
        claims: dict[str, Any] = {
            # Whole seconds: JOSE libraries round "now" down, and a fractional iat would look
            # issued in the future to them for the rest of its second.
            "sub": str(id),
            "tbl": table,
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + math.ceil(ttl),
            "jti": secrets.token_urlsafe(16),
            "extras": dict(extras or {}),
        }
        if password_stamp is not None:
            claims[PASSWORD_STAMP] = password_stamp
        if session is not None:
            claims["sid"] = session
        if self.issuer is not None:
            claims["iss"] = self.issuer
        if self.audience is not None:
            claims["aud"] = self.audience
        return self.encode(claims)

    def encode(self, claims: Mapping[str, Any]) -> str:
        """Encrypt ``claims`` (a JSON object) to a compact JWE with the ring's first key."""
        key = self.keys.encryption_key
        header: dict[str, Any] = {
            "alg": self.issue_alg,
            "enc": self.issue_enc,
            "kid": key.get("kid"),
        }
        if self.compress:
            header["zip"] = "DEF"
        payload = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode()
        token = jwe.JWE(payload, json_encode(header), algs=self._algs)
        if self.issue_alg in ASYMMETRIC_ALGS:
            key = jwk.JWK(**key.export_public(as_dict=True))
        token.add_recipient(key)
        return str(token.serialize(compact=True))

    # -- verifying -------------------------------------------------------------------------

    def decode(self, token: str, *, now: float) -> Claims:
        """Verify ``token`` at time ``now`` and return its claims.

        Raises:
            ExpiredTokenError: ``exp`` plus leeway has passed.
            TokenError: anything else; the message says exactly what, for logs.
        """
        # Before the cache and any parsing: an oversized token costs nothing, not even a lookup.
        if len(token) > self.max_token_bytes:
            raise TokenError(f"token is {len(token)} bytes, over the {self.max_token_bytes} limit")
        claims = self._cache.get(token)
        if claims is None:
            claims = self._verify(token)
            if self._cache_size:
                with self._lock:
                    self._cache[token] = claims
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        elif self._cache_size:
            with self._lock:  # least recently used goes first: a flood of new tokens cannot
                if token in self._cache:  # push out the ones in steady use
                    self._cache.move_to_end(token)
        self._check_times(claims, now)
        return claims

    def _verify(self, token: str) -> Claims:
        header = self.read_header(token)
        alg, enc = header.get("alg"), header.get("enc")
        # The allow-list is checked here, before any key is touched (no key work for a forged
        # alg), and jwcrypto is given the same list as a second lock.
        if not (
            isinstance(alg, str)
            and isinstance(enc, str)  # a list alg is unhashable:
            and alg in self.kw_algs
            and enc in self.enc_algs
        ):  # TypeError, a 500
            raise TokenError(f"algorithm not allowed: alg={alg!r} enc={enc!r}")
        if "zip" in header and not (self.compress and header["zip"] == "DEF"):
            # Compression before encryption is discouraged (RFC 8725 §3.6): only when opted in.
            raise TokenError(f"compression not allowed: zip={header['zip']!r}")
        # A critical extension we do not implement must not be silently ignored (RFC 7516 §4.1.13).
        if "crit" in header:
            raise TokenError("critical header parameters are not supported")
        kid = header.get("kid")
        key: Any
        if kid is None:
            key = self.keys.jwk_set  # no kid: jwcrypto tries each key of the ring
        else:
            # The kid picks the one key to try; a kid the ring lacks does no key work at all.
            key = self.keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise TokenError(f"unknown kid {kid!r}")
        obj = self._jwe()
        try:
            obj.deserialize(token)
            # Bounds what a compressed (zip) plaintext may inflate to: no decompression bomb.
            obj.decrypt(key, max_plaintext=self.max_token_bytes * 4)
            payload = obj.payload
        except Exception as exc:  # jwcrypto raises many types; all mean "not ours"
            raise TokenError(f"decryption failed: {type(exc).__name__}") from exc
        finally:
            # The reused object must not keep this token's content key or plaintext alive.
            obj.objects, obj.plaintext, obj.cek = {}, None, None
        return self._claims(payload)

    def _jwe(self) -> jwe.JWE:
        """This thread's jwcrypto JWE object, made once with the allow-list and reused.

        ``JWE.deserialize`` replaces all of an object's token state (its documented contract),
        so one object serves every token; making one costs jwcrypto a deep copy of its header
        registry, about as much as the decryption itself. One per thread: an object holds
        the token being read until the call returns."""
        obj: jwe.JWE | None = getattr(self._local, "jwe", None)
        if obj is None:
            obj = self._local.jwe = jwe.JWE(algs=self._algs)
        return obj

    def read_header(self, token: str) -> dict[str, Any]:
        """Parse the protected header of a compact JWE without any key work."""
        if not isinstance(token, str) or not _COMPACT.fullmatch(token):
            raise TokenError("not a compact JWE (five base64url segments)")
        segments = token.split(".")
        if not all(_canonical(s) for s in segments):
            raise TokenError("non-canonical base64url")
        try:
            header = json.loads(base64url_decode(segments[0]))
        except (ValueError, RecursionError) as exc:  # "[[[[..." nests past the recursion limit
            raise TokenError("protected header is not JSON") from exc
        if not isinstance(header, dict):
            raise TokenError("protected header is not a JSON object")
        return header

    def _claims(self, payload: bytes) -> Claims:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # "[[[[..." nests past the recursion limit
            raise TokenError("plaintext is not JSON") from exc
        if not isinstance(data, dict):
            raise TokenError("claims are not a JSON object")
        for name in _REGISTERED_NUMERIC:
            if name in data and not _is_number(data[name]):
                raise TokenError(f"claim {name!r} is not a number")
        for name in ("exp", "iat"):
            if name not in data:
                raise TokenError(f"claim {name!r} is missing")
        sub, tbl, extras = data.get("sub"), data.get("tbl"), data.get("extras", {})
        if not isinstance(sub, str) or not sub:
            raise TokenError("claim 'sub' is missing or not a string")
        if not isinstance(tbl, str) or not tbl:
            raise TokenError("claim 'tbl' is missing or not a string")
        if not isinstance(extras, dict):
            raise TokenError("claim 'extras' is not an object")
        jti = data.get("jti")
        if jti is not None and not isinstance(jti, str):
            raise TokenError("claim 'jti' is not a string")
        if self.issuer is not None and data.get("iss") != self.issuer:
            raise TokenError(f"wrong issuer {data.get('iss')!r}")
        if self.audience is not None:
            aud = data.get("aud")
            ok = aud == self.audience or (isinstance(aud, list) and self.audience in aud)
            if not ok:
                raise TokenError(f"wrong audience {aud!r}")
        # Frozen all the way down: verified claims are cached and shared by every request that
        # presents the token, so no request may change what the next one is authorized for.
        raw = _frozen(data)
        return Claims(
            sub=sub,
            tbl=tbl,
            iat=data["iat"],
            exp=data["exp"],
            nbf=data.get("nbf"),
            jti=jti,
            extras=raw.get("extras", _EMPTY),  # the frozen copy inside raw, not a second one
            raw=raw,
        )

    def _check_times(self, claims: Claims, now: float) -> None:
        if now >= claims.exp + self.leeway:
            raise ExpiredTokenError(f"expired at {claims.exp}")
        if claims.nbf is not None and now + self.leeway < claims.nbf:
            raise TokenError(f"not valid before {claims.nbf}")
        # A token "issued" in the future was minted with a wrong or forged clock: refuse it.
        if now + self.leeway < claims.iat:
            raise TokenError(f"issued in the future ({claims.iat})")


def _frozen(value: Any) -> Any:
    """Freshly parsed JSON made immutable, in place: objects become read-only views, arrays
    tuples. Only for data nothing else holds (``_claims``' own ``json.loads`` result), so no
    writable reference to what the views show survives."""
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, _CONTAINERS):
                value[k] = _frozen(v)  # replaces a value, never adds a key: safe mid-iteration
        return MappingProxyType(value)
    if isinstance(value, list):
        return tuple(_frozen(v) if isinstance(v, _CONTAINERS) else v for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain JSON form of frozen claims (for printing or serializing)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
