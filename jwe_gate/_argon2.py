"""argon2 computed on the calling thread alone.

argon2-cffi's ``PasswordHasher`` computes a hash with p lanes on p threads that libargon2
starts and joins again at each of the hash's ``4 x t`` sync points: dozens of short-lived
threads per hash, each placed afresh by the kernel. On a busy server those threads take a core
from a request that wakes, whatever their priority (a protected GET's p99 was 4 to 5 times its
idle p99 while two such hashes ran on two cores, against 1.6 times with one thread per hash).
The lanes are a parameter of the hash, the threads only how it is computed: here the same hash
runs on the calling thread, through argon2-cffi's low-level ``core`` (``argon2_ctx`` with
``threads=1``), and gives the same bytes, so hashes made here and by ``PasswordHasher`` verify
with either. argon2-cffi still reads the encoded form (``extract_parameters``) and decides when
a hash needs a new one (``check_needs_rehash``).
"""

from __future__ import annotations

import base64
import dataclasses
import hmac
import os
from typing import Literal

from _argon2_cffi_bindings import ffi, lib
from argon2 import Parameters, PasswordHasher, Type, extract_parameters, low_level
from argon2.exceptions import HashingError, InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import ARGON2_VERSION

__all__ = ["OneThreadHasher"]

_PREFIX = {Type.D: "$argon2d$", Type.I: "$argon2i$", Type.ID: "$argon2id$"}


def _raw(parameters: Parameters, password: bytes, salt: bytes, error: type[Exception]) -> bytes:
    """The raw argon2 hash of ``password`` with ``salt``, every lane on this thread; ``error``
    with libargon2's message if it refuses."""
    out = ffi.new("uint8_t[]", parameters.hash_len)
    pwd = ffi.new("uint8_t[]", password)
    csalt = ffi.new("uint8_t[]", salt)
    context = ffi.new(
        "argon2_context *",
        {
            "out": out,
            "outlen": parameters.hash_len,
            "pwd": pwd,
            "pwdlen": len(password),
            "salt": csalt,
            "saltlen": len(salt),
            "secret": ffi.NULL,
            "secretlen": 0,
            "ad": ffi.NULL,
            "adlen": 0,
            "t_cost": parameters.time_cost,
            "m_cost": parameters.memory_cost,
            "lanes": parameters.parallelism,
            "threads": 1,  # the point of this module: the lanes in turn, on this thread
            "allocate_cbk": ffi.NULL,
            "free_cbk": ffi.NULL,
            "flags": lib.ARGON2_DEFAULT_FLAGS,
            "version": parameters.version,
        },
    )
    code = low_level.core(context, parameters.type.value)
    if code != lib.ARGON2_OK:
        message = ffi.string(lib.argon2_error_message(code)).decode("ascii")
        raise error(message)
    return bytes(ffi.buffer(out, parameters.hash_len))


def _b64(data: bytes) -> str:
    """The PHC string format's base64: the standard alphabet, no padding."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    # Only canonical encodings: one hash must have one spelling (libargon2's decoder agrees).
    data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    if _b64(data) != text:
        raise InvalidHashError("non-canonical base64 in the hash")
    return data


class OneThreadHasher(PasswordHasher):
    """argon2-cffi's ``PasswordHasher``, with ``hash`` and ``verify`` computed on the calling
    thread; the same hashes, the same exceptions, the same ``check_needs_rehash``."""

    @property
    def parameters(self) -> Parameters:
        """What this hasher hashes with, from argon2-cffi's public properties."""
        return Parameters(
            type=self.type,
            version=ARGON2_VERSION,
            salt_len=self.salt_len,
            hash_len=self.hash_len,
            time_cost=self.time_cost,
            memory_cost=self.memory_cost,
            parallelism=self.parallelism,
        )

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        p = self.parameters
        salt = salt or os.urandom(p.salt_len)
        raw = _raw(p, _bytes(password, self.encoding), salt, HashingError)
        return (
            f"{_PREFIX[p.type]}v={p.version}$m={p.memory_cost},t={p.time_cost},"
            f"p={p.parallelism}${_b64(salt)}${_b64(raw)}"
        )

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        try:
            encoded = hash.decode("ascii") if isinstance(hash, bytes) else hash
            parameters = extract_parameters(encoded)
            salt, expected = (_unb64(part) for part in encoded.rsplit("$", 2)[1:])
        except ValueError as exc:  # InvalidHashError is one; so is a non-ASCII hash's error
            raise InvalidHashError(str(exc)) from exc
        if encoded.count("$") == 4:
            # No "v=": a hash of argon2 1.0, which libargon2 reads as version 0x10 (argon2-cffi's
            # extract_parameters says 18, which would compute another hash).
            parameters = dataclasses.replace(parameters, version=lib.ARGON2_VERSION_10)
        actual = _raw(parameters, _bytes(password, self.encoding), salt, VerificationError)
        # Constant time: how much of a guess matched must not show in the answer's timing.
        if not hmac.compare_digest(actual, expected):
            raise VerifyMismatchError
        return True


def _bytes(value: str | bytes, encoding: str) -> bytes:
    return value.encode(encoding) if isinstance(value, str) else value
