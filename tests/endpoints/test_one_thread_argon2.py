"""The Hasher's argon2 (``jwe_gate._argon2``): each hash computed on the calling thread alone,
giving argon2-cffi's bytes, verifying argon2-cffi's hashes, and refusing what it refuses."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from argon2 import Parameters, PasswordHasher, Type, low_level
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import hash_secret
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

from jwe_gate._argon2 import OneThreadHasher

PASSWORD = "correct horse 1"
SMALL = Parameters(
    type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=2, memory_cost=256, parallelism=4
)

PROFILES = [
    pytest.param(CHEAPEST, id="cheapest"),
    pytest.param(SMALL, id="four-lanes"),
    pytest.param(dataclasses.replace(SMALL, type=Type.I), id="argon2i"),
    pytest.param(dataclasses.replace(SMALL, type=Type.D), id="argon2d"),
    pytest.param(dataclasses.replace(SMALL, hash_len=64, salt_len=32), id="long-salt-and-hash"),
]


@pytest.mark.parametrize("parameters", PROFILES)
@pytest.mark.parametrize(
    "password",
    [
        pytest.param(PASSWORD, id="ascii"),
        pytest.param("pässwörd 1 ✓", id="non-ascii"),
        pytest.param(b"raw \x00 bytes", id="bytes"),
        pytest.param("", id="empty"),
    ],
)
def test_the_same_bytes_as_argon2_cffi(parameters: Parameters, password: str | bytes) -> None:
    """With the same salt, a hash made on one thread is argon2-cffi's string, byte for byte."""
    salt = os.urandom(parameters.salt_len)
    ours = OneThreadHasher.from_parameters(parameters).hash(password, salt=salt)
    theirs = PasswordHasher.from_parameters(parameters).hash(password, salt=salt)
    assert ours == theirs


@pytest.mark.parametrize("parameters", PROFILES)
def test_hashes_verify_both_ways(parameters: Parameters) -> None:
    """A hash made here verifies with argon2-cffi, and argon2-cffi's verifies here; a wrong
    password is a mismatch on both."""
    ours, theirs = (
        OneThreadHasher.from_parameters(parameters),
        PasswordHasher.from_parameters(parameters),
    )
    for made, checker in ((ours.hash(PASSWORD), theirs), (theirs.hash(PASSWORD), ours)):
        assert checker.verify(made, PASSWORD) is True
        assert checker.verify(made.encode(), PASSWORD.encode()) is True
        with pytest.raises(VerifyMismatchError):
            checker.verify(made, PASSWORD + "x")


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(
            hash_secret(b"secret 1", b"somesalt", 2, 64, 2, 16, Type.I, version=0x10).decode(),
            id="version-16",
        ),
        pytest.param(
            hash_secret(b"secret 1", b"somesalt", 2, 64, 2, 16, Type.I, version=0x10)
            .decode()
            .replace("$v=16", ""),
            id="no-version-field",
        ),
    ],
)
def test_older_argon2_versions_verify(encoded: str) -> None:
    """Hashes of argon2 1.0, with "v=16" or with no version field at all (which libargon2
    reads as 1.0), verify here as with argon2-cffi."""
    PasswordHasher().verify(encoded, "secret 1")
    assert OneThreadHasher().verify(encoded, "secret 1") is True
    with pytest.raises(VerifyMismatchError):
        OneThreadHasher().verify(encoded, "secret 2")


def _tampered() -> list[object]:
    good = PasswordHasher.from_parameters(CHEAPEST).hash(PASSWORD)
    head, salt, digest = good.rsplit("$", 2)
    flipped = base64.b64encode(bytes([base64.b64decode(digest + "==")[0] ^ 1])).decode()[:2]
    return [
        pytest.param(f"{head}${salt}${flipped}{digest[2:]}", id="one-bit-of-the-hash"),
        pytest.param(f"{head.replace('t=1', 't=2')}${salt}${digest}", id="another-time-cost"),
        pytest.param(f"{head}${salt[:-1]}A${digest}", id="another-salt"),
    ]


@pytest.mark.parametrize("encoded", _tampered())
def test_a_tampered_hash_is_a_mismatch(encoded: str) -> None:
    """Any change to the stored hash (its bytes, its parameters, its salt) is a mismatch."""
    for checker in (PasswordHasher(), OneThreadHasher()):
        with pytest.raises(VerifyMismatchError):
            checker.verify(encoded, PASSWORD)


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param("", id="empty"),
        pytest.param("not a hash", id="text"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$", id="no-salt-or-hash"),
        pytest.param("$argon2id$v=19$m=8,t=1$c29tZXNhbHQ$aGFzaA", id="no-parallelism"),
        pytest.param("$argon2x$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g", id="unknown-type"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g!", id="bad-base64"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHR$aGFzaGhhc2g", id="non-canonical"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaGhhc2g", id="salt-too-short"),
        pytest.param("$argon2id$v=19$m=1,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2g", id="memory-too-low"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2gé", id="non-ascii"),
    ],
)
def test_what_cannot_be_a_hash_is_refused(encoded: str) -> None:
    """A malformed or impossible stored hash raises argon2-cffi's refusals (never a pass, never
    another exception), as argon2-cffi's own verify does."""
    with pytest.raises((InvalidHashError, VerificationError)):
        OneThreadHasher().verify(encoded, PASSWORD)
    with pytest.raises((InvalidHashError, VerificationError, ValueError)):
        PasswordHasher().verify(encoded, PASSWORD)


def test_parameters_and_rehash_are_argon2_cffis() -> None:
    """The parameters it hashes with are the profile's, and check_needs_rehash is
    argon2-cffi's."""
    hasher = OneThreadHasher.from_parameters(CHEAPEST)
    assert isinstance(hasher, OneThreadHasher)
    assert hasher.parameters == CHEAPEST
    assert not hasher.check_needs_rehash(hasher.hash(PASSWORD))
    assert hasher.check_needs_rehash(OneThreadHasher.from_parameters(SMALL).hash(PASSWORD))


# Run in a fresh interpreter, whose only threads are its main thread and the runner, so that no
# thread another test left behind starting or ending can change the count.
_COUNT_THREADS = """
import json, os, sys, threading, time
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY
from jwe_gate._argon2 import OneThreadHasher

def threads_while(work):
    seen = set()
    runner = threading.Thread(target=work)
    runner.start()
    while runner.is_alive():
        seen.add(len(os.listdir("/proc/self/task")))
        time.sleep(0.0005)
    runner.join()
    return sorted(seen)

password = sys.argv[1]
stored = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash(password)
before = len(os.listdir("/proc/self/task"))
ours = threads_while(lambda: OneThreadHasher().verify(stored, password))
theirs = threads_while(lambda: PasswordHasher().verify(stored, password))
print(json.dumps({"before": before, "ours": ours, "theirs": theirs}))
"""


def test_a_hash_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The production profile's four lanes run on the calling thread: libargon2 is asked for
    one thread, and (where /proc/self/task counts threads) none starts while it hashes, where
    argon2-cffi's own starts one per lane."""
    asked: list[tuple[int, int]] = []
    real = low_level.core

    def spy(context: Any, kind: int) -> int:
        asked.append((context.lanes, context.threads))
        return int(real(context, kind))

    monkeypatch.setattr(low_level, "core", spy)
    stored = PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY).hash(PASSWORD)
    OneThreadHasher().verify(stored, PASSWORD)
    OneThreadHasher().hash(PASSWORD)
    assert asked == [(RFC_9106_LOW_MEMORY.parallelism, 1)] * 2
    if os.path.isdir("/proc/self/task"):  # Linux: the threads of a fresh interpreter, counted
        done = subprocess.run(
            [sys.executable, "-c", _COUNT_THREADS, PASSWORD],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        counts = json.loads(done.stdout)
        assert counts["ours"] == [counts["before"] + 1]  # the runner alone
        assert max(counts["theirs"]) >= counts["before"] + 1 + RFC_9106_LOW_MEMORY.parallelism
