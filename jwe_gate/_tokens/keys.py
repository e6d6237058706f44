"""The key ring: an ordered set of JWKs, loaded once and checked once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from jwcrypto import jwk
from jwcrypto.common import base64url_decode

from ..exceptions import ConfigurationError

__all__ = ["KeyRing"]


def _can(key: jwk.JWK, operation: str) -> bool:
    """Whether jwcrypto will let ``key`` do ``operation`` (it checks ``use`` and ``key_ops``)."""
    ops = key.get("key_ops")
    return key.get("use", "enc") == "enc" and (ops is None or operation in ops)


class KeyRing:
    """An ordered set of JWKs. The first key encrypts; every key decrypts.

    Rotation: put a new key first and keep the old ones, so tokens minted before keep working
    until they expire. Build one with ``generate``, ``from_json``, ``from_file`` or
    ``from_env``.
    """

    __slots__ = ("_by_kid", "_keys", "_set")

    def __init__(self, keys: Sequence[jwk.JWK]) -> None:
        if not keys:
            raise ConfigurationError("a KeyRing needs at least one key")
        by_kid: dict[str, jwk.JWK] = {}
        for key in keys:
            kid = key.get("kid")
            if not isinstance(kid, str) or not kid:
                raise ConfigurationError("every key in the ring needs a 'kid'")
            if kid in by_kid:
                raise ConfigurationError(f"duplicate kid {kid!r} in the key ring")
            if key.get("kty") == "oct" and len(base64url_decode(key.get("k", ""))) < 16:
                # A short symmetric key can be brute-forced; 128 bits is the floor of every
                # JWE symmetric algorithm.
                raise ConfigurationError(f"key {kid!r} is shorter than 128 bits")
            # A signing key ("use": "sig", key_ops without jwcrypto's "decrypt") would load
            # and then fail every verify, per request: refuse it once, here.
            if not _can(key, "decrypt") or (key is keys[0] and not _can(key, "encrypt")):
                raise ConfigurationError(
                    f"key {kid!r} is not usable for encryption: it needs no 'use' or 'use': "
                    f"'enc', and 'key_ops' (if any) with 'decrypt' ('encrypt' for the first key)"
                )
            by_kid[kid] = key
        self._keys = tuple(keys)
        self._by_kid = by_kid
        self._set = jwk.JWKSet()
        for key in keys:
            self._set.add(key)

    @classmethod
    def generate(cls, bits: int = 256) -> KeyRing:
        """A ring with one new random ``oct`` key of ``bits`` bits (256 by default)."""
        return cls([_new_oct_key(bits)])

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """Load a JWK Set (``{"keys": [...]}``) or a single JWK from a JSON string."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("key material is not valid JSON") from exc
        items = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ConfigurationError("key material must be a JWK or a JWK Set")
        try:
            keys = [jwk.JWK(**item) for item in items]
        except Exception as exc:
            raise ConfigurationError(f"invalid JWK: {exc}") from exc
        return cls(keys)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> KeyRing:
        """Load a JWK Set from a JSON file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:  # a binary file is unreadable too
            raise ConfigurationError(f"cannot read key file {os.fspath(path)!r}: {exc}") from exc
        return cls.from_json(text)

    @classmethod
    def from_env(cls, name: str = "JWE_GATE_KEYS") -> KeyRing:
        """Load a JWK Set from the environment variable ``name`` (``JWE_GATE_KEYS``)."""
        text = os.environ.get(name)
        if not text:
            raise ConfigurationError(
                f"environment variable {name} is not set; create keys with `jwe-gate keygen`"
            )
        return cls.from_json(text)

    def rotated(self, bits: int = 256) -> KeyRing:
        """A new ring with a fresh encryption key in front of this ring's keys."""
        return KeyRing([_new_oct_key(bits), *self._keys])

    def to_json(self) -> str:
        """The ring as a JWK Set JSON string, private material included (keep it secret)."""
        return json.dumps(
            {"keys": [k.export(private_key=True, as_dict=True) for k in self._keys]}, indent=2
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ring (``to_json``) to ``path``, readable by its owner only, atomically
        (a reader never sees half a key set)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.unlink(missing_ok=True)  # a stale .tmp keeps its own mode: O_CREAT never chmods it
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # keys: owner-only
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.to_json() + "\n")
        os.replace(tmp, target)

    def derive_secret(self, label: bytes) -> bytes:
        """A 256-bit secret for ``label``, the same on every process sharing the ring."""
        # From the oldest key: rotation puts new keys in front, so the secret survives
        # `keygen --add` and rolling deploys where processes hold rings of different ages.
        material = json.dumps(
            self._keys[-1].export(private_key=True, as_dict=True), sort_keys=True
        ).encode()
        return hmac.new(material, label, hashlib.sha256).digest()

    @property
    def kids(self) -> tuple[str, ...]:
        """The key ids, the encryption key's first."""
        return tuple(self._by_kid)

    @property
    def encryption_key(self) -> jwk.JWK:
        return self._keys[0]

    def get(self, kid: str) -> jwk.JWK | None:
        return self._by_kid.get(kid)

    @property
    def jwk_set(self) -> jwk.JWKSet:
        return self._set

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(kids={list(self.kids)!r})"  # never the key material


def _new_oct_key(bits: int) -> jwk.JWK:
    if bits not in (128, 192, 256, 384, 512):
        raise ConfigurationError("key size must be 128, 192, 256, 384 or 512 bits")
    return jwk.JWK.generate(kty="oct", size=bits, kid=secrets.token_hex(8))
