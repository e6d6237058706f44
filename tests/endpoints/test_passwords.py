"""§Handlers, passwords: the strength policy, the argon2id Hasher (bounded pool, dummy hash,
rehash flag), and through both adapters: hashes upgraded on login, unknown-email logins doing
the same argon2 work as wrong passwords, unusable stored hashes failing closed, hashing off the
event loop and bounded, and a 429 once the hashing queue is full."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher, Type
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY
from support.apps import admins
from support.clients import ASGIClient, wrap
from support.results import RawClient, Result
from support.spies import SpyHasher, niceness, policy

from jwe_gate import (
    ConfigurationError,
    Gate,
    Hasher,
    HasherBusyError,
    JWEGateError,
    MemoryBackend,
    PasswordPolicy,
    Table,
)

JSON = ("Content-Type", "application/json")
PASSWORD = "correct horse 1"
CHEAP_PREFIX = "$argon2id$v=19$m=8,t=1,p=1$"


def request(
    path: str, data: Any, *, token: str | None = None, method: str = "POST"
) -> dict[str, Any]:
    """Keyword arguments for a raw client call (to send now or to overlap with another)."""
    headers = [JSON]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    body = b"" if data is None else json.dumps(data).encode()
    return {"method": method, "target": path, "headers": headers, "body": body}


def signup_req(email: str = "zoe@x.com", password: str = PASSWORD) -> dict[str, Any]:
    return request("/auth/signup", {"name": "Zoe", "email": email, "password": password})


def login_req(email: str = "zoe@x.com", password: str = PASSWORD) -> dict[str, Any]:
    return request("/auth/login", {"email": email, "password": password})


def send(client: RawClient, req: dict[str, Any]) -> Result:
    return client(**req)


def assert_error(res: Result, status: int, code: str, param: str | None = None) -> None:
    assert res.status == status, (res.status, res.json)
    assert set(res.json) == {"code", "message", "payload"}
    assert res.json["code"] == code
    if param is not None:
        assert res.json["payload"] == {"param": param}


def stored_hash(gate: Gate, email: str = "zoe@x.com") -> Any:
    record = gate.table("user").find(email)
    assert record is not None
    return record.get("password")


def calls(spy: SpyHasher) -> list[str]:
    """The hasher calls the handlers made, sync or async alike."""
    return [c.removeprefix("a") for c in spy.calls]


def concurrently(client: RawClient, reqs: list[dict[str, Any]]) -> list[Result]:
    """Send ``reqs`` at once: on one event loop (ASGI) or from as many threads (WSGI)."""
    if isinstance(client, ASGIClient):

        async def run() -> list[Result]:
            return list(await asyncio.gather(*(client.arequest(**r) for r in reqs)))

        return asyncio.run(run())
    with ThreadPoolExecutor(len(reqs)) as pool:
        return list(pool.map(lambda r: send(client, r), reqs))


def while_held(
    client: RawClient, spy: SpyHasher, first: dict[str, Any], second: dict[str, Any]
) -> tuple[Result, Result, bool]:
    """Send ``first``; once its argon2 work is running (held in the pool by ``spy.hold``), send
    ``second``; then release. Returns both answers and whether ``first`` was still unanswered
    when ``second`` was."""
    spy.hold = threading.Event()
    spy.entered.clear()
    if isinstance(client, ASGIClient):

        async def run() -> tuple[Result, Result, bool]:
            task = asyncio.create_task(client.arequest(**first))
            assert await asyncio.to_thread(spy.entered.wait, 5)
            try:
                res = await client.arequest(**second)
                pending = not task.done()
            finally:
                assert spy.hold is not None
                spy.hold.set()
            return await task, res, pending

        return asyncio.run(run())
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(send, client, first)
        assert spy.entered.wait(5)
        try:
            res = send(client, second)
            pending = not future.done()
        finally:
            spy.hold.set()
        return future.result(5), res, pending


@pytest.fixture
def spy() -> Iterator[SpyHasher]:
    hasher = SpyHasher()
    yield hasher
    hasher.close()


# -- the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "password", "problem"),
    [
        pytest.param(PasswordPolicy(), "abcdef12", None, id="default-8-chars"),
        pytest.param(PasswordPolicy(), "abcde12", "at least 8", id="default-7-chars"),
        pytest.param(PasswordPolicy(), "abcdefgh", "digit", id="default-no-digit"),
        pytest.param(PasswordPolicy(), "12345678", "letter", id="default-no-letter"),
        pytest.param(PasswordPolicy(), "a1" * 128, None, id="default-at-max-256"),
        pytest.param(PasswordPolicy(), "a1" * 128 + "a", "at most 256", id="default-over-max"),
        pytest.param(PasswordPolicy(), "abcd\x00efg1", "NUL", id="nul"),
        pytest.param(PasswordPolicy(), "pässwört1", None, id="non-ascii-letters"),
        pytest.param(PasswordPolicy(), "密码密码密码密码7", None, id="cjk-letters"),
        pytest.param(PasswordPolicy(), "\U0001f600" * 6 + "a1", None, id="length-in-characters"),
        pytest.param(PasswordPolicy(), "\U0001f600" * 5 + "a1", "at least 8", id="emoji-short"),
        pytest.param(PasswordPolicy(), "        a1", None, id="spaces-count"),
        pytest.param(
            PasswordPolicy(min_length=12), "abcdefgh123", "at least 12", id="min-12-short"
        ),
        pytest.param(PasswordPolicy(min_length=12), "abcdefgh1234", None, id="min-12-ok"),
        pytest.param(PasswordPolicy(require_letter=False), "12345678", None, id="no-letter-needed"),
        pytest.param(PasswordPolicy(require_digit=False), "abcdefgh", None, id="no-digit-needed"),
        pytest.param(
            PasswordPolicy(min_length=1, require_letter=False, require_digit=False),
            "-",
            None,
            id="anything-goes",
        ),
        pytest.param(PasswordPolicy(max_length=16), "a1" * 8, None, id="max-16-ok"),
        pytest.param(PasswordPolicy(max_length=16), "a1" * 8 + "a", "at most 16", id="max-16-over"),
        pytest.param(
            PasswordPolicy(min_length=1, require_letter=False, require_digit=False),
            "\x00",
            "NUL",
            id="nul-always",
        ),
    ],
)
def test_password_policy(policy: PasswordPolicy, password: str, problem: str | None) -> None:
    """The policy: >= 8 chars, a letter, a digit, a maximum, no NUL; each configurable."""
    found = policy.problem(password)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"min_length": 0}, id="min-0"),
        pytest.param({"min_length": 20, "max_length": 10}, id="min-over-max"),
        pytest.param({"max_length": 4097}, id="max-over-4096"),
        pytest.param({"min_length": -1}, id="negative"),
    ],
)
def test_password_policy_refuses_bad_limits(kwargs: dict[str, Any]) -> None:
    """Impossible limits are a ConfigurationError (a ValueError) at construction."""
    with pytest.raises(ConfigurationError):
        PasswordPolicy(**kwargs)


def test_policy_applies_through_the_endpoints(
    make_auth_gate: Callable[..., Gate], adapter: str, spy: SpyHasher
) -> None:
    """Gate(password_policy=...) rules signup, login length and password change."""
    policy = PasswordPolicy(min_length=12, max_length=64, require_digit=False)
    gate = make_auth_gate(hasher=spy, password_policy=policy)
    client = wrap(gate, adapter)
    short = send(client, signup_req(password="abcdefghijk"))
    assert_error(short, 400, "ERROR_CODE_INPUT_ERROR", "password")
    assert "at least 12" in short.json["message"]
    assert send(client, signup_req(password="abcdefghijkl")).status == 200
    spy.reset()
    for req in (signup_req("amy@x.com", "a" * 65), login_req(password="a" * 65)):
        assert_error(send(client, req), 400, "ERROR_CODE_INPUT_ERROR", "password")
    assert (spy.calls, spy.work) == ([], [])
    token = send(client, login_req(password="abcdefghijkl")).json["authToken"]
    weak = send(
        client,
        request(
            "/auth/password",
            {"password": "abcdefghijkl", "newPassword": "abcdefghijk"},
            token=token,
        ),
    )
    assert_error(weak, 400, "ERROR_CODE_INPUT_ERROR", "newPassword")


# -- the hasher ------------------------------------------------------------------------------


def test_hash_and_verify(spy: SpyHasher) -> None:
    """hash makes a salted argon2id hash; verify answers (matches, needs_rehash)."""
    first, second = spy.hash(PASSWORD), spy.hash(PASSWORD)
    assert first.startswith(CHEAP_PREFIX)
    assert first != second
    assert PASSWORD not in first
    assert spy.verify(first, PASSWORD) == (True, False)
    assert spy.verify(second, PASSWORD) == (True, False)
    assert spy.verify(first, PASSWORD + "x") == (False, False)
    assert spy.verify(first, "") == (False, False)


def test_verify_flags_hashes_made_with_other_parameters(spy: SpyHasher) -> None:
    """A match under other parameters (or argon2i) asks for a rehash; a mismatch never."""
    for params in (
        dataclasses.replace(CHEAPEST, time_cost=2),
        dataclasses.replace(CHEAPEST, memory_cost=16),
        dataclasses.replace(CHEAPEST, type=Type.I),
    ):
        old = PasswordHasher.from_parameters(params).hash(PASSWORD)
        assert spy.verify(old, PASSWORD) == (True, True)
        assert spy.verify(old, "wrong horse 1") == (False, False)


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("$argon2id$x", id="truncated"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$é$é", id="non-ascii"),
        pytest.param(PASSWORD, id="plaintext"),
    ],
)
def test_verify_of_an_unusable_hash_fails_closed_after_the_dummy_work(
    spy: SpyHasher, stored: Any
) -> None:
    """An unusable stored hash verifies as (False, False), never raises, after the dummy's work."""
    dummy = spy.dummy_hash()
    spy.reset()
    assert spy.verify(stored, PASSWORD) == (False, False)
    assert [w.against for w in spy.work if w.kind == "verify"].count(dummy) == 1


def test_async_twins_run_in_the_pool(spy: SpyHasher) -> None:
    """ahash/averify answer like hash/verify, with the argon2 work on pool threads, off the loop."""

    async def run() -> tuple[str, tuple[bool, bool], tuple[bool, bool]]:
        hashed = await spy.ahash(PASSWORD)
        return hashed, await spy.averify(hashed, PASSWORD), await spy.averify(hashed, "nope1234")

    hashed, good, bad = asyncio.run(run())
    assert hashed.startswith(CHEAP_PREFIX)
    assert (good, bad) == ((True, False), (False, False))
    assert spy.work
    assert all(w.thread.startswith("jwe_gate-hash") and not w.on_loop for w in spy.work)


def test_the_default_profile_is_rfc_9106_low_memory(keys: Any) -> None:
    """Without a hasher the gate uses argon2id's RFC 9106 low-memory profile (64 MiB, t=3, p=4)."""
    gate = Gate(keys=keys, tables=[Table("user", MemoryBackend())])
    hasher = gate.hasher
    try:
        assert hasher.parameters == RFC_9106_LOW_MEMORY
        hashed = hasher.hash(PASSWORD)
        assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert hasher.verify(hashed, PASSWORD) == (True, False)
    finally:
        hasher.close()


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        pytest.param((dataclasses.replace(CHEAPEST, type=Type.I),), {}, id="argon2i"),
        pytest.param((dataclasses.replace(CHEAPEST, type=Type.D),), {}, id="argon2d"),
        pytest.param((CHEAPEST,), {"max_concurrent": 0}, id="max-concurrent-0"),
        pytest.param((CHEAPEST,), {"max_concurrent": -1}, id="max-concurrent-negative"),
        pytest.param((CHEAPEST,), {"max_queue": -1}, id="max-queue-negative"),
        pytest.param((CHEAPEST,), {"priority": -1}, id="priority-negative"),
        pytest.param((CHEAPEST,), {"priority": 20}, id="priority-past-19"),
        pytest.param((CHEAPEST,), {"priority": True}, id="priority-bool"),
        pytest.param((CHEAPEST,), {"priority": 2.5}, id="priority-float"),
        pytest.param((CHEAPEST,), {"priority": "IDLE"}, id="priority-idle-upper-case"),
        pytest.param((CHEAPEST,), {"priority": "10"}, id="priority-digits"),
        pytest.param((CHEAPEST,), {"priority": None}, id="priority-none"),
    ],
)
def test_hasher_refuses_bad_configuration(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Only argon2id, at least one worker, a non-negative queue, a priority of "idle" or a
    niceness from 0 to 19."""
    with pytest.raises(ConfigurationError):
        Hasher(*args, **kwargs)


LINUX = sys.platform.startswith("linux")
"""Policy and niceness are per thread on Linux, where the hashing threads lower them;
elsewhere they are per process and the Hasher leaves them alone."""


def _expected(
    mine: tuple[int, int | None], priority: int | Literal["idle"]
) -> tuple[int, int | None]:
    """The (niceness, policy) a hashing thread runs at, for a caller at ``mine``: on Linux
    SCHED_IDLE for "idle" (niceness untouched), else ``priority`` steps lower; elsewhere
    ``mine``."""
    nice, own = mine
    if not LINUX:
        return mine
    if priority == "idle":
        return nice, os.SCHED_IDLE
    return min(19, nice + int(priority)), own


@pytest.mark.parametrize(
    ("kwargs", "priority"),
    [
        pytest.param({}, "idle", id="default-idle"),
        pytest.param({"priority": "idle"}, "idle", id="idle"),
        pytest.param({"priority": 3}, 3, id="niceness-three"),
        pytest.param({"priority": 0}, 0, id="off"),
    ],
)
def test_hashing_threads_lower_their_own_priority(
    kwargs: dict[str, Any], priority: int | Literal["idle"]
) -> None:
    """Hasher(priority=...): every argon2 computation runs on a thread with SCHED_IDLE
    ("idle", the default) or ``priority`` steps below the caller's niceness, on Linux (0: the
    same; elsewhere unchanged), whichever twin asked; the caller's own priority is untouched."""
    mine = (niceness(), policy())
    spy = SpyHasher(max_concurrent=2, **kwargs)
    try:
        spy.verify(spy.hash(PASSWORD), PASSWORD)
        asyncio.run(spy.averify(None, PASSWORD))
    finally:
        spy.close()
    assert len(spy.work) >= 3
    assert {(w.nice, w.policy) for w in spy.work} == {_expected(mine, priority)}
    assert (niceness(), policy()) == mine


class _ThreadSpy(Hasher):
    """Starts a thread from the hashing thread, as a library may, and records that thread's
    (niceness, policy)."""

    started: list[tuple[int, int | None]]

    def _hash(self, password: str) -> str:
        lane = threading.Thread(target=lambda: self.started.append((niceness(), policy())))
        lane.start()
        lane.join()
        return super()._hash(password)


@pytest.mark.parametrize(
    "priority",
    [pytest.param("idle", id="idle"), pytest.param(5, id="niceness-five")],
)
def test_threads_a_hashing_thread_starts_inherit_its_priority(
    priority: int | Literal["idle"],
) -> None:
    """A thread started from a hashing thread runs at its lower priority (on Linux; elsewhere
    at the process's own)."""
    hasher = _ThreadSpy(CHEAPEST, priority=priority)
    hasher.started = []
    try:
        hasher.hash(PASSWORD)
    finally:
        hasher.close()
    assert hasher.started == [_expected((niceness(), policy()), priority)]


def test_hasher_busy_error_is_a_jwe_gate_error() -> None:
    """HasherBusyError is importable from jwe_gate and part of its exception tree."""
    assert issubclass(HasherBusyError, JWEGateError)


def test_past_the_queue_a_hash_is_refused_at_once() -> None:
    """One running, one queued: a third hash is HasherBusyError at once; then admits again."""
    spy = SpyHasher(max_concurrent=1, max_queue=1)
    spy.hold = threading.Event()
    outcomes: list[str] = []
    refused = threading.Event()

    def attempt() -> None:
        try:
            spy.hash(PASSWORD)
        except HasherBusyError:
            outcomes.append("busy")
            refused.set()
        else:
            outcomes.append("hashed")

    with ThreadPoolExecutor(3) as pool:
        running = pool.submit(attempt)
        assert spy.entered.wait(5)
        others = [pool.submit(attempt) for _ in range(2)]
        try:
            assert refused.wait(5)  # one of the two is refused while the first still runs
            assert not running.done()
        finally:
            spy.hold.set()
        for f in (running, *others):
            f.result(5)
    assert sorted(outcomes) == ["busy", "hashed", "hashed"]
    assert spy.peak == 1
    assert spy.verify(spy.hash(PASSWORD), PASSWORD) == (True, False)
    spy.close()


def test_past_the_queue_an_async_hash_is_refused_at_once() -> None:
    """With the only slot taken and no queue, ahash/averify raise HasherBusyError at once."""
    spy = SpyHasher(max_concurrent=1, max_queue=0)
    spy.hold = threading.Event()

    async def run() -> str:
        task = asyncio.create_task(spy.ahash(PASSWORD))
        assert await asyncio.to_thread(spy.entered.wait, 5)
        try:
            with pytest.raises(HasherBusyError):
                await spy.averify(None, PASSWORD)
            assert not task.done()
        finally:
            assert spy.hold is not None
            spy.hold.set()
        return await task

    assert asyncio.run(run()).startswith(CHEAP_PREFIX)
    spy.close()


# -- through the endpoints -------------------------------------------------------------------


@pytest.mark.parametrize(
    "old",
    [
        pytest.param(dataclasses.replace(CHEAPEST, time_cost=2), id="time_cost"),
        pytest.param(dataclasses.replace(CHEAPEST, memory_cost=16), id="memory_cost"),
        pytest.param(dataclasses.replace(CHEAPEST, hash_len=16, salt_len=16), id="lengths"),
        pytest.param(dataclasses.replace(CHEAPEST, type=Type.I), id="argon2i"),
    ],
)
def test_login_upgrades_the_hash_when_parameters_change(
    make_auth_gate: Callable[..., Gate], adapter: str, spy: SpyHasher, old: Any
) -> None:
    """Login via a gate with new hasher parameters rehashes once; the next login keeps it."""
    tables = [Table("user", MemoryBackend()), Table("admin", MemoryBackend(admins()))]
    if old.type is Type.ID:
        before = make_auth_gate(tables=tables, hasher=Hasher(old))
        assert send(wrap(before, adapter), signup_req()).status == 200
    else:  # the Hasher makes only argon2id; such hashes come from elsewhere
        tables[0].create(
            {"email": "zoe@x.com", "password": PasswordHasher.from_parameters(old).hash(PASSWORD)}
        )
    gate = make_auth_gate(tables=tables, hasher=spy)
    client = wrap(gate, adapter)
    old_hash = stored_hash(gate)
    current = PasswordHasher.from_parameters(CHEAPEST)
    assert current.check_needs_rehash(old_hash)
    assert send(client, login_req()).status == 200
    new_hash = stored_hash(gate)
    assert new_hash != old_hash
    assert new_hash.startswith(CHEAP_PREFIX)
    assert not current.check_needs_rehash(new_hash)
    assert current.verify(new_hash, PASSWORD)
    assert calls(spy) == ["verify", "hash"]
    spy.reset()
    assert send(client, login_req()).status == 200
    assert stored_hash(gate) == new_hash
    assert calls(spy) == ["verify"]


def test_a_failed_login_never_rehashes(
    make_auth_gate: Callable[..., Gate], adapter: str, spy: SpyHasher
) -> None:
    """A wrong password against an outdated hash leaves the hash alone."""
    tables = [Table("user", MemoryBackend()), Table("admin", MemoryBackend(admins()))]
    old = PasswordHasher.from_parameters(dataclasses.replace(CHEAPEST, time_cost=2))
    tables[0].create({"email": "zoe@x.com", "password": old.hash(PASSWORD)})
    gate = make_auth_gate(tables=tables, hasher=spy)
    before = stored_hash(gate)
    assert send(wrap(gate, adapter), login_req(password="wrong horse 1")).status == 403
    assert stored_hash(gate) == before
    assert calls(spy) == ["verify"]


def test_unknown_email_does_the_same_argon2_work_as_a_wrong_password(
    make_auth_gate: Callable[..., Gate], adapter: str, spy: SpyHasher
) -> None:
    """Unknown email: the dummy hash is verified as often as a wrong password's hash."""
    gate = make_auth_gate(hasher=spy)
    client = wrap(gate, adapter)
    assert send(client, signup_req()).status == 200
    stored, dummy = stored_hash(gate), spy.dummy_hash()
    assert dummy.split("$")[:4] == stored.split("$")[:4]  # same algorithm and cost
    observed = {}
    for label, req in (
        ("wrong", login_req(password="wrong horse 1")),
        ("unknown", login_req(email="nobody@x.com")),
    ):
        spy.reset()
        for _ in range(3):
            assert send(client, req).status == 403
        observed[label] = (list(spy.calls), [(w.kind, w.against) for w in spy.work])
    assert observed["wrong"][1] == [("verify", stored)] * 3
    assert observed["unknown"][1] == [("verify", dummy)] * 3
    assert observed["wrong"][0] == observed["unknown"][0]
    assert len(observed["wrong"][0]) == 3


_ABSENT = object()


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(_ABSENT, id="no-password-field"),
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("$argon2id$x", id="truncated-argon2"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$garbage$garbage", id="bad-encoding"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$é$é", id="non-ascii"),
        pytest.param(PASSWORD, id="the-password-in-plaintext"),
        pytest.param("$2b$12$" + "a" * 53, id="bcrypt"),
        pytest.param(42, id="int"),
        pytest.param(["$argon2id$"], id="list"),
    ],
)
def test_unusable_stored_hash_fails_closed(
    make_auth_gate: Callable[..., Gate], adapter: str, spy: SpyHasher, stored: Any
) -> None:
    """A missing, empty or malformed stored hash: login and password change are 403, not 500."""
    record: dict[str, Any] = {"id": 7, "email": "zoe@x.com", "name": "Zoe"}
    if stored is not _ABSENT:
        record["password"] = stored
    gate = make_auth_gate(
        hasher=spy,
        tables=[Table("user", MemoryBackend([record])), Table("admin", MemoryBackend(admins()))],
    )
    client = wrap(gate, adapter)
    dummy = spy.dummy_hash()
    for req in (
        login_req(),
        request(
            "/auth/password",
            {"password": PASSWORD, "newPassword": "new horse 2"},
            token=gate.issue("user", 7),
        ),
    ):
        spy.reset()
        res = send(client, req)
        assert_error(res, 403, "ERROR_CODE_ACCESS_DENIED")
        assert res.json["message"] == "Invalid Credentials."
        assert [w.against for w in spy.work if w.kind == "verify"].count(dummy) == 1
    assert gate.table("user").get("7") == record


def test_hashing_runs_in_the_pool_at_most_max_concurrent_at_once(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Six signups at once: argon2 runs on pool threads only, max_concurrent (2) at peak."""
    spy = SpyHasher(max_concurrent=2)
    spy.delay = 0.05
    client = wrap(make_auth_gate(hasher=spy), adapter)
    results = concurrently(client, [signup_req(f"u{i}@x.com") for i in range(6)])
    assert [r.status for r in results] == [200] * 6
    assert [w.kind for w in spy.work].count("hash") == 6
    assert all(w.thread.startswith("jwe_gate-hash") and not w.on_loop for w in spy.work)
    assert spy.peak == 2


def test_a_running_hash_blocks_no_other_request(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """While a signup's hash is held in the pool, the same server still answers GET /auth/me."""
    spy = SpyHasher(max_concurrent=1, max_queue=0)
    gate = make_auth_gate(hasher=spy)
    client = wrap(gate, adapter)
    me = request("/auth/me", None, token=gate.issue("user", 1), method="GET")
    signed, seen, pending = while_held(client, spy, signup_req(), me)
    assert (seen.status, seen.json["email"]) == (200, "ann@example.com")
    assert pending
    assert signed.status == 200
    assert spy.work
    assert not any(w.on_loop for w in spy.work)


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(login_req(), id="login"),
        pytest.param(signup_req("amy@x.com"), id="signup"),
        pytest.param(
            request("/auth/password", {"password": PASSWORD, "newPassword": "new horse 2"}),
            id="password",
        ),
    ],
)
def test_a_full_hashing_queue_is_429(
    make_auth_gate: Callable[..., Gate], adapter: str, second: dict[str, Any]
) -> None:
    """With the hasher's only slot taken, a request needing a hash is a 429 with Retry-After."""
    spy = SpyHasher(max_concurrent=1, max_queue=0)
    gate = make_auth_gate(hasher=spy)
    client = wrap(gate, adapter)
    assert send(client, signup_req()).status == 200
    if second["target"] == "/auth/password":
        token = send(client, login_req()).json["authToken"]
        second = {**second, "headers": [JSON, ("Authorization", f"Bearer {token}")]}
    backend = gate.table("user").backend
    assert isinstance(backend, MemoryBackend)
    count, before = len(backend), stored_hash(gate)
    first, busy, pending = while_held(client, spy, login_req(), second)
    assert pending
    assert first.status == 200
    assert_error(busy, 429, "ERROR_CODE_TOO_MANY_REQUESTS")
    assert int(busy.header("retry-after") or "0") >= 1
    assert (len(backend), stored_hash(gate)) == (count, before)
    assert send(client, second).status == 200


def test_a_refused_submit_gives_its_slot_back() -> None:
    """Hashing on a closed pool raises, and never leaves the queue a slot short (a false 429)."""
    hasher = Hasher(CHEAPEST, max_concurrent=1, max_queue=0)
    hasher.close()
    for _ in range(3):  # each would be HasherBusyError if the first leaked its slot
        with pytest.raises(RuntimeError):
            hasher.hash("secret123")


def _foreign(stored: str, password: str) -> bool | None:
    """A verifier of one made-up scheme, ``plain$<password>``; it raises on ``plain$boom``."""
    if not stored.startswith("plain$"):
        return None
    if stored == "plain$boom":
        raise RuntimeError("corrupt hash")
    return stored == f"plain${password}"


@pytest.mark.parametrize(
    ("stored", "password", "expected"),
    [
        pytest.param(f"plain${PASSWORD}", PASSWORD, (True, True), id="match-needs-rehash"),
        pytest.param(f"plain${PASSWORD}", "other pass 1", (False, False), id="mismatch"),
        pytest.param("plain$boom", PASSWORD, (False, False), id="raising-fails-closed"),
        pytest.param("bcrypt$unknown", PASSWORD, (False, False), id="unknown-scheme"),
        pytest.param(None, PASSWORD, (False, False), id="no-record"),
    ],
)
def test_foreign_hashes_are_verified_and_flagged_for_rehash(
    stored: str | None, password: str, expected: tuple[bool, bool]
) -> None:
    """Hasher(foreign=...) verifies another scheme's hashes: a match always needs a rehash (the
    login upgrades it to argon2id), a verifier that raises refuses, an unknown scheme is
    checked against the dummy hash like any unusable one."""
    hasher = Hasher(CHEAPEST, foreign=_foreign)
    try:
        assert hasher.verify(stored, password) == expected
        assert Hasher(CHEAPEST).verify(stored, password) == (False, False)  # no hook: refused
    finally:
        hasher.close()


def test_a_login_upgrades_a_foreign_hash(keys: Any) -> None:
    """Through the endpoints: a record holding a foreign hash logs in, and its stored hash is
    argon2id afterwards."""
    backend = MemoryBackend()
    table = Table("user", backend)
    record = table.create({"email": "ann@example.com", "password": f"plain${PASSWORD}"})
    gate = Gate(
        keys=keys,
        tables=[table],
        auth_routes={"/auth": "user"},
        hasher=Hasher(CHEAPEST, foreign=_foreign),
    )
    try:
        client = wrap(gate, "wsgi")
        body = json.dumps({"email": "ann@example.com", "password": PASSWORD}).encode()
        result = client("POST", "/auth/login", [JSON], body=body)
        assert result.status == 200
        stored = table.get(str(record["id"]))
        assert stored is not None
        assert stored["password"].startswith(CHEAP_PREFIX)
    finally:
        gate.close()


def test_foreign_must_be_callable() -> None:
    """A foreign verifier that is not callable is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Hasher(CHEAPEST, foreign="django")  # type: ignore[arg-type]
