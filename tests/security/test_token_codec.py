"""§Tokens, the codec's own path: one jwcrypto object reused per thread, the key picked by kid,
canonical base64url read from the text, claims frozen in place, each with the verdicts they had.

The codec is driven directly (no adapter), its verified-token cache off so every call decrypts,
and every case runs twice on the same codec between two good tokens: what one token leaves in
the reused jwcrypto object must never change the verdict on the next.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pytest
from jwcrypto import jwe, jwk
from jwcrypto.common import base64url_decode, base64url_encode, json_encode

from jwe_gate import ExpiredTokenError, KeyRing, TokenError
from jwe_gate._tokens import TokenCodec, thaw
from jwe_gate._tokens.codec import _canonical

OLD = KeyRing.generate()
"""The ring before rotation."""
RING = OLD.rotated()
"""The ring after rotation: a new encryption key in front, the old key still there."""
NEW_KID, OLD_KID = RING.kids
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def b64(data: bytes | str) -> str:
    return str(base64url_encode(data))


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for user 1 at the current time, with overrides."""
    now = int(time.time())
    return {"sub": "1", "tbl": "user", "iat": now, "nbf": now, "exp": now + 600, **overrides}


def seal(
    key: jwk.JWK,
    *,
    kid: str | None,
    alg: str = "A256KW",
    enc: str = "A256CBC-HS512",
    payload: dict[str, Any] | None = None,
    **header: Any,
) -> str:
    """A real compact JWE under ``key`` with the header as given (no kid when ``kid`` is None)."""
    protected: dict[str, Any] = {"alg": alg, "enc": enc, **header}
    if kid is not None:
        protected["kid"] = kid
    body = json.dumps(claims() if payload is None else payload).encode()
    token = jwe.JWE(body, json_encode(protected), algs=[alg, enc])
    token.add_recipient(key)
    return str(token.serialize(compact=True))


def reheader(token: str, header: dict[str, Any]) -> str:
    """``token`` with its protected header replaced (the other four segments kept)."""
    return ".".join([b64(json.dumps(header)), *token.split(".")[1:]])


def ring_key(kid: str) -> jwk.JWK:
    key = RING.get(kid)
    assert key is not None
    return key


def new_key() -> jwk.JWK:
    return ring_key(NEW_KID)


def old_key() -> jwk.JWK:
    return ring_key(OLD_KID)


def foreign_key() -> jwk.JWK:
    return jwk.JWK(kty="oct", k=b64(os.urandom(32)))


def flip_tag(token: str) -> str:
    parts = token.split(".")
    tag = bytearray(base64url_decode(parts[4]))
    tag[0] ^= 1
    parts[4] = b64(bytes(tag))
    return ".".join(parts)


def last_char_aliased(token: str) -> str:
    """The same bytes, the header's last character with its unused bits set (non-canonical)."""
    parts = token.split(".")
    unused = {2: 0b1111, 3: 0b11}[len(parts[0]) % 4]
    parts[0] = parts[0][:-1] + ALPHABET[ALPHABET.index(parts[0][-1]) | unused]
    return ".".join(parts)


def header_needing_alias(token: str) -> str:
    """``token`` with a header padded (an unknown, ignored parameter) to a length of 4n+2."""
    header = json.loads(base64url_decode(token.split(".")[0]))
    for pad in range(4):
        candidate = reheader(token, {**header, "x": "p" * pad})
        if len(candidate.split(".")[0]) % 4 == 2:
            return candidate
    raise AssertionError("no padding gives a 4n+2 header")  # pragma: no cover


@dataclass(frozen=True)
class Case:
    build: Callable[[], str]
    verdict: str
    """``"sub=<id>"`` when accepted, else the start of the refusal's reason."""
    key_work: bool = True
    """Whether jwcrypto is asked to decrypt at all (refusals before it do no key work)."""
    compress: bool = False


CASES = [
    pytest.param(Case(lambda: seal(new_key(), kid=NEW_KID), "sub=1"), id="current-key"),
    pytest.param(
        Case(lambda: seal(old_key(), kid=OLD_KID, payload=claims(sub="7")), "sub=7"),
        id="rotated-out-key-still-in-ring",
    ),
    pytest.param(
        Case(lambda: seal(old_key(), kid=None, payload=claims(sub="8")), "sub=8"),
        id="no-kid-old-key-found-by-trying-the-ring",
    ),
    pytest.param(
        Case(lambda: seal(foreign_key(), kid=None), "decryption failed"),
        id="no-kid-foreign-key",
    ),
    pytest.param(
        Case(lambda: seal(old_key(), kid=NEW_KID), "decryption failed"),
        id="old-key-under-new-kid-not-retried",
    ),
    pytest.param(
        Case(lambda: seal(new_key(), kid="nope"), "unknown kid 'nope'", key_work=False),
        id="kid-unknown-to-ring",
    ),
    pytest.param(
        Case(
            lambda: reheader(
                seal(new_key(), kid=NEW_KID),
                {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": [NEW_KID]},
            ),
            "unknown kid [",
            key_work=False,
        ),
        id="kid-a-list",
    ),
    pytest.param(
        Case(
            lambda: reheader(
                seal(new_key(), kid=NEW_KID),
                {"alg": "A128KW", "enc": "A256CBC-HS512", "kid": NEW_KID},
            ),
            "algorithm not allowed: alg='A128KW'",
            key_work=False,
        ),
        id="header-names-A128KW",
    ),
    pytest.param(
        Case(
            lambda: seal(new_key(), kid=NEW_KID, enc="A128CBC-HS256"),
            "algorithm not allowed",
            key_work=False,
        ),
        id="real-token-enc-A128CBC-HS256",
    ),
    pytest.param(
        Case(
            lambda: seal(new_key(), kid=NEW_KID, alg="dir", enc="A256GCM"),
            "algorithm not allowed: alg='dir'",
            key_work=False,
        ),
        id="real-token-alg-dir",
    ),
    pytest.param(
        Case(
            lambda: seal(new_key(), kid=NEW_KID, zip="DEF"),
            "compression not allowed",
            key_work=False,
        ),
        id="zip-DEF-not-opted-in",
    ),
    pytest.param(
        Case(lambda: seal(new_key(), kid=NEW_KID, zip="DEF"), "sub=1", compress=True),
        id="zip-DEF-opted-in",
    ),
    pytest.param(
        Case(
            lambda: reheader(
                seal(new_key(), kid=NEW_KID),
                {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": NEW_KID, "zip": "GZIP"},
            ),
            "compression not allowed",
            key_work=False,
            compress=True,
        ),
        id="zip-unknown-opted-in",
    ),
    pytest.param(
        Case(
            lambda: seal(new_key(), kid=NEW_KID, crit=["exp"], exp=1),
            "critical header parameters",
            key_work=False,
        ),
        id="crit",
    ),
    pytest.param(
        Case(
            lambda: last_char_aliased(header_needing_alias(seal(new_key(), kid=NEW_KID))),
            "non-canonical base64url",
            key_work=False,
        ),
        id="header-last-char-unused-bits-set",
    ),
    pytest.param(
        Case(lambda: flip_tag(seal(new_key(), kid=NEW_KID)), "decryption failed"),
        id="flipped-tag",
    ),
    pytest.param(
        Case(lambda: seal(new_key(), kid=NEW_KID, payload=claims(sub=1)), "claim 'sub'"),
        id="sub-not-a-string",
    ),
    pytest.param(
        Case(
            lambda: seal(new_key(), kid=NEW_KID, payload=claims(exp=int(time.time()) - 3600)),
            "expired at",
        ),
        id="expired",
    ),
]


@pytest.fixture
def decrypts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per ``JWE.decrypt`` call jwcrypto is asked to make."""
    calls: list[int] = []
    original = jwe.JWE.decrypt

    @functools.wraps(original)
    def spy(self: jwe.JWE, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(jwe.JWE, "decrypt", spy)
    return calls


def verdict(codec: TokenCodec, token: str) -> str:
    try:
        return f"sub={codec.decode(token, now=time.time()).sub}"
    except TokenError as exc:
        return str(exc)


@pytest.mark.parametrize("case", CASES)
def test_codec_verdicts_hold_on_a_reused_object(case: Case, decrypts: list[int]) -> None:
    """Each token is accepted or refused for its reason, twice, between good tokens, and
    the refusals before decryption do no key work."""
    codec = TokenCodec(RING, cache_size=0, compress=case.compress)
    good = seal(new_key(), kid=NEW_KID, payload=claims(sub="42"))
    token = case.build()
    assert verdict(codec, good) == "sub=42"
    for _ in range(2):
        decrypts.clear()
        assert verdict(codec, token).startswith(case.verdict)
        assert bool(decrypts) is case.key_work
        assert verdict(codec, good) == "sub=42"


def test_expired_is_still_its_own_error() -> None:
    """An expired token raises ExpiredTokenError (the subclass), not a plain TokenError."""
    codec = TokenCodec(RING, cache_size=0)
    token = seal(new_key(), kid=NEW_KID, payload=claims(exp=int(time.time()) - 3600))
    with pytest.raises(ExpiredTokenError):
        codec.decode(token, now=time.time())


def test_reused_object_holds_no_token_after_a_call() -> None:
    """After an accepted and after a refused token, the thread's jwcrypto object keeps no
    content key, plaintext or token parts."""
    codec = TokenCodec(RING, cache_size=0)
    for token in (seal(new_key(), kid=NEW_KID), flip_tag(seal(new_key(), kid=NEW_KID))):
        verdict(codec, token)
        obj = codec._jwe()
        assert (obj.cek, obj.plaintext, obj.objects) == (None, None, {})


def test_jwcrypto_object_allows_exactly_the_configured_pair() -> None:
    """The reused object carries the allow-list, so jwcrypto itself (past the codec's own
    check) refuses a real token under another enc with the right key."""
    codec = TokenCodec(RING, cache_size=0)
    obj = codec._jwe()
    assert obj.allowed_algs == ["A256KW", "A256CBC-HS512"]
    obj.deserialize(seal(new_key(), kid=NEW_KID, enc="A128CBC-HS256"))
    with pytest.raises(jwe.InvalidJWEData, match="Algorithm not allowed"):
        obj.decrypt(new_key())


def test_threads_each_read_their_own_tokens() -> None:
    """Four threads decoding at once each get the claims of the token they passed, on a
    jwcrypto object of their own."""
    codec = TokenCodec(RING, cache_size=0)
    tokens = {str(i): seal(new_key(), kid=NEW_KID, payload=claims(sub=str(i))) for i in range(40)}
    wrong: list[tuple[str, str]] = []
    objects: dict[int, jwe.JWE] = {}
    start = threading.Barrier(4)

    def work(n: int) -> None:
        start.wait()
        for _ in range(5):
            for sub, token in tokens.items():
                got = codec.decode(token, now=time.time()).sub
                if got != sub:
                    wrong.append((sub, got))  # pragma: no cover
        objects[n] = codec._jwe()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
    assert len({id(o) for o in objects.values()}) == 4


@pytest.mark.parametrize(
    "length",
    [
        pytest.param(4, id="4n"),
        pytest.param(5, id="4n+1"),
        pytest.param(6, id="4n+2"),
        pytest.param(7, id="4n+3"),
    ],
)
def test_canonical_reads_the_text_as_a_round_trip_would(length: int) -> None:
    """For every last character, the text-only check agrees with decoding and re-encoding."""
    for last in ALPHABET:
        segment = "Q" * (length - 1) + last
        try:
            expected = b64(base64url_decode(segment)) == segment
        except ValueError:
            expected = False
        assert _canonical(segment) is expected, segment
    assert _canonical("") is True  # an empty encrypted key ("dir") is its own spelling


@pytest.mark.parametrize(
    "extras",
    [
        pytest.param({}, id="empty"),
        pytest.param({"role": "admin", "n": 1.5, "ok": True, "none": None}, id="flat"),
        pytest.param({"teams": ["a", ["b", {"c": [1, 2]}]]}, id="lists-in-lists"),
        pytest.param({"meta": {"x": {"y": {"z": []}}}}, id="objects-in-objects"),
    ],
)
def test_claims_are_frozen_all_the_way_down(extras: dict[str, Any]) -> None:
    """Decoded claims read back as what was minted, every object a read-only view and every
    array a tuple, and ``extras`` is the very view inside ``raw``."""
    codec = TokenCodec(RING, cache_size=0)
    payload = claims(extras=extras)
    got = codec.decode(seal(new_key(), kid=NEW_KID, payload=payload), now=time.time())
    assert thaw(got.raw) == payload
    assert got.extras is got.raw["extras"]

    def writable(value: Any) -> bool:
        if isinstance(value, Mapping):
            return not isinstance(value, MappingProxyType) or any(map(writable, value.values()))
        return isinstance(value, list) or (isinstance(value, tuple) and any(map(writable, value)))

    assert not writable(got.raw)


def test_claims_without_extras_get_an_empty_read_only_view() -> None:
    """A token with no ``extras`` claim decodes to empty, read-only extras."""
    codec = TokenCodec(RING, cache_size=0)
    got = codec.decode(seal(new_key(), kid=NEW_KID), now=time.time())
    assert dict(got.extras) == {}
    assert isinstance(got.extras, MappingProxyType)
