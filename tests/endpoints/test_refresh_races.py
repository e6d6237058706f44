"""§Handlers and §Scaling out under concurrency: racing refreshes of one token never fork a
family (threads, asyncio tasks, processes sharing one SQLite file), reuse revokes the family,
racing signups create one record, logout and password change end sessions (even when revoking
fails), racing logins never get past the throttle's limit nor launder its counts.

Everything runs through the real :class:`AuthService` over SQLite tables, with argon2's cheapest
profile so hashing costs nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from argon2.profiles import CHEAPEST
from support.spies import SpyHasher
from support.stores import InspectableRefreshStore, InspectableThrottleStore

from jwe_gate import AuthInfo, AuthUser, Gate, KeyRing, SQLiteBackend, Table, Throttle
from jwe_gate._endpoints.service import AuthService
from jwe_gate._passwords import Hasher
from jwe_gate._sansio.http import Response
from jwe_gate._sansio.request import HandlerRequest, RequestView
from jwe_gate._storage.memory import MemoryRefreshStore, MemoryThrottleStore
from jwe_gate._storage.protocols import ThrottleStore
from jwe_gate._storage.sqlite import SQLiteRefreshStore, SQLiteThrottleStore
from jwe_gate._twins import Twin

T = TypeVar("T")

RACERS = 50
START = 1_700_000_000.0
EMAIL = "ann@example.com"
PASSWORD = "correct horse 1"


class Clock:
    """A settable clock for the gate (tokens, store times)."""

    def __init__(self, t: float = START) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclass
class World:
    gate: Gate
    service: AuthService
    store: InspectableRefreshStore
    clock: Clock
    db: Path


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any

    @property
    def refresh(self) -> str:
        return str(self.body["refreshToken"])

    @property
    def access(self) -> str:
        return str(self.body["authToken"])


def _answer(resp: Response) -> Answer:
    return Answer(resp.status, json.loads(resp.body) if resp.body else None)


def _request(
    body: dict[str, Any] | None = None, *, access: str | None = None, gate: Gate | None = None
) -> HandlerRequest:
    """A POST with a JSON body, authenticated as the gate would when ``access`` is given."""
    raw = json.dumps(body).encode() if body is not None else b""
    if access is None or gate is None:
        return HandlerRequest(RequestView("POST", "/", client="198.51.100.7"), raw)
    claims = gate.verify(access)
    table = gate.table(claims.raw["tbl"])
    record = table.get(claims.sub)
    assert record is not None
    user = AuthUser(table.public(record), table.name, claims.extras)
    auth = AuthInfo(("authenticated",), table.name, claims, claims.extras, access)
    return HandlerRequest(RequestView("POST", "/", client="198.51.100.7"), raw, user, auth)


def _sync(world: World, endpoint: str, request: HandlerRequest) -> Answer:
    return _answer(world.service.handle(endpoint, request))


def _async(world: World, endpoint: str, request: HandlerRequest) -> Answer:
    return _answer(asyncio.run(world.service.ahandle(endpoint, request)))


CALLERS = [pytest.param(_sync, id="handle"), pytest.param(_async, id="ahandle")]


def _family(world: World, access: str) -> str:
    return str(world.gate.verify(access).raw["sid"])


def _signup(world: World, email: str = EMAIL, password: str = PASSWORD) -> Answer:
    answer = _sync(world, "signup", _request({"name": "Ann", "email": email, "password": password}))
    assert answer.status == 200, answer
    return answer


def _refresh_request(token: str) -> HandlerRequest:
    return _request({"refreshToken": token})


def _assert_refused(answer: Answer) -> None:
    assert answer.status == 401, answer
    assert answer.body["code"] == "ERROR_CODE_UNAUTHORIZED"


@pytest.fixture
def hasher() -> Iterator[Hasher]:
    """argon2's cheapest profile, with room for every racer in the queue."""
    hasher = Hasher(CHEAPEST, max_queue=4 * RACERS)
    yield hasher
    hasher.close()


@pytest.fixture
def make_world(tmp_path: Path, hasher: Hasher, keys: KeyRing) -> Iterator[Callable[..., World]]:
    """Build a gate over an SQLite user table with memory or SQLite stores (same file)."""
    closers: list[Callable[[], None]] = []

    def factory(
        stores: str,
        *,
        grace: float = 10.0,
        clock: Clock | None = None,
        hasher: Hasher = hasher,
        setup: Callable[[InspectableRefreshStore], None] | None = None,
        throttle_limits: Throttle | None = None,
    ) -> World:
        """``setup`` sees the refresh store before the service binds its methods."""
        db = tmp_path / "app.db"
        backend = SQLiteBackend(db)
        refresh: InspectableRefreshStore
        throttle: ThrottleStore
        if stores == "sqlite":
            sr, st = SQLiteRefreshStore(db), SQLiteThrottleStore(db)
            closers.extend((sr.close, st.close))
            refresh, throttle = sr, st
        else:
            refresh, throttle = MemoryRefreshStore(), MemoryThrottleStore()
        closers.append(backend.close)
        if setup is not None:
            setup(refresh)
        clock = clock or Clock()
        gate = Gate(
            keys=keys,
            tables=[Table("user", backend)],
            hasher=hasher,
            refresh_store=refresh,
            throttle_store=throttle,
            refresh_grace=grace,
            clock=clock,
            throttle=throttle_limits,
        )
        return World(gate, gate.auth_service("user"), refresh, clock, db)

    yield factory
    for close in closers:
        close()


STORES = [pytest.param("memory", id="memory-store"), pytest.param("sqlite", id="sqlite-store")]


# -- racing refreshes -----------------------------------------------------------------------


def _race_threads(n: int, call: Callable[[], T]) -> list[T]:
    barrier = threading.Barrier(n)

    def one() -> T:
        barrier.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(one) for _ in range(n)]
        return [f.result(timeout=30) for f in futures]


def _race_tasks(n: int, call: Callable[[], Awaitable[Response]]) -> list[Answer]:
    async def main() -> list[Response]:
        return list(await asyncio.gather(*(call() for _ in range(n))))

    return [_answer(r) for r in asyncio.run(main())]


def _race(
    world: World,
    runner: str,
    endpoint: str | Callable[[int], str],
    request: Callable[[int], HandlerRequest],
    n: int = RACERS,
) -> list[Answer]:
    """``n`` racing calls, the i-th to ``endpoint`` (or ``endpoint(i)``) with ``request(i)``;
    the answers in the order of i."""
    name = endpoint if callable(endpoint) else (lambda _: endpoint)
    if runner == "threads":
        counter = iter(range(n))
        lock = threading.Lock()

        def call() -> tuple[int, Answer]:
            with lock:
                i = next(counter)
            return i, _sync(world, name(i), request(i))

        return [a for _, a in sorted(_race_threads(n, call), key=lambda ia: ia[0])]
    calls = iter([(name(i), request(i)) for i in range(n)])

    def task() -> Awaitable[Response]:
        return world.service.ahandle(*next(calls))

    return _race_tasks(n, task)


RUNNERS = [pytest.param("threads", id="threads"), pytest.param("asyncio", id="asyncio")]


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("runner", RUNNERS)
def test_racing_refreshes_within_grace_share_one_child(
    make_world: Callable[..., World], stores: str, runner: str
) -> None:
    """50 racing refreshes within grace all get one child; one unspent token remains."""
    world = make_world(stores)
    start = _signup(world)
    family = _family(world, start.access)
    answers = _race(world, runner, "refresh", lambda _: _refresh_request(start.refresh))
    assert [a.status for a in answers] == [200] * RACERS
    children = {a.refresh for a in answers}
    assert len(children) == 1
    assert start.refresh not in children
    assert {_family(world, a.access) for a in answers} == {family}
    assert world.store.unspent(family, now=world.clock()) == 1
    child = children.pop()
    grandchild = _sync(world, "refresh", _refresh_request(child))  # the child is the live one
    assert grandchild.status == 200
    assert world.store.unspent(family, now=world.clock()) == 1


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("runner", RUNNERS)
def test_racing_refreshes_without_grace_revoke_the_family(
    make_world: Callable[..., World], stores: str, runner: str
) -> None:
    """With grace 0, one racing refresh wins and the others' reuse revokes the family."""
    world = make_world(stores, grace=0)
    start = _signup(world)
    family = _family(world, start.access)
    answers = _race(world, runner, "refresh", lambda _: _refresh_request(start.refresh))
    winners = [a for a in answers if a.status == 200]
    assert len(winners) == 1
    for answer in answers:
        if answer.status != 200:
            _assert_refused(answer)
    assert world.store.unspent(family, now=world.clock()) == 0
    _assert_refused(_sync(world, "refresh", _refresh_request(winners[0].refresh)))


# Steps after the first refresh (parent -> child): (seconds later, token to present, expected
# status); then the family's unspent count and the newest token's status.
REUSE_STORIES = [
    pytest.param([(5, "parent", 200)], 200, 1, id="parent-within-grace"),
    pytest.param([(9.5, "parent", 200), (9.9, "parent", 200)], 200, 1, id="twice-within-grace"),
    pytest.param([(10.5, "parent", 401)], 401, 0, id="parent-after-grace"),
    pytest.param([(60, "parent", 401), (61, "parent", 401)], 401, 0, id="after-grace-twice"),
    pytest.param([(1, "child", 200), (2, "parent", 401)], 401, 0, id="parent-after-child-used"),
]


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize(("steps", "newest_status", "unspent"), REUSE_STORIES)
def test_reuse_after_grace_revokes_the_family(
    make_world: Callable[..., World],
    stores: str,
    steps: list[tuple[float, str, int]],
    newest_status: int,
    unspent: int,
) -> None:
    """The parent again: same child within grace; after it, 401 and the newest token dies."""
    world = make_world(stores)
    parent = _signup(world).refresh
    first = _sync(world, "refresh", _refresh_request(parent))
    assert first.status == 200
    family = _family(world, first.access)
    tokens = {"parent": parent, "child": first.refresh}
    newest = first.refresh
    for at, name, status in steps:
        world.clock.t = START + at
        answer = _sync(world, "refresh", _refresh_request(tokens[name]))
        assert answer.status == status, (at, name, answer)
        if status == 200 and name == "parent":
            assert answer.refresh == first.refresh  # the grace answer: the same child
        elif status == 200:
            newest = answer.refresh
        else:
            _assert_refused(answer)
    assert world.store.unspent(family, now=world.clock()) == unspent
    last = _sync(world, "refresh", _refresh_request(newest))
    assert last.status == newest_status, last


# -- many processes, one SQLite file ---------------------------------------------------------


def _process_worker(
    db: str, keys_json: str, token: str, grace: float, barrier: Any, results: Any
) -> None:
    """One 'host': its own Gate on the shared SQLite file, refreshing ``token`` at the barrier."""
    hasher = Hasher(CHEAPEST)
    backend = SQLiteBackend(db)
    refresh, throttle = SQLiteRefreshStore(db), SQLiteThrottleStore(db)
    try:
        gate = Gate(
            keys=KeyRing.from_json(keys_json),
            tables=[Table("user", backend)],
            hasher=hasher,
            refresh_store=refresh,
            throttle_store=throttle,
            refresh_grace=grace,
        )
        service = gate.auth_service("user")
        request = _refresh_request(token)
        barrier.wait(timeout=60)
        resp = service.handle("refresh", request)
        results.put((resp.status, resp.body.decode()))
    except BaseException as exc:  # report, so the parent fails with the reason
        results.put((-1, repr(exc)))
        raise
    finally:
        hasher.close()
        backend.close()
        refresh.close()
        throttle.close()


@pytest.mark.parametrize(
    ("grace", "winners"),
    [
        pytest.param(10.0, None, id="grace-10"),
        pytest.param(0.0, 1, id="grace-0"),
    ],
)
def test_racing_refreshes_across_processes_never_fork(
    tmp_path: Path, grace: float, winners: int | None
) -> None:
    """Processes sharing one SQLite file racing one refresh never fork the family."""
    workers = 6
    db = tmp_path / "shared.db"
    keys = KeyRing.generate()
    hasher, backend = Hasher(CHEAPEST), SQLiteBackend(db)
    store, throttle = SQLiteRefreshStore(db), SQLiteThrottleStore(db)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    try:
        gate = Gate(
            keys=keys,
            tables=[Table("user", backend)],
            hasher=hasher,
            refresh_store=store,
            throttle_store=throttle,
            refresh_grace=grace,
        )
        service = gate.auth_service("user")
        start = _answer(
            service.handle(
                "signup", _request({"name": "Ann", "email": EMAIL, "password": PASSWORD})
            )
        )
        assert start.status == 200
        family = str(gate.verify(start.access).raw["sid"])
        procs = [
            ctx.Process(
                target=_process_worker,
                args=(str(db), keys.to_json(), start.refresh, grace, barrier, results),
            )
            for _ in range(workers)
        ]
        for p in procs:
            p.start()
        raw = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=30)
            assert p.exitcode == 0
            p.close()
    finally:
        results.close()
        results.join_thread()
        hasher.close()
        backend.close()
        throttle.close()
    answers = [Answer(status, json.loads(body)) for status, body in raw]
    assert all(a.status in (200, 401) for a in answers), raw
    ok = [a for a in answers if a.status == 200]
    for answer in answers:
        if answer.status != 200:
            _assert_refused(answer)
    children = {a.refresh for a in ok}
    try:
        assert len(children) == 1
        if winners is None:  # inside the grace window every racer gets the one child
            assert len(ok) == workers
            assert store.unspent(family, now=gate.clock()) == 1
            assert service.handle("refresh", _refresh_request(children.pop())).status == 200
        else:
            assert len(ok) == winners
            assert store.unspent(family, now=gate.clock()) == 0
    finally:
        store.close()


# -- racing signups --------------------------------------------------------------------------


EMAIL_SPELLINGS = [
    pytest.param(lambda i: EMAIL, id="same-spelling"),
    pytest.param(
        lambda i: (" Ann@Example.COM", "ANN@EXAMPLE.COM ", EMAIL)[i % 3], id="mixed-case-and-space"
    ),
]


@pytest.mark.parametrize("spell", EMAIL_SPELLINGS)
@pytest.mark.parametrize("runner", RUNNERS)
def test_racing_signups_create_one_record(
    make_world: Callable[..., World], runner: str, spell: Callable[[int], str]
) -> None:
    """50 racing signups for one email: one record, one 200, every other 403 in use."""
    # Room for every racer's signup from the one address (20 per 15 minutes by default).
    world = make_world("sqlite", throttle_limits=Throttle(signup_max=RACERS))

    def request(i: int) -> HandlerRequest:
        return _request({"name": f"racer{i}", "email": spell(i), "password": f"password{i}x"})

    answers = _race(world, runner, "signup", request)
    ok = [a for a in answers if a.status == 200]
    assert len(ok) == 1
    for answer in answers:
        if answer.status != 200:
            assert answer.status == 403, answer
            assert answer.body["code"] == "ERROR_CODE_ACCESS_DENIED"
            assert answer.body["message"] == "This account is already in use."
    conn = sqlite3.connect(world.db)
    try:
        rows = conn.execute('SELECT id, data FROM "user"').fetchall()
    finally:
        conn.close()
    assert len(rows) == 1
    data = json.loads(rows[0][1])
    assert data["email"] == EMAIL
    winner = int(data["name"].removeprefix("racer"))
    assert world.gate.verify(ok[0].access).sub == str(rows[0][0])
    good = _sync(world, "login", _request({"email": EMAIL, "password": f"password{winner}x"}))
    assert good.status == 200
    loser = (winner + 1) % RACERS
    bad = _sync(world, "login", _request({"email": EMAIL, "password": f"password{loser}x"}))
    assert bad.status == 403


# -- logout and password change -----------------------------------------------------------------


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    "how",
    [
        pytest.param("access-token", id="by-access-token"),
        pytest.param("refresh-token", id="by-refresh-token"),
    ],
)
def test_logout_revokes_the_sessions_family(
    make_world: Callable[..., World], stores: str, caller: Callable[..., Answer], how: str
) -> None:
    """Logout revokes that session's whole family (rotated tokens too); others live on."""
    world = make_world(stores)
    first = _signup(world)
    family = _family(world, first.access)
    rotated = _sync(world, "refresh", _refresh_request(first.refresh))
    assert rotated.status == 200
    other = _sync(world, "login", _request({"email": EMAIL, "password": PASSWORD}))
    assert other.status == 200
    other_family = _family(world, other.access)
    if how == "access-token":
        request = _request(access=first.access, gate=world.gate)
    else:
        request = _request({"refreshToken": rotated.refresh})
    answer = caller(world, "logout", request)
    assert answer.status == 204
    assert world.store.unspent(family, now=world.clock()) == 0
    _assert_refused(_sync(world, "refresh", _refresh_request(rotated.refresh)))
    _assert_refused(_sync(world, "refresh", _refresh_request(first.refresh)))
    assert world.store.unspent(other_family, now=world.clock()) == 1
    assert _sync(world, "refresh", _refresh_request(other.refresh)).status == 200


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("caller", CALLERS)
def test_password_change_revokes_every_other_family(
    make_world: Callable[..., World], stores: str, caller: Callable[..., Answer]
) -> None:
    """A password change ends every earlier session of the record and starts a fresh one."""
    world = make_world(stores)
    sessions = [_signup(world)]
    for _ in range(2):
        login = _sync(world, "login", _request({"email": EMAIL, "password": PASSWORD}))
        assert login.status == 200
        sessions.append(login)
    bob = _signup(world, "bob@example.com", "bob password 2")
    world.clock.t += 1  # the change comes after those tokens were minted
    answer = caller(
        world,
        "password",
        _request(
            {"password": PASSWORD, "newPassword": "new password 3"},
            access=sessions[1].access,
            gate=world.gate,
        ),
    )
    assert answer.status == 200, answer
    fresh = _family(world, answer.access)
    now = world.clock()
    for session in sessions:
        assert world.store.unspent(_family(world, session.access), now=now) == 0
        _assert_refused(_sync(world, "refresh", _refresh_request(session.refresh)))
    assert fresh not in {_family(world, s.access) for s in sessions}
    assert world.store.unspent(fresh, now=now) == 1
    assert world.store.unspent(_family(world, bob.access), now=now) == 1
    assert _sync(world, "refresh", _refresh_request(answer.refresh)).status == 200
    assert _sync(world, "refresh", _refresh_request(bob.refresh)).status == 200
    old = _sync(world, "login", _request({"email": EMAIL, "password": PASSWORD}))
    new = _sync(world, "login", _request({"email": EMAIL, "password": "new password 3"}))
    assert (old.status, new.status) == (403, 200)


class RevokeSubject:
    """Stands in for a store's revoke_subject: the real one until ``how`` is set to "lost"
    (does nothing), "login-in-between" (revokes, then a login with the old password lands) or
    "down" (raises); time passes in it, as it would between a revoke and the record update."""

    def __init__(self, store: InspectableRefreshStore) -> None:
        self.real = store.revoke_subject
        self.how = ""
        self.world: World | None = None
        self.late: list[Answer] = []

    def __call__(self, table: str, subject: str, *, keep: str | None = None) -> None:
        how, self.how = self.how, ""  # once
        assert self.world is not None
        self.world.clock.t += 1
        if how == "down":
            raise ConnectionError("store down")
        if how != "lost":
            self.real(table, subject, keep=keep)
        if how == "login-in-between":
            self.late.append(
                _sync(self.world, "login", _request({"email": EMAIL, "password": PASSWORD}))
            )
            self.world.clock.t += 1


@pytest.fixture
def flaky_world(
    make_world: Callable[..., World], request: pytest.FixtureRequest
) -> tuple[World, RevokeSubject]:
    """A world (``stores`` from the test's parameters) whose revoke_subject can be made to
    misbehave once."""
    box: list[RevokeSubject] = []

    def setup(store: InspectableRefreshStore) -> None:
        box.append(RevokeSubject(store))
        store.revoke_subject = box[0]  # type: ignore[method-assign]

    world = make_world(request.node.callspec.params["stores"], setup=setup)
    box[0].world = world
    return world, box[0]


def _change_password(world: World, access: str) -> HandlerRequest:
    return _request(
        {"password": PASSWORD, "newPassword": "new password 3"}, access=access, gate=world.gate
    )


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize(
    "how",
    [
        pytest.param("lost", id="revoke-lost"),
        pytest.param("login-in-between", id="old-password-login-in-between"),
    ],
)
def test_password_change_refuses_families_it_did_not_revoke(
    flaky_world: tuple[World, RevokeSubject], stores: str, how: str
) -> None:
    """A family begun before a password change is refused at refresh (and ended) even when the
    change's revoke missed it; the changer's new session refreshes."""
    world, revoke = flaky_world
    owner = _signup(world)
    thief = _sync(world, "login", _request({"email": EMAIL, "password": PASSWORD}))
    assert thief.status == 200
    revoke.how = how
    world.clock.t += 1
    answer = _sync(world, "password", _change_password(world, owner.access))
    assert answer.status == 200, answer
    stale = [thief, *revoke.late] if how == "login-in-between" else [owner, thief]
    assert len(stale) == 2
    for old in stale:
        assert old.status == 200
        if how == "lost":  # the revoke missed them: only the password stamp stops them
            assert world.store.unspent(_family(world, old.access), now=world.clock()) == 1
        _assert_refused(_sync(world, "refresh", _refresh_request(old.refresh)))
        assert world.store.unspent(_family(world, old.access), now=world.clock()) == 0
    renewed = _sync(world, "refresh", _refresh_request(answer.refresh))
    assert renewed.status == 200, renewed
    assert _sync(world, "refresh", _refresh_request(renewed.refresh)).status == 200


@pytest.mark.parametrize("stores", STORES)
def test_password_change_is_not_made_if_revoking_fails(
    flaky_world: tuple[World, RevokeSubject], stores: str
) -> None:
    """If revoke_subject raises, the password is not changed: no half change leaves a thief's
    session alive under a new password."""
    world, revoke = flaky_world
    owner = _signup(world)
    before = world.gate.table("user").find(EMAIL)
    revoke.how = "down"
    world.clock.t += 1
    with pytest.raises(ConnectionError):
        world.service.handle("password", _change_password(world, owner.access))
    assert world.gate.table("user").find(EMAIL) == before
    assert _sync(world, "refresh", _refresh_request(owner.refresh)).status == 200
    assert _sync(world, "login", _request({"email": EMAIL, "password": PASSWORD})).status == 200


def test_sqlite_refresh_store_upgrades_an_old_file(
    tmp_path: Path, keys: KeyRing, hasher: Hasher
) -> None:
    """A file of the first format (a row per token, no created_at) is moved to one row per
    session: a live old session keeps refreshing with its old token, read as begun at 0, so the
    record's next password change refuses it while new sessions work."""
    db = tmp_path / "old.db"
    legacy = secrets.token_urlsafe(32)  # an old refresh token: 43 random characters
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE jwe_gate_refresh_family (
            family TEXT PRIMARY KEY, tbl TEXT NOT NULL, subject TEXT NOT NULL, revoked_at REAL);
        CREATE TABLE jwe_gate_refresh_token (
            token_hash TEXT PRIMARY KEY, family TEXT NOT NULL, expires_at REAL NOT NULL,
            spent_at REAL, child_hash TEXT);
    """)
    with conn:
        conn.execute("INSERT INTO jwe_gate_refresh_family VALUES ('old-fam', 'user', '1', NULL)")
        conn.execute(
            "INSERT INTO jwe_gate_refresh_token VALUES (?, 'old-fam', ?, NULL, NULL)",
            (hashlib.sha256(f"user:{legacy}".encode()).hexdigest(), time.time() + 3600),
        )
    conn.close()
    backend = SQLiteBackend(db)
    stores = [SQLiteRefreshStore(db), SQLiteRefreshStore(db)]  # the second finds it upgraded
    throttle = SQLiteThrottleStore(db)
    clock = Clock()
    clock.t = time.time()
    try:
        gate = Gate(
            keys=keys,
            tables=[Table("user", backend)],
            hasher=hasher,
            refresh_store=stores[0],
            throttle_store=throttle,
            clock=clock,
        )
        world = World(gate, gate.auth_service("user"), stores[0], clock, db)
        _signup(world)  # record 1, the old session's subject
        ok = _sync(world, "refresh", _refresh_request(legacy))
        assert ok.status == 200, ok
        assert _family(world, ok.access) == "old-fam"
        again = _sync(world, "refresh", _refresh_request(ok.refresh))  # the chain goes on
        assert again.status == 200, again
        bob = _signup(world, "bob@example.com", "bob password 2")
        clock.t += 1
        changed = _sync(
            world,
            "password",
            _request(
                {"password": PASSWORD, "newPassword": "new password 3"},
                access=again.access,
                gate=gate,
            ),
        )
        assert changed.status == 200
        assert _sync(world, "refresh", _refresh_request(again.refresh)).status == 401
        assert _sync(world, "refresh", _refresh_request(changed.refresh)).status == 200
        assert _sync(world, "refresh", _refresh_request(bob.refresh)).status == 200
        names = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
        assert "jwe_gate_refresh_token" not in names  # moved, then dropped
    finally:
        for store in stores:
            store.close()
        throttle.close()
        backend.close()


# -- the login throttle under racing logins ----------------------------------------------------


ATTACKER = "203.0.113.5"


def _login_from(email: str, password: str, client: str = ATTACKER) -> HandlerRequest:
    return HandlerRequest(
        RequestView("POST", "/", client=client),
        json.dumps({"email": email, "password": password}).encode(),
    )


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("runner", RUNNERS)
def test_racing_guesses_verify_at_most_the_limit(
    make_world: Callable[..., World], stores: str, runner: str
) -> None:
    """60 racing wrong guesses at one account: at most 10 passwords are verified (each
    attempt is counted before its check); the rest are 429s that cost no hash."""
    spy = SpyHasher(CHEAPEST, max_queue=400)
    try:
        world = make_world(stores, hasher=spy)
        _signup(world)
        spy.reset()
        answers = _race(
            world, runner, "login", lambda i: _login_from(EMAIL, f"guess number {i}"), n=60
        )
        verified = [c for c in spy.calls if c in ("verify", "averify")]
        assert 1 <= len(verified) <= 10
        assert len([w for w in spy.work if w.kind == "verify"]) == len(verified)
        assert sorted(a.status for a in answers) == [403] * len(verified) + [429] * (
            60 - len(verified)
        )
        # Every refusal was given back, every verified guess stays counted.
        assert _address_count(world) == len(verified)
    finally:
        spy.close()


@pytest.mark.parametrize("stores", STORES)
@pytest.mark.parametrize("runner", RUNNERS)
def test_racing_successes_do_not_launder_guesses(
    make_world: Callable[..., World], stores: str, runner: str
) -> None:
    """30 racing right logins to one's own account, among guesses at other accounts, never take
    those guesses off the address's count: at most 10 are ever verified."""
    # The address's own limit at 10 (100 by default since the SPEC's larger per-address limit).
    world = make_world(stores, throttle_limits=Throttle(address_max_failures=10))
    _signup(world)  # the attacker's own account
    for _ in range(5):
        assert _sync(world, "login", _login_from(EMAIL, "wrong password 9")).status == 403
    for i in range(3):
        assert (
            _sync(world, "login", _login_from(f"victim{i}@example.com", "Spring2024!a")).status
            == 403
        )
    own = {i for i in range(36) if i % 6 != 5}  # 30 own logins, 6 guesses between them

    def request(i: int) -> HandlerRequest:
        if i in own:
            return _login_from(EMAIL, PASSWORD)
        return _login_from(f"victim-race{i}@example.com", "Spring2024!a")

    answers = _race(world, runner, "login", request, n=36)
    assert {a.status for i, a in enumerate(answers) if i in own} <= {200, 429}
    assert {a.status for i, a in enumerate(answers) if i not in own} <= {403, 429}
    guesses = 3 + sum(a.status == 403 for i, a in enumerate(answers) if i not in own)
    count = _address_count(world)
    if any(a.status == 200 for a in answers):
        assert count == guesses <= 10  # the own failures went, every guess stayed
    else:  # racing guesses filled the address first: the own failures stay too
        assert count == guesses + 5 == 10
    # And later, one by one: the address locks at 10 guesses, own logins or not.
    statuses = []
    for i in range(10):
        statuses.append(_sync(world, "login", _login_from(EMAIL, PASSWORD)).status)
        statuses.append(
            _sync(world, "login", _login_from(f"late{i}@example.com", "Spring2024!a")).status
        )
    assert statuses.count(403) == 10 - count
    assert _address_count(world) == 10


@pytest.mark.parametrize("stores", STORES)
def test_a_given_back_attempt_is_not_given_back_twice(
    make_world: Callable[..., World], stores: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An attempt whose check fails to run gives its count back -- unless a racing success
    already took it off with its own: then nothing more, or it would launder a guess."""
    world = make_world(stores)
    _signup(world)
    for i in range(3):
        assert (
            _sync(world, "login", _login_from(f"victim{i}@example.com", "Spring2024!a")).status
            == 403
        )
    ops = world.gate.table("user")._ops
    real_find = ops["find"].fn
    raced: list[Answer] = []
    racing = [True]

    def find(table: str, field: str, value: Any) -> Any:
        if racing:
            racing.clear()
            # The owner's right login races this attempt to its end; then this one fails.
            raced.append(_sync(world, "login", _login_from(EMAIL, PASSWORD)))
            raise ConnectionError("table down")
        return real_find(table, field, value)

    monkeypatch.setitem(ops, "find", Twin(find, ops["find"].afn))
    with pytest.raises(ConnectionError):
        world.service.handle("login", _login_from(EMAIL, "wrong password 9"))
    assert raced[0].status == 200
    assert _address_count(world) == 3
    # Without a race, a check that fails to run gives its count back whole.
    monkeypatch.setitem(
        ops,
        "find",
        Twin(lambda *_: (_ for _ in ()).throw(ConnectionError("table down")), ops["find"].afn),
    )
    for _ in range(12):
        with pytest.raises(ConnectionError):
            world.service.handle("login", _login_from(EMAIL, PASSWORD))
    assert _address_count(world) == 3


def _address_count(world: World) -> int:
    store = cast(InspectableThrottleStore, world.gate.throttle_store)  # a bundled store
    return store.peek(f"addr:{ATTACKER}", now=world.clock())[0]
