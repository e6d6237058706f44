"""§Tokens: the key ring, the codec's settings, and every forged token the gate must refuse.

Forged tokens are built with jwcrypto directly (real tokens under other algorithms and keys
where jwcrypto can make them, hand-built headers where it cannot) and sent through both
adapters to the protected ``/api/hello`` route.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from joserfc import jwe as rfc_jwe
from joserfc.jwk import OctKey
from jwcrypto import jwa, jwe, jwk, jws
from jwcrypto.common import base64url_decode, base64url_encode, json_encode
from support.clients import wrap

from jwe_gate import ConfigurationError, ExpiredTokenError, Gate, KeyRing, TokenError
from jwe_gate._tokens import TokenCodec, inspect_token

ALLOWED = ["A256KW", "A256CBC-HS512"]
DROP = object()
"""A claim override that removes the claim."""

# RFC 7516 Appendix A.3: A128KW + A128CBC-HS256, key A.3.3, compact token A.3.7 (no kid).
A3_KEY = {"kty": "oct", "k": "GawgguFyGrWKav7AX4VKUg"}
A3_TOKEN = (
    "eyJhbGciOiJBMTI4S1ciLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0."
    "6KB707dM9YTIgHtLvtgWQ8mKwboJW3of9locizkDTHzBC2IlrT1oOQ."
    "AxY8DCtDaGlsbGljb3RoZQ."
    "KDlTtXchhZTGufMYmOYGS4HffxPSUrfmqCHXaI9wOGY."
    "U0m_YmjN04DJvceFICbCVQ"
)


# -- token builders ---------------------------------------------------------------------------


def b64(data: bytes | str) -> str:
    return str(base64url_encode(data))


def raw_key(ring: KeyRing) -> bytes:
    """The encryption key's bytes."""
    return bytes(base64url_decode(ring.encryption_key["k"]))


def oct_key(material: bytes, kid: str | None = None) -> jwk.JWK:
    params: dict[str, Any] = {"kty": "oct", "k": b64(material)}
    if kid is not None:
        params["kid"] = kid
    return jwk.JWK(**params)


@functools.cache
def rsa_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="RSA", size=2048)


@functools.cache
def ec_key() -> jwk.JWK:
    return jwk.JWK.generate(kty="EC", crv="P-256")


def claims(**overrides: Any) -> dict[str, Any]:
    """Valid claims for user 1 at the current time, with overrides (``DROP`` removes one)."""
    now = int(time.time())
    data: dict[str, Any] = {
        "sub": "1",
        "tbl": "user",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "j",
        "extras": {},
    }
    for name, value in overrides.items():
        if value is DROP:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def seal(
    payload: dict[str, Any] | bytes,
    key: jwk.JWK,
    *,
    alg: str = "A256KW",
    enc: str = "A256CBC-HS512",
    kid: str | None = None,
    **header: Any,
) -> str:
    """A real compact JWE of ``payload`` under ``key``, with the header as given."""
    protected: dict[str, Any] = {"alg": alg, "enc": enc, **header}
    if kid is not None:
        protected["kid"] = kid
    plaintext = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    token = jwe.JWE(plaintext, json_encode(protected), algs=[alg, enc])
    token.add_recipient(key)
    return str(token.serialize(compact=True))


def good(gate: Gate) -> str:
    return gate.issue("user", 1)


def reheader(token: str, header: dict[str, Any] | bytes) -> str:
    """``token`` with its protected header replaced (the other four segments kept)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return ".".join([b64(raw), *token.split(".")[1:]])


def flip(token: str, segment: int, *, at: int | None = None, mask: int = 1) -> str:
    """``token`` with one bit flipped in ``segment`` (byte ``at``, the middle by default),
    re-encoded canonically."""
    parts = token.split(".")
    data = bytearray(base64url_decode(parts[segment]))
    i = len(data) // 2 if at is None else at
    data[i] ^= mask
    parts[segment] = b64(bytes(data))
    return ".".join(parts)


def kid_of(gate: Gate) -> str:
    return gate.keys.kids[0]


def forged_alg(
    alg: str,
    enc: str = "A256CBC-HS512",
    key: Callable[[Gate], jwk.JWK] | None = None,
    **header: Any,
) -> Callable[[Gate], str]:
    """A real token under ``alg``/``enc`` carrying the ring's kid (so only the alg check can
    stop it); ``key`` defaults to the ring's own key."""

    def build(gate: Gate) -> str:
        k = key(gate) if key else gate.keys.encryption_key
        return seal(claims(), k, alg=alg, enc=enc, kid=kid_of(gate), **header)

    return build


def hand_header(**header: Any) -> Callable[[Gate], str]:
    """A hand-built header (with the ring's kid) on the other segments of a good token."""

    def build(gate: Gate) -> str:
        return reheader(good(gate), {**header, "kid": kid_of(gate)})

    return build


def sealed(
    payload: dict[str, Any] | bytes | Callable[[], dict[str, Any] | bytes],
) -> Callable[[Gate], str]:
    """A token with the right key and header around ``payload`` (claims built at call time)."""

    def build(gate: Gate) -> str:
        body = payload() if callable(payload) else payload
        return seal(body, gate.keys.encryption_key, kid=kid_of(gate))

    return build


def _pbes2_real(gate: Gate) -> str:
    # The ring's key bytes used as the PBES2 password, p2c at jwcrypto's own default.
    return seal(
        claims(),
        gate.keys.encryption_key,
        alg="PBES2-HS512+A256KW",
        kid=kid_of(gate),
        p2s=b64(b"saltsaltsaltsalt"),
        p2c=8192,
    )


def _pbes2_huge(gate: Gate) -> str:
    # Ten million PBKDF2 rounds if anyone ever started deriving: the check must come first.
    return reheader(
        _pbes2_real(gate),
        {
            "alg": "PBES2-HS512+A256KW",
            "enc": "A256CBC-HS512",
            "p2s": b64(b"saltsaltsaltsalt"),
            "p2c": 10_000_000,
            "kid": kid_of(gate),
        },
    )


def _json_serialization(gate: Gate) -> str:
    obj = jwe.JWE(
        json.dumps(claims()).encode(),
        json_encode({"alg": "A256KW", "enc": "A256CBC-HS512", "kid": kid_of(gate)}),
        algs=ALLOWED,
    )
    obj.add_recipient(gate.keys.encryption_key)
    return str(obj.serialize())


def _hs256_jws(gate: Gate) -> str:
    token = jws.JWS(json.dumps(claims()).encode())
    token.add_signature(
        oct_key(raw_key(gate.keys)),
        alg="HS256",
        protected=json_encode({"alg": "HS256", "kid": kid_of(gate)}),
    )
    return str(token.serialize(compact=True))


def _insert(token: str, char: str, segment: int) -> str:
    parts = token.split(".")
    s = parts[segment]
    parts[segment] = s[: len(s) // 2] + char + s[len(s) // 2 :]
    return ".".join(parts)


def _length_4n1(token: str, segment: int) -> str:
    """``segment`` padded with "A"s to a length no base64 text can have (4n+1)."""
    parts = token.split(".")
    while len(parts[segment]) % 4 != 1:
        parts[segment] += "A"
    return ".".join(parts)


def _flip_kid_name(gate: Gate) -> str:
    # "kid" -> "Kid": the header still parses and names an allowed pair, so only the AAD
    # (the protected header is authenticated) can catch the change.
    token = good(gate)
    header = base64url_decode(token.split(".")[0])
    return flip(token, 0, at=header.index(b'"kid"') + 1, mask=0x20)


def _foreign(kid: str | None) -> Callable[[Gate], str]:
    def build(gate: Gate) -> str:
        other = oct_key(os.urandom(32))
        return seal(claims(), other, kid=kid_of(gate) if kid == "ring" else kid)

    return build


def _oversized(gate: Gate) -> str:
    token = gate.issue("user", 1, extras={"pad": "x" * 7000})
    assert len(token) > gate.codec.max_token_bytes
    return token


# -- the forged-token table -------------------------------------------------------------------


@dataclass(frozen=True)
class Forged:
    build: Callable[[Gate], str]
    reason: str
    """What the jwe_gate logger must say."""
    no_key_work: bool = True
    """The token must be refused before jwcrypto touches any key."""
    message: str = "Invalid token."


def _alg(build: Callable[[Gate], str], alg: str = "") -> Forged:
    return Forged(build, f"algorithm not allowed: alg={alg!r}" if alg else "algorithm not allowed")


FORGED_ALGS = [
    pytest.param(_alg(forged_alg("dir", "A256GCM"), "dir"), id="dir-A256GCM-same-key"),
    pytest.param(
        _alg(forged_alg("dir", key=lambda g: oct_key(raw_key(g.keys) * 2)), "dir"),
        id="dir-A256CBC-HS512-512bit-key",
    ),
    pytest.param(
        _alg(forged_alg("A128KW", key=lambda g: oct_key(raw_key(g.keys)[:16])), "A128KW"),
        id="A128KW-128bit-key",
    ),
    pytest.param(
        _alg(forged_alg("A192KW", key=lambda g: oct_key(raw_key(g.keys)[:24])), "A192KW"),
        id="A192KW-192bit-key",
    ),
    pytest.param(_alg(forged_alg("A256GCMKW"), "A256GCMKW"), id="A256GCMKW-same-key"),
    pytest.param(_alg(forged_alg("A256KW", "A256GCM")), id="A256KW-with-A256GCM"),
    pytest.param(_alg(forged_alg("A256KW", "A128CBC-HS256")), id="A256KW-with-A128CBC-HS256"),
    pytest.param(_alg(_pbes2_real, "PBES2-HS512+A256KW"), id="PBES2-ring-key-as-password"),
    pytest.param(_alg(_pbes2_huge, "PBES2-HS512+A256KW"), id="PBES2-p2c-10M"),
    pytest.param(
        _alg(
            hand_header(
                alg="PBES2-HS256+A128KW",
                enc="A128CBC-HS256",
                p2s="c2FsdHNhbHRzYWx0c2FsdA",
                p2c=10_000_000,
            ),
            "PBES2-HS256+A128KW",
        ),
        id="PBES2-HS256-p2c-10M",
    ),
    pytest.param(_alg(forged_alg("RSA-OAEP", key=lambda g: rsa_key()), "RSA-OAEP"), id="RSA-OAEP"),
    pytest.param(
        _alg(forged_alg("RSA-OAEP-256", key=lambda g: rsa_key()), "RSA-OAEP-256"), id="RSA-OAEP-256"
    ),
    pytest.param(_alg(forged_alg("RSA1_5", key=lambda g: rsa_key()), "RSA1_5"), id="RSA1_5"),
    pytest.param(_alg(forged_alg("ECDH-ES", key=lambda g: ec_key()), "ECDH-ES"), id="ECDH-ES"),
    pytest.param(
        _alg(forged_alg("ECDH-ES+A256KW", key=lambda g: ec_key()), "ECDH-ES+A256KW"),
        id="ECDH-ES+A256KW",
    ),
    pytest.param(_alg(hand_header(alg="none", enc="A256CBC-HS512"), "none"), id="alg-none"),
    pytest.param(_alg(hand_header(alg="A256KW", enc="none")), id="enc-none"),
    pytest.param(
        _alg(hand_header(alg="a256kw", enc="A256CBC-HS512"), "a256kw"), id="lower-case-alg"
    ),
    pytest.param(_alg(hand_header(alg="A256KW", enc="a256cbc-hs512")), id="lower-case-enc"),
    pytest.param(
        _alg(hand_header(alg="A256KW ", enc="A256CBC-HS512"), "A256KW "), id="alg-trailing-space"
    ),
    pytest.param(_alg(hand_header(alg="HS256", enc="A256CBC-HS512"), "HS256"), id="alg-HS256"),
    pytest.param(_alg(hand_header(enc="A256CBC-HS512")), id="alg-missing"),
    pytest.param(_alg(hand_header(alg="A256KW")), id="enc-missing"),
    pytest.param(_alg(hand_header(alg=None, enc="A256CBC-HS512")), id="alg-null"),
    pytest.param(_alg(hand_header(alg=["A256KW"], enc="A256CBC-HS512")), id="alg-list"),
    pytest.param(_alg(hand_header(alg="A256KW", enc={"A256CBC-HS512": 1})), id="enc-object"),
]

FORGED_OTHER = [
    # compression
    pytest.param(
        Forged(forged_alg("A256KW", zip="DEF"), "compression not allowed"),
        id="zip-DEF-not-opted-in",
    ),
    pytest.param(
        Forged(
            hand_header(alg="A256KW", enc="A256CBC-HS512", zip="GZIP"), "compression not allowed"
        ),
        id="zip-unknown",
    ),
    # header shape
    pytest.param(
        Forged(
            hand_header(alg="A256KW", enc="A256CBC-HS512", crit=["exp"], exp=1), "critical header"
        ),
        id="crit",
    ),
    pytest.param(
        Forged(lambda g: reheader(good(g), b"not json"), "protected header is not JSON"),
        id="header-not-json",
    ),
    pytest.param(
        Forged(lambda g: reheader(good(g), b"\xff\xfe{}"), "protected header is not JSON"),
        id="header-not-utf8",
    ),
    pytest.param(
        Forged(lambda g: reheader(good(g), b"[" * 3000), "protected header is not JSON"),
        id="header-nested-3000-deep",
    ),
    pytest.param(
        Forged(lambda g: reheader(good(g), b'["A256KW"]'), "protected header is not a JSON object"),
        id="header-array",
    ),
    # serialization shape
    pytest.param(Forged(_json_serialization, "not a compact JWE"), id="JSON-serialization"),
    pytest.param(Forged(_hs256_jws, "not a compact JWE"), id="HS256-JWS-same-key-bytes"),
    pytest.param(
        Forged(
            lambda g: "eyJhbGciOiJub25lIn0." + b64(json.dumps(claims())) + ".", "not a compact JWE"
        ),
        id="JWS-alg-none",
    ),
    pytest.param(
        Forged(lambda g: ".".join(good(g).split(".")[:3]), "not a compact JWE"), id="3-parts"
    ),
    pytest.param(
        Forged(lambda g: ".".join(good(g).split(".")[:4]), "not a compact JWE"), id="4-parts"
    ),
    pytest.param(Forged(lambda g: good(g) + ".AAAA", "not a compact JWE"), id="6-parts"),
    pytest.param(Forged(lambda g: "....", "not a compact JWE"), id="5-empty-parts"),
    pytest.param(Forged(lambda g: "", "not a compact JWE"), id="empty-bearer"),
    pytest.param(Forged(lambda g: "not-a-token", "not a compact JWE"), id="one-word"),
    pytest.param(Forged(lambda g: good(g) + "=", "not a compact JWE"), id="padding-=-at-end"),
    pytest.param(
        Forged(lambda g: _insert(good(g), "==", 2), "not a compact JWE"), id="padding-==-in-iv"
    ),
    pytest.param(
        Forged(lambda g: _insert(good(g), " ", 3), "not a compact JWE"), id="space-in-ciphertext"
    ),
    pytest.param(
        Forged(lambda g: _insert(good(g), "!", 1), "not a compact JWE"), id="bang-in-encrypted-key"
    ),
    pytest.param(
        Forged(lambda g: _insert(good(g), "+", 4), "not a compact JWE"), id="std-base64-plus-in-tag"
    ),
    pytest.param(
        Forged(lambda g: _insert(good(g), "/", 0), "not a compact JWE"),
        id="std-base64-slash-in-header",
    ),
    pytest.param(
        Forged(lambda g: _insert(good(g), "\xe9", 3), "not a compact JWE"),
        id="non-ascii-in-ciphertext",
    ),
    pytest.param(
        Forged(lambda g: _length_4n1(good(g), 4), "non-canonical base64url"),
        id="segment-length-4n+1",
    ),
    pytest.param(Forged(_oversized, "over the 8192 limit"), id="oversized"),
    # one flipped bit in each segment
    pytest.param(
        Forged(_flip_kid_name, "decryption failed", no_key_work=False), id="flip-header-kid-name"
    ),
    pytest.param(
        Forged(lambda g: flip(good(g), 0), "", no_key_work=False), id="flip-header-middle"
    ),
    pytest.param(
        Forged(lambda g: flip(good(g), 1), "decryption failed", no_key_work=False),
        id="flip-encrypted-key",
    ),
    pytest.param(
        Forged(lambda g: flip(good(g), 2), "decryption failed", no_key_work=False), id="flip-iv"
    ),
    pytest.param(
        Forged(lambda g: flip(good(g), 3), "decryption failed", no_key_work=False),
        id="flip-ciphertext",
    ),
    pytest.param(
        Forged(lambda g: flip(good(g), 4), "decryption failed", no_key_work=False), id="flip-tag"
    ),
    # keys
    pytest.param(
        Forged(_foreign("ring"), "decryption failed", no_key_work=False),
        id="foreign-key-with-ring-kid",
    ),
    pytest.param(
        Forged(_foreign(None), "decryption failed", no_key_work=False), id="foreign-key-no-kid"
    ),
    pytest.param(Forged(_foreign("nope"), "unknown kid 'nope'"), id="unknown-kid"),
    pytest.param(
        Forged(
            lambda g: reheader(good(g), {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": 7}),
            "unknown kid 7",
        ),
        id="kid-not-a-string",
    ),
    # claims (right key, right header)
    pytest.param(
        Forged(sealed(lambda: claims(exp=DROP)), "claim 'exp' is missing", no_key_work=False),
        id="no-exp",
    ),
    pytest.param(
        Forged(
            sealed(lambda: claims(exp=str(int(time.time()) + 600))),
            "claim 'exp' is not a number",
            no_key_work=False,
        ),
        id="string-exp",
    ),
    pytest.param(
        Forged(sealed(lambda: claims(exp=True)), "claim 'exp' is not a number", no_key_work=False),
        id="bool-exp",
    ),
    pytest.param(
        Forged(
            sealed(lambda: claims(exp=float("nan"))),
            "claim 'exp' is not a number",
            no_key_work=False,
        ),
        id="nan-exp",
    ),
    pytest.param(
        Forged(sealed(lambda: claims(iat=DROP)), "claim 'iat' is missing", no_key_work=False),
        id="no-iat",
    ),
    pytest.param(
        Forged(
            sealed(lambda: claims(exp=int(time.time()) - 3600)),
            "expired at",
            no_key_work=False,
            message="Token expired.",
        ),
        id="expired",
    ),
    pytest.param(
        Forged(
            sealed(lambda: claims(nbf=int(time.time()) + 3600)),
            "not valid before",
            no_key_work=False,
        ),
        id="future-nbf",
    ),
    pytest.param(
        Forged(
            sealed(lambda: claims(iat=int(time.time()) + 3600)),
            "issued in the future",
            no_key_work=False,
        ),
        id="future-iat",
    ),
    pytest.param(
        Forged(sealed(lambda: claims(sub=1)), "claim 'sub'", no_key_work=False),
        id="sub-not-a-string",
    ),
    pytest.param(
        Forged(sealed(lambda: claims(tbl=DROP)), "claim 'tbl'", no_key_work=False), id="no-tbl"
    ),
    pytest.param(
        Forged(sealed(lambda: claims(extras=["admin"])), "claim 'extras'", no_key_work=False),
        id="extras-not-an-object",
    ),
    pytest.param(
        Forged(
            lambda g: g.issue("admin", 1),
            "table 'admin' where 'user' is required",
            no_key_work=False,
        ),
        id="wrong-table",
    ),
    pytest.param(
        Forged(sealed(b"Live long and prosper."), "plaintext is not JSON", no_key_work=False),
        id="plaintext-text",
    ),
    pytest.param(
        Forged(sealed(b"\xff\xfe\x00{"), "plaintext is not JSON", no_key_work=False),
        id="plaintext-not-utf8",
    ),
    pytest.param(
        Forged(sealed(b"[" * 3000), "plaintext is not JSON", no_key_work=False),
        id="plaintext-nested-3000-deep",
    ),
    pytest.param(
        Forged(sealed(b'[{"sub":"1"}]'), "claims are not a JSON object", no_key_work=False),
        id="plaintext-array",
    ),
    pytest.param(
        Forged(sealed(b'"user"'), "claims are not a JSON object", no_key_work=False),
        id="plaintext-string",
    ),
    pytest.param(
        Forged(sealed(b"null"), "claims are not a JSON object", no_key_work=False),
        id="plaintext-null",
    ),
]


@pytest.fixture
def key_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call jwcrypto makes to decrypt or unwrap (or derive a PBES2 key), by name."""
    calls: list[str] = []

    def spy(owner: type, name: str) -> None:
        original = vars(owner)[name]

        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{owner.__name__}.{name}")
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    spy(jwe.JWE, "decrypt")
    spy(jwe.JWE, "_unwrap_decrypt")
    for obj in list(vars(jwa).values()):
        if isinstance(obj, type):
            for name in ("unwrap", "decrypt", "_get_key"):
                if name in vars(obj):
                    spy(obj, name)
    return calls


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    caplog.set_level(logging.INFO, logger="jwe_gate")
    return lambda: "\n".join(r.getMessage() for r in caplog.records if r.name == "jwe_gate")


def assert_refused(res: Any, message: str = "Invalid token.") -> None:
    assert res.status == 401, (res.status, res.body)
    assert not res.handled
    assert res.json == {"code": "ERROR_CODE_UNAUTHORIZED", "message": message, "payload": None}
    assert 'error="invalid_token"' in (res.header("www-authenticate") or "")


@pytest.mark.parametrize("case", [*FORGED_ALGS, *FORGED_OTHER])
def test_forged_token_is_refused(
    case: Forged, gate: Gate, client: Any, key_work: list[str], log: Callable[[], str]
) -> None:
    """Every forged token answers 401 "invalid"/"expired" with the reason logged; none runs
    the handler, and those refused before decryption do no key work."""
    token = case.build(gate)
    key_work.clear()  # building may have encrypted; only the request counts
    res = client("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert_refused(res, case.message)
    assert "token refused: " in log()
    assert case.reason in log()
    if case.no_key_work:
        assert key_work == []


def test_key_work_spy_sees_a_good_token(client: Any, bearer: Any, key_work: list[str]) -> None:
    """The no-key-work spy is live: a good token is accepted and does go through unwrap."""
    headers = bearer("user", 1)
    key_work.clear()
    res = client("GET", "/api/hello", headers)
    assert res.status == 200
    assert res.handled
    assert res.json["identity"] == "1"
    assert "JWE._unwrap_decrypt" in key_work
    assert "_AesKw.unwrap" in key_work


def test_refusal_message_has_no_oracle(gate: Gate, client: Any) -> None:
    """Only "expired" differs; a bad tag, a bad key and bad claims all answer the same body."""
    bodies = set()
    for build in (
        lambda g: flip(good(g), 4),
        _foreign("ring"),
        sealed(lambda: claims(sub=1)),
        forged_alg("dir", "A256GCM"),
    ):
        res = client("GET", "/api/hello", [("Authorization", f"Bearer {build(gate)}")])
        assert res.status == 401
        bodies.add((res.body, res.header("www-authenticate")))
    assert len(bodies) == 1


@pytest.mark.parametrize("case", [*FORGED_ALGS, *FORGED_OTHER])
def test_codec_refuses_forged_token_with_token_error(case: Forged, gate: Gate) -> None:
    """At the API level every forged token raises TokenError (never another exception)."""
    token = case.build(gate)
    if case.reason.startswith("table "):
        # The codec does not know the route; the table is checked by the gate's policy.
        assert gate.verify(token).tbl == "admin"
        return
    expected = ExpiredTokenError if case.message == "Token expired." else TokenError
    with pytest.raises(expected) as info:
        gate.verify(token)
    assert case.reason in str(info.value)


# -- compression ------------------------------------------------------------------------------


def test_zip_token_minted_and_accepted_only_when_opted_in(
    make_gate: Callable[..., Gate], adapter: str
) -> None:
    """compress=True mints zip=DEF tokens and accepts them; a default gate refuses them."""
    zipped = make_gate(compress=True)
    token = zipped.issue("user", 1, extras={"role": "x" * 200})
    header = json.loads(base64url_decode(token.split(".")[0]))
    assert header["zip"] == "DEF"
    res = wrap(zipped, adapter)("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert res.status == 200
    assert res.json["extras"] == {"role": "x" * 200}
    plain = make_gate()
    assert "zip" not in json.loads(base64url_decode(plain.issue("user", 1).split(".")[0]))
    res = wrap(plain, adapter)("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert_refused(res)
    assert zipped.verify(plain.issue("user", 1)).sub == "1"  # plain tokens still fine


# -- iss / aud --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "ok"),
    [
        pytest.param({}, True, id="both-right"),
        pytest.param({"aud": ["other", "api"]}, True, id="aud-list-containing"),
        pytest.param({"iss": DROP}, False, id="iss-missing"),
        pytest.param({"iss": "https://evil.example"}, False, id="iss-wrong"),
        pytest.param({"aud": DROP}, False, id="aud-missing"),
        pytest.param({"aud": "web"}, False, id="aud-wrong"),
        pytest.param({"aud": ["web", "mobile"]}, False, id="aud-list-without"),
        pytest.param({"aud": ["API"]}, False, id="aud-case-differs"),
    ],
)
def test_issuer_and_audience_required_when_configured(
    make_gate: Callable[..., Gate], overrides: dict[str, Any], ok: bool
) -> None:
    """With issuer/audience configured both are required and must match."""
    gate = make_gate(issuer="https://auth.example", audience="api")
    token = seal(
        claims(**{"iss": "https://auth.example", "aud": "api", **overrides}),
        gate.keys.encryption_key,
        kid=kid_of(gate),
    )
    if ok:
        assert gate.verify(token).sub == "1"
    else:
        with pytest.raises(TokenError, match=r"wrong (issuer|audience)"):
            gate.verify(token)


def test_issued_token_carries_iss_and_aud(make_gate: Callable[..., Gate], adapter: str) -> None:
    """gate.issue mints iss/aud when configured; a gate without them (same keys) accepts it,
    but the configured gate refuses that gate's tokens."""
    strict = make_gate(issuer="https://auth.example", audience="api")
    token = strict.issue("user", 1)
    raw = strict.verify(token).raw
    assert (raw["iss"], raw["aud"]) == ("https://auth.example", "api")
    res = wrap(strict, adapter)("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert res.status == 200
    lax = make_gate()
    assert "iss" not in lax.verify(lax.issue("user", 1)).raw
    res = wrap(strict, adapter)(
        "GET", "/api/hello", [("Authorization", f"Bearer {lax.issue('user', 1)}")]
    )
    assert_refused(res)


# -- times and leeway -------------------------------------------------------------------------

T0 = 1_700_000_000


@pytest.mark.parametrize(
    ("leeway", "offset", "outcome"),
    [
        pytest.param(30, 60 + 29.5, "ok", id="exp-inside-leeway"),
        pytest.param(30, 60 + 30, "expired", id="exp-at-leeway"),
        pytest.param(30, -30, "ok", id="nbf-at-leeway"),
        pytest.param(30, -30.5, "early", id="nbf-past-leeway"),
        pytest.param(0, 59.9, "ok", id="no-leeway-just-before-exp"),
        pytest.param(0, 60, "expired", id="no-leeway-at-exp"),
        pytest.param(0, -0.1, "early", id="no-leeway-before-nbf"),
        pytest.param(120, 60 + 119, "ok", id="custom-leeway-exp"),
        pytest.param(120, -120, "ok", id="custom-leeway-nbf"),
        pytest.param(120, -121, "early", id="custom-leeway-past-nbf"),
    ],
)
def test_leeway_at_both_edges(
    make_gate: Callable[..., Gate], leeway: float, offset: float, outcome: str
) -> None:
    """exp and nbf each get exactly ``leeway`` seconds of skew, no more."""
    gate = make_gate(leeway=leeway, token_cache_size=0)
    token = gate.issue("user", 1, ttl=60, now=T0)
    if outcome == "ok":
        assert gate.verify(token, now=T0 + offset).sub == "1"
    elif outcome == "expired":
        with pytest.raises(ExpiredTokenError):
            gate.verify(token, now=T0 + offset)
    else:
        with pytest.raises(TokenError) as info:
            gate.verify(token, now=T0 + offset)
        assert not isinstance(info.value, ExpiredTokenError)


def test_leeway_through_the_clock(make_gate: Callable[..., Gate], adapter: str) -> None:
    """Gate(clock=...) drives the adapters: inside the leeway 200, at its edge "Token expired."."""
    now = [float(T0)]
    gate = make_gate(clock=lambda: now[0], leeway=30)
    headers = [("Authorization", f"Bearer {gate.issue('user', 1, ttl=60)}")]
    client = wrap(gate, adapter)
    now[0] = T0 + 89
    assert client("GET", "/api/hello", headers).status == 200
    now[0] = T0 + 90
    assert_refused(client("GET", "/api/hello", headers), "Token expired.")


# -- non-canonical base64url ------------------------------------------------------------------


def _alias(segment: str) -> str:
    """The same bytes spelled differently: the last character with its unused bits set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(segment) % 4]
    last = alphabet.index(segment[-1])
    assert last & unused == 0
    return segment[:-1] + alphabet[last | unused]


def _aliasable(make_gate: Callable[..., Gate], segment: int) -> tuple[Gate, str]:
    """A gate and one of its tokens whose ``segment`` has unused trailing bits (length not 4n):
    the kid's length moves the header's, the extras' length the ciphertext's."""
    for kid_len in (16, 17, 18):
        gate = make_gate(keys=KeyRing([oct_key(os.urandom(32), kid="k" * kid_len)]))
        for pad in (0, 16, 32):
            token = gate.issue("user", 1, extras={"p": "x" * pad})
            if len(token.split(".")[segment]) % 4:
                return gate, token
    raise AssertionError("no token with a non-4n segment")  # pragma: no cover


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param(0, id="header"),
        pytest.param(2, id="iv"),
        pytest.param(3, id="ciphertext"),
        pytest.param(4, id="tag"),
    ],
)
def test_non_canonical_base64url_is_refused(
    make_gate: Callable[..., Gate], adapter: str, segment: int, log: Callable[[], str]
) -> None:
    """A segment whose last character differs only in unused bits (same bytes, which jwcrypto
    alone would accept) is refused."""
    gate, token = _aliasable(make_gate, segment)
    parts = token.split(".")
    parts[segment] = _alias(parts[segment])
    alias = ".".join(parts)
    assert alias != token
    assert base64url_decode(parts[segment]) == base64url_decode(token.split(".")[segment])
    obj = jwe.JWE(algs=ALLOWED)
    obj.deserialize(alias, gate.keys.encryption_key)  # jwcrypto on its own decrypts it
    assert json.loads(obj.payload)["sub"] == "1"
    res = wrap(gate, adapter)("GET", "/api/hello", [("Authorization", f"Bearer {alias}")])
    assert_refused(res)
    assert "non-canonical base64url" in log()


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithms", "match"),
    [
        pytest.param(["PBES2-HS256+A128KW", "A128CBC-HS256"], "PBES2", id="PBES2-HS256"),
        pytest.param(["PBES2-HS384+A192KW", "A192CBC-HS384"], "PBES2", id="PBES2-HS384"),
        pytest.param(
            ["A256KW", "PBES2-HS512+A256KW", "A256CBC-HS512"], "PBES2", id="PBES2-beside-A256KW"
        ),
        pytest.param(["A256KW", "A256CBC-HS512", "none"], "unknown", id="none"),
        pytest.param(["a256kw", "A256CBC-HS512"], "unknown", id="lower-case"),
        pytest.param(["A256KW", "HS256"], "unknown", id="JWS-alg"),
        pytest.param(["RSA1_5", "A256CBC-HS512"], "unknown", id="RSA1_5"),
        pytest.param(["A256KW"], "key-management alg and an enc", id="no-enc"),
        pytest.param(["A256CBC-HS512"], "key-management alg and an enc", id="no-alg"),
        pytest.param([], "key-management alg and an enc", id="empty"),
    ],
)
def test_bad_algorithms_refused_at_construction(
    make_gate: Callable[..., Gate], keys: KeyRing, algorithms: list[str], match: str
) -> None:
    """PBES2, unknown names and incomplete lists fail when the Gate/codec is built."""
    with pytest.raises(ConfigurationError, match=match):
        make_gate(algorithms=algorithms)
    with pytest.raises(ConfigurationError, match=match):
        TokenCodec(keys, algorithms=algorithms)


@pytest.mark.parametrize(
    ("bits", "algorithms", "ok"),
    [
        pytest.param(128, ALLOWED, False, id="128-bit-with-A256KW"),
        pytest.param(512, ALLOWED, False, id="512-bit-with-A256KW"),
        pytest.param(128, ["A128KW", "A128CBC-HS256"], True, id="128-bit-with-A128KW"),
        pytest.param(256, ["A256KW", "A128KW", "A256CBC-HS512"], True, id="256-bit-issue-pair"),
        pytest.param(256, ["dir", "A256CBC-HS512"], False, id="256-bit-with-dir-CBC-HS512"),
        pytest.param(512, ["dir", "A256CBC-HS512"], True, id="512-bit-with-dir-CBC-HS512"),
    ],
)
def test_first_key_must_fit_the_issue_algorithm(
    make_gate: Callable[..., Gate], bits: int, algorithms: list[str], ok: bool
) -> None:
    """The first (encrypting) key's size is checked against the issue pair once, at build."""
    ring = KeyRing.generate(bits)
    if ok:
        gate = make_gate(keys=ring, algorithms=algorithms)
        assert gate.verify(gate.issue("user", 1)).sub == "1"
    else:
        with pytest.raises(ConfigurationError, match=f"has {bits} bits"):
            make_gate(keys=ring, algorithms=algorithms)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"leeway": -1}, ">= 0", id="negative-leeway"),
        pytest.param({"max_token_bytes": 0}, ">= 0", id="zero-max-bytes"),
        pytest.param({"token_cache_size": -1}, ">= 0", id="negative-cache"),
    ],
)
def test_bad_limits_refused_at_construction(
    make_gate: Callable[..., Gate], kwargs: dict[str, Any], match: str
) -> None:
    """Negative leeway, a zero token limit and a negative cache size fail at build time."""
    with pytest.raises(ConfigurationError, match=match):
        make_gate(**kwargs)


# -- KeyRing ----------------------------------------------------------------------------------


def _jwk(bits: int = 256, **extra: Any) -> dict[str, Any]:
    key: dict[str, Any] = {
        "kty": "oct",
        "k": b64(os.urandom(bits // 8)),
        "kid": os.urandom(4).hex(),
    }
    key.update(extra)
    return {k: v for k, v in key.items() if v is not DROP}


@pytest.mark.parametrize("bits", [128, 192, 256, 384, 512])
def test_generate_makes_one_oct_key_with_a_kid(bits: int) -> None:
    """KeyRing.generate(bits) holds one fresh oct key of that size, with a unique kid."""
    ring, other = KeyRing.generate(bits), KeyRing.generate(bits)
    assert len(ring) == 1
    assert ring.encryption_key["kty"] == "oct"
    assert len(raw_key(ring)) * 8 == bits
    assert ring.kids[0]
    assert ring.kids != other.kids
    assert raw_key(ring) != raw_key(other)


def test_generate_defaults_to_256_bits_and_refuses_odd_sizes() -> None:
    """The default key is 256 bits; other sizes than 128..512 are refused."""
    assert len(raw_key(KeyRing.generate())) == 32
    for bits in (64, 100, 1024):
        with pytest.raises(ConfigurationError, match="key size"):
            KeyRing.generate(bits)


def test_from_json_jwk_set_keeps_order(make_gate: Callable[..., Gate]) -> None:
    """A JWK Set loads every key in order; the first encrypts, every one decrypts."""
    first, second = _jwk(), _jwk()
    ring = KeyRing.from_json(json.dumps({"keys": [first, second]}))
    assert ring.kids == (first["kid"], second["kid"])
    assert ring.encryption_key["kid"] == first["kid"]
    gate = make_gate(keys=ring)
    old = seal(claims(), jwk.JWK(**second), kid=second["kid"])
    assert gate.verify(old).sub == "1"
    assert json.loads(base64url_decode(gate.issue("user", 1).split(".")[0]))["kid"] == first["kid"]


def test_from_json_single_jwk() -> None:
    """A single JWK (not wrapped in a set) loads as a one-key ring."""
    key = _jwk()
    ring = KeyRing.from_json(json.dumps(key))
    assert ring.kids == (key["kid"],)
    assert raw_key(ring) == base64url_decode(key["k"])


def test_from_env_default_and_custom_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads JWE_GATE_KEYS by default, or the variable named."""
    a, b = _jwk(), _jwk()
    monkeypatch.setenv("JWE_GATE_KEYS", json.dumps({"keys": [a]}))
    monkeypatch.setenv("MY_APP_KEYS", json.dumps(b))
    assert KeyRing.from_env().kids == (a["kid"],)
    assert KeyRing.from_env("MY_APP_KEYS").kids == (b["kid"],)


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_from_env_missing_variable(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    """A missing or empty variable is a ConfigurationError naming it and the keygen command."""
    monkeypatch.delenv("JWE_GATE_KEYS", raising=False)
    monkeypatch.delenv("OTHER_KEYS", raising=False)
    if value is not None:
        monkeypatch.setenv("OTHER_KEYS", value)
    with pytest.raises(ConfigurationError, match=r"OTHER_KEYS.*keygen"):
        KeyRing.from_env("OTHER_KEYS")
    with pytest.raises(ConfigurationError, match="JWE_GATE_KEYS"):
        KeyRing.from_env()


def test_from_file(tmp_path: Any) -> None:
    """from_file loads a JWK Set file (str or Path)."""
    key = _jwk()
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [key]}))
    assert KeyRing.from_file(path).kids == (key["kid"],)
    assert KeyRing.from_file(str(path)).kids == (key["kid"],)


@pytest.mark.parametrize("kind", ["missing", "directory", "binary"])
def test_from_file_unreadable(tmp_path: Any, kind: str) -> None:
    """A missing file, a directory or a non-UTF-8 file is a ConfigurationError naming it."""
    path = tmp_path / "keys.json"
    if kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(ConfigurationError, match=r"cannot read key file.*keys\.json"):
        KeyRing.from_file(path)


def test_rotation_keeps_old_tokens(make_gate: Callable[..., Gate], adapter: str) -> None:
    """After rotated(), tokens of the old key still verify and new ones use the new kid."""
    old_ring = KeyRing.generate()
    old_gate = make_gate(keys=old_ring)
    old_token = old_gate.issue("user", 1)
    new_ring = old_ring.rotated()
    assert len(new_ring) == 2
    assert new_ring.kids[1:] == old_ring.kids
    assert new_ring.kids[0] not in old_ring.kids
    assert len(old_ring) == 1
    new_gate = make_gate(keys=new_ring)
    client = wrap(new_gate, adapter)
    assert client("GET", "/api/hello", [("Authorization", f"Bearer {old_token}")]).status == 200
    new_token = new_gate.issue("user", 2)
    assert json.loads(base64url_decode(new_token.split(".")[0]))["kid"] == new_ring.kids[0]
    assert client("GET", "/api/hello", [("Authorization", f"Bearer {new_token}")]).status == 200
    with pytest.raises(TokenError, match="unknown kid"):
        old_gate.verify(new_token)


def test_to_json_round_trip(make_gate: Callable[..., Gate]) -> None:
    """to_json -> from_json gives the same kids and keys: tokens cross over both ways."""
    ring = KeyRing.generate().rotated()
    again = KeyRing.from_json(ring.to_json())
    assert again.kids == ring.kids
    assert raw_key(again) == raw_key(ring)
    assert make_gate(keys=again).verify(make_gate(keys=ring).issue("user", 1)).sub == "1"
    assert make_gate(keys=ring).verify(make_gate(keys=again).issue("user", 1)).sub == "1"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param("not json", "not valid JSON", id="bad-json"),
        pytest.param("", "not valid JSON", id="empty"),
        pytest.param("[1, 2]", "JWK or a JWK Set", id="array"),
        pytest.param('{"keys": {"kty": "oct"}}', "JWK or a JWK Set", id="keys-not-a-list"),
        pytest.param('{"keys": [1]}', "JWK or a JWK Set", id="keys-of-numbers"),
        pytest.param('{"keys": []}', "at least one key", id="empty-set"),
        pytest.param(json.dumps(_jwk(kty=DROP)), "invalid JWK", id="no-kty"),
        pytest.param(json.dumps(_jwk(k=DROP)), "invalid JWK", id="oct-without-k"),
        pytest.param(json.dumps(_jwk(kid=DROP)), "needs a 'kid'", id="missing-kid"),
        pytest.param(json.dumps(_jwk(kid="")), "needs a 'kid'", id="empty-kid"),
        pytest.param(
            json.dumps({"keys": [_jwk(kid="a"), _jwk(kid="a")]}),
            "duplicate kid 'a'",
            id="duplicate-kid",
        ),
        pytest.param(json.dumps(_jwk(bits=120)), "shorter than 128 bits", id="short-key"),
        pytest.param(
            json.dumps({"keys": [_jwk(), _jwk(bits=64)]}),
            "shorter than 128 bits",
            id="short-second-key",
        ),
        pytest.param(json.dumps(_jwk(use="sig")), "not usable for encryption", id="use-sig"),
        pytest.param(
            json.dumps(_jwk(key_ops=["sign", "verify"])),
            "not usable for encryption",
            id="key-ops-sign",
        ),
        pytest.param(
            json.dumps(_jwk(key_ops=["decrypt"])),
            "not usable for encryption",
            id="first-key-cannot-encrypt",
        ),
        pytest.param(
            json.dumps({"keys": [_jwk(), _jwk(use="sig")]}),
            "not usable for encryption",
            id="second-key-sig",
        ),
    ],
)
def test_from_json_bad_material(text: str, match: str) -> None:
    """Bad key material is a clear ConfigurationError, never a jwcrypto or JSON exception."""
    with pytest.raises(ConfigurationError, match=match):
        KeyRing.from_json(text)


def test_key_ops_and_use_that_fit_are_accepted(make_gate: Callable[..., Gate]) -> None:
    """use=enc and key_ops are honoured: an old decrypt-only key still verifies its tokens
    behind an encrypt+decrypt first key."""
    old = _jwk(use="enc", key_ops=["decrypt"])
    ring = KeyRing.from_json(json.dumps({"keys": [_jwk(key_ops=["encrypt", "decrypt"]), old]}))
    gate = make_gate(keys=ring)
    token = seal(
        claims(), jwk.JWK(**{k: v for k, v in old.items() if k != "key_ops"}), kid=old["kid"]
    )
    assert gate.verify(token).sub == "1"
    assert gate.verify(gate.issue("user", 2)).sub == "2"


def test_repr_and_errors_never_show_key_material() -> None:
    """repr/str of a ring, and its refusals, name kids only, never the key bytes."""
    ring = KeyRing.generate().rotated()
    secrets = [k["k"] for k in json.loads(ring.to_json())["keys"]]
    for text in (repr(ring), str(ring)):
        assert all(s not in text for s in secrets)
        assert all(kid in text for kid in ring.kids)
    short = _jwk(bits=64)
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_json(json.dumps(short))
    assert short["k"] not in str(info.value)
    twice = _jwk()
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_json(json.dumps({"keys": [twice, twice]}))
    assert twice["k"] not in str(info.value)


# -- interop ----------------------------------------------------------------------------------


def test_gate_token_decrypts_with_joserfc(gate: Gate) -> None:
    """A token from gate.issue is standard JWE: joserfc decrypts it to the same claims."""
    token = gate.issue("user", 42, extras={"role": "admin"})
    key = OctKey.import_key(gate.keys.encryption_key.export(as_dict=True))
    result = rfc_jwe.decrypt_compact(token, key, algorithms=ALLOWED)
    assert result.protected == {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": kid_of(gate)}
    assert result.plaintext is not None
    data = json.loads(result.plaintext)
    assert (data["sub"], data["tbl"], data["extras"]) == ("42", "user", {"role": "admin"})
    assert data == dict(gate.verify(token).raw)


def test_joserfc_token_is_accepted(gate: Gate, client: Any) -> None:
    """A token made by joserfc with the same key and claims passes the gate."""
    key = OctKey.import_key(gate.keys.encryption_key.export(as_dict=True))
    token = rfc_jwe.encrypt_compact(
        {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": kid_of(gate)},
        json.dumps(claims(sub="2", extras={"role": "owner"})),
        key,
        algorithms=ALLOWED,
    )
    res = client("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert res.status == 200
    assert res.handled
    assert res.json["identity"] == "2"
    assert res.json["extras"] == {"role": "owner"}


def _a3_ring() -> KeyRing:
    # The A.3 key (with a kid, which the ring requires) behind a 256-bit encryption key.
    return KeyRing([oct_key(os.urandom(32), kid="main"), jwk.JWK(**A3_KEY, kid="a3")])


def test_rfc7516_a3_vector_decrypts_when_allowed() -> None:
    """RFC 7516 A.3 (A128KW/A128CBC-HS256, no kid) decrypts with the whole ring tried once
    those algs are listed; it fails only at the claims step ("Live long and prosper.")."""
    codec = TokenCodec(
        _a3_ring(), algorithms=["A256KW", "A128KW", "A256CBC-HS512", "A128CBC-HS256"]
    )
    report = inspect_token(codec, A3_TOKEN, now=time.time())
    assert report["header"] == {"alg": "A128KW", "enc": "A128CBC-HS256"}
    assert report["problem"] == "plaintext is not JSON"
    with pytest.raises(TokenError, match="plaintext is not JSON"):
        codec.decode(A3_TOKEN, now=time.time())
    # Control: the same vector with its tag damaged fails at decryption, not later.
    assert inspect_token(codec, flip(A3_TOKEN, 4), now=time.time())["problem"].startswith(
        "decryption failed"
    )


def test_rfc7516_a3_vector_refused_by_default(key_work: list[str]) -> None:
    """Under the default allow-list the A.3 vector is refused on its alg, with no key work."""
    codec = TokenCodec(_a3_ring())
    with pytest.raises(TokenError, match="algorithm not allowed: alg='A128KW'"):
        codec.decode(A3_TOKEN, now=time.time())
    assert key_work == []


# -- the verified-token cache -----------------------------------------------------------------


def _decrypts(calls: list[str]) -> int:
    return calls.count("JWE.decrypt")


def test_cached_token_still_expires(
    make_gate: Callable[..., Gate], adapter: str, key_work: list[str]
) -> None:
    """A token served from the cache (no second decryption) still expires on the clock."""
    now = [float(T0)]
    gate = make_gate(clock=lambda: now[0])
    headers = [("Authorization", f"Bearer {gate.issue('user', 1, ttl=60)}")]
    client = wrap(gate, adapter)
    assert client("GET", "/api/hello", headers).status == 200
    assert client("GET", "/api/hello", headers).status == 200
    assert _decrypts(key_work) == 1  # the second request came from the cache
    now[0] = T0 + 60 + 30
    assert_refused(client("GET", "/api/hello", headers), "Token expired.")
    assert _decrypts(key_work) == 1


def test_cache_does_not_skip_the_table_check(gate: Gate, client: Any) -> None:
    """An admin token cached by /admin/stats is still refused on the user route."""
    headers = [("Authorization", f"Bearer {gate.issue('admin', 1)}")]
    assert client("GET", "/admin/stats", headers).status == 200
    assert_refused(client("GET", "/api/hello", headers))


def test_cache_size_zero_decrypts_every_time(
    make_gate: Callable[..., Gate], adapter: str, key_work: list[str]
) -> None:
    """token_cache_size=0 and recheck_after=0: every request decrypts afresh and is accepted."""
    gate = make_gate(token_cache_size=0, recheck_after=0)
    headers = [("Authorization", f"Bearer {gate.issue('user', 1)}")]
    client = wrap(gate, adapter)
    for _ in range(3):
        assert client("GET", "/api/hello", headers).status == 200
    assert _decrypts(key_work) == 3


def test_cache_is_bounded(make_gate: Callable[..., Gate], key_work: list[str]) -> None:
    """With room for one token, a second token evicts the first (it decrypts again)."""
    gate = make_gate(token_cache_size=1)
    a, b = gate.issue("user", 1), gate.issue("user", 2)
    key_work.clear()
    for token in (a, a, b, a):
        gate.verify(token)
    assert _decrypts(key_work) == 3


# -- the shared cache hands out frozen claims, least recently used evicted first ------------


def test_cached_claims_cannot_be_changed_by_a_request(make_gate: Callable[..., Gate]) -> None:
    """Claims (extras included, nested too) are read-only: one request cannot widen the next's."""
    gate = make_gate()
    token = gate.issue("user", 1, extras={"role": "user", "teams": ["a"], "meta": {"x": 1}})
    claims = gate.verify(token)
    with pytest.raises(TypeError):
        claims.extras["role"] = "admin"  # type: ignore[index]
    with pytest.raises(AttributeError):
        claims.extras["teams"].append("admins")
    with pytest.raises(TypeError):
        claims.raw["extras"]["meta"]["x"] = 2
    assert gate.verify(token).extras["role"] == "user"


def test_token_cache_evicts_the_least_recently_used(make_gate: Callable[..., Gate]) -> None:
    """With room for two, a token in steady use survives a stream of new ones."""
    gate = make_gate(token_cache_size=2)
    hot, b, c = (gate.issue("user", 1) for _ in range(3))
    for token in (hot, b, hot, c):  # hot was used after b: b is the one to go
        gate.verify(token)
    assert list(gate.codec._cache) == [hot, c]


def test_derived_secret_survives_rotation() -> None:
    """keygen --add puts a key in front; the derived secret (refresh children) stays the same."""
    ring = KeyRing.generate()
    label = b"jwe_gate refresh-token child v1"
    assert ring.rotated().derive_secret(label) == ring.derive_secret(label)
    assert KeyRing.generate().derive_secret(label) != ring.derive_secret(label)
