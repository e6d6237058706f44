"""§Handlers (refresh tokens, throttle) and §Scaling out: the RefreshStore and ThrottleStore
contract of ``jwe_gate._storage.protocols``, run over every bundled store, plus what the SQLite
stores keep on disk and how two instances on one file share it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2.profiles import CHEAPEST
from support.stores import InspectableRefreshStore, InspectableThrottleStore

from jwe_gate import Gate, KeyRing, SQLiteBackend, Table
from jwe_gate._passwords import Hasher
from jwe_gate._sansio.request import HandlerRequest, RequestView
from jwe_gate._storage.memory import (
    MemoryOneTimeStore,
    MemoryRefreshStore,
    MemoryThrottleStore,
)
from jwe_gate._storage.protocols import Outcome, RefreshStore, Session, ThrottleStore
from jwe_gate._storage.sqlite import (
    SQLiteOneTimeStore,
    SQLiteRefreshStore,
    SQLiteThrottleStore,
)
from jwe_gate.testing import (
    OneTimeStoreContract,
    RefreshStoreContract,
    ThrottleStoreContract,
)

NOW = 1_700_000_000.0
TTL = 3600.0
GRACE = 10.0
ANN = Session("fam-ann", "user", "1", NOW - 5.25)  # created_at: not any `now` passed


def h(name: str) -> str:
    """The SHA-256 hex digest the handlers store for a token called ``name``."""
    return hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("sqlite", id="sqlite")])
def refresh_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[InspectableRefreshStore]:
    """A fresh refresh store of each bundled kind."""
    if request.param == "memory":
        yield MemoryRefreshStore()
        return
    store = SQLiteRefreshStore(tmp_path / "refresh.db")
    yield store
    store.close()


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("sqlite", id="sqlite")])
def throttle_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[InspectableThrottleStore]:
    """A fresh throttle store of each bundled kind."""
    if request.param == "memory":
        yield MemoryThrottleStore()
        return
    store = SQLiteThrottleStore(tmp_path / "throttle.db")
    yield store
    store.close()


FAMILY_OF: dict[str, str] = {}
"""Each token name's family, as the endpoints read it from the token itself."""


@pytest.fixture(autouse=True)
def _fresh_families() -> Iterator[None]:
    FAMILY_OF.clear()
    yield
    FAMILY_OF.clear()


def _add(
    store: InspectableRefreshStore,
    token: str,
    session: Session = ANN,
    *,
    expires_at: float = NOW + TTL,
) -> None:
    FAMILY_OF[token] = session.family
    store.add(h(token), session, expires_at=expires_at, now=NOW)


def _rotate(
    store: InspectableRefreshStore,
    token: str,
    child: str,
    *,
    at: float = 0.0,
    grace: float = GRACE,
    ttl: float = TTL,
) -> Outcome:
    now = NOW + at
    family = FAMILY_OF.get(token, "fam-unknown")
    FAMILY_OF.setdefault(child, family)
    rotation = store.rotate(family, h(token), h(child), now=now, expires_at=now + ttl, grace=grace)
    if rotation.outcome is Outcome.INVALID:
        assert rotation.session is None
    else:
        assert rotation.session == ANN  # every other outcome names the family's session
    return rotation.outcome


class TestRefreshStoreContract(RefreshStoreContract):
    """The public contract suite (``jwe_gate.testing``) over every bundled refresh store."""


class TestThrottleStoreContract(ThrottleStoreContract):
    """The public contract suite (``jwe_gate.testing``) over every bundled throttle store."""


# -- RefreshStore ------------------------------------------------------------------------------


def test_stores_implement_their_protocols(
    refresh_store: InspectableRefreshStore, throttle_store: InspectableThrottleStore
) -> None:
    """Every bundled store satisfies the runtime-checkable protocol it claims."""
    assert isinstance(refresh_store, RefreshStore)
    assert isinstance(throttle_store, ThrottleStore)


def test_rotate_spends_the_parent_and_stores_an_unspent_child(
    refresh_store: InspectableRefreshStore,
) -> None:
    """add + rotate is ROTATED: the parent is spent (no second ROTATED), the child rotates."""
    _add(refresh_store, "a")
    assert refresh_store.unspent(ANN.family, now=NOW) == 1
    assert _rotate(refresh_store, "a", "b") is Outcome.ROTATED
    assert refresh_store.unspent(ANN.family, now=NOW) == 1  # the child alone
    assert _rotate(refresh_store, "a", "b", at=1) is Outcome.GRACE  # spent, not rotated again
    assert _rotate(refresh_store, "b", "c", at=2) is Outcome.ROTATED
    assert _rotate(refresh_store, "c", "d", at=3) is Outcome.ROTATED
    assert refresh_store.unspent(ANN.family, now=NOW + 3) == 1


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("never-added", id="unknown"),
        pytest.param("", id="empty"),
    ],
)
def test_rotate_unknown_is_invalid(refresh_store: InspectableRefreshStore, token: str) -> None:
    """A token the store never saw is INVALID and creates nothing."""
    _add(refresh_store, "a")
    assert _rotate(refresh_store, token, "x") is Outcome.INVALID
    assert _rotate(refresh_store, "x", "y") is Outcome.INVALID  # its would-be child was not stored
    assert refresh_store.unspent(ANN.family, now=NOW) == 1


@pytest.mark.parametrize(
    ("at", "outcome"),
    [
        pytest.param(9.5, Outcome.ROTATED, id="just-before-expiry"),
        pytest.param(10.0, Outcome.INVALID, id="at-expiry"),
        pytest.param(11.0, Outcome.INVALID, id="after-expiry"),
    ],
)
def test_expired_token_is_invalid(
    refresh_store: InspectableRefreshStore, at: float, outcome: Outcome
) -> None:
    """A token presented at or after its expires_at is INVALID and not counted as unspent."""
    _add(refresh_store, "a", expires_at=NOW + 10)
    assert _rotate(refresh_store, "a", "b", at=at) is outcome
    expected = 1 if outcome is Outcome.ROTATED else 0
    assert refresh_store.unspent(ANN.family, now=NOW + at) == expected


def test_child_gets_the_expiry_rotate_gives_it(refresh_store: InspectableRefreshStore) -> None:
    """The child expires at rotate's expires_at: unspent until then, INVALID after."""
    _add(refresh_store, "a")
    assert _rotate(refresh_store, "a", "b", ttl=5) is Outcome.ROTATED
    assert refresh_store.unspent(ANN.family, now=NOW + 4) == 1
    assert refresh_store.unspent(ANN.family, now=NOW + 5) == 0
    assert _rotate(refresh_store, "b", "c", at=5) is Outcome.INVALID


# Each step: (token, child, seconds after NOW, grace, expected outcome). The family starts as
# token "a"; "newest" is the token that must be the family's one live token if it survives.
ROTATION_STORIES = [
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("a", "b", 5, GRACE, Outcome.GRACE),
            ("a", "b", 9, GRACE, Outcome.GRACE),
        ],
        "b",
        1,
        id="parent-again-within-grace",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("a", "b", 10.5, GRACE, Outcome.REUSED),
            ("b", "c", 11, GRACE, Outcome.INVALID),
        ],
        "b",
        0,
        id="parent-after-grace",
    ),
    pytest.param(
        [
            ("a", "b", 0, 0, Outcome.ROTATED),
            ("a", "b", 0, 0, Outcome.REUSED),
            ("b", "c", 0, 0, Outcome.INVALID),
        ],
        "b",
        0,
        id="grace-0-reuse-at-once",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("a", "x", 1, GRACE, Outcome.REUSED),
            ("b", "c", 2, GRACE, Outcome.INVALID),
        ],
        "b",
        0,
        id="grace-other-child",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("b", "c", 1, GRACE, Outcome.ROTATED),
            # Older than the parent: the store keeps O(1) per family and cannot tell a reuse
            # from a guess; the endpoint derives forward from it (test_revocation proves the
            # family then ends). Nothing changes here.
            ("a", "b", 2, GRACE, Outcome.STALE),
            ("c", "d", 3, GRACE, Outcome.ROTATED),
        ],
        "d",
        1,
        id="grace-refused-child-spent",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("b", "c", 1, GRACE, Outcome.ROTATED),
            ("b", "c", 2, GRACE, Outcome.GRACE),
            ("c", "d", 3, GRACE, Outcome.ROTATED),
            ("b", "c", 4, GRACE, Outcome.STALE),  # a grandparent: for the endpoint to judge
            ("c", "d", 5, GRACE, Outcome.GRACE),
            ("d", "e", 6, GRACE, Outcome.ROTATED),
        ],
        "e",
        1,
        id="grace-then-grandchild-spent",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("a", "b", 20, GRACE, Outcome.REUSED),
            ("a", "b", 21, GRACE, Outcome.INVALID),
        ],
        "b",
        0,
        id="revoked-parent-invalid",
    ),
    pytest.param(
        [
            ("a", "b", 0, GRACE, Outcome.ROTATED),
            ("b", "c", 1, GRACE, Outcome.ROTATED),
            ("c", "d", 2, GRACE, Outcome.ROTATED),
        ],
        "d",
        1,
        id="chain",
    ),
]


@pytest.mark.parametrize(("steps", "newest", "unspent"), ROTATION_STORIES)
def test_rotation_story(
    refresh_store: InspectableRefreshStore,
    steps: list[tuple[str, str, float, float, Outcome]],
    newest: str,
    unspent: int,
) -> None:
    """Only the parent with its own unspent child, inside grace, is GRACE; else REUSED revokes."""
    _add(refresh_store, "a")
    last = 0.0
    for token, child, at, grace, expected in steps:
        assert _rotate(refresh_store, token, child, at=at, grace=grace) is expected, (token, at)
        last = at
    assert refresh_store.unspent(ANN.family, now=NOW + last) == unspent
    # The newest token works exactly when the family survived.
    outcome = _rotate(refresh_store, newest, "z", at=last)
    assert outcome is (Outcome.ROTATED if unspent else Outcome.INVALID)


def test_reuse_leaves_other_families_alone(refresh_store: InspectableRefreshStore) -> None:
    """A reuse revokes the presented token's family only."""
    other = Session("fam-other", "user", "1", NOW)
    _add(refresh_store, "a")
    _add(refresh_store, "o", other)
    assert _rotate(refresh_store, "a", "b") is Outcome.ROTATED
    assert _rotate(refresh_store, "a", "b", grace=0) is Outcome.REUSED
    assert refresh_store.unspent(ANN.family, now=NOW) == 0
    assert refresh_store.unspent(other.family, now=NOW) == 1


def test_grace_needs_the_parents_own_child(refresh_store: InspectableRefreshStore) -> None:
    """A live child hash that is not the parent's own child is a reuse, not GRACE."""
    other = Session("fam-other", "user", "1", NOW)
    _add(refresh_store, "a")
    _add(refresh_store, "o", other)
    assert _rotate(refresh_store, "a", "b") is Outcome.ROTATED
    assert _rotate(refresh_store, "a", "o", at=1) is Outcome.REUSED
    assert refresh_store.unspent(ANN.family, now=NOW + 1) == 0


@pytest.mark.parametrize(
    ("same_child", "expected"),
    [
        pytest.param(True, {Outcome.ROTATED: 1, Outcome.GRACE: 31}, id="same-child-grace"),
        pytest.param(
            False,
            {Outcome.ROTATED: 1, Outcome.REUSED: 1, Outcome.INVALID: 30},
            id="distinct-children-reuse",
        ),
    ],
)
def test_racing_rotations_rotate_once(
    refresh_store: InspectableRefreshStore, same_child: bool, expected: dict[Outcome, int]
) -> None:
    """32 racing rotations of one token: one ROTATED, the rest GRACE or one REUSED + INVALID."""
    n = 32
    _add(refresh_store, "a")
    barrier = threading.Barrier(n)

    def one(i: int) -> Outcome:
        barrier.wait(timeout=10)
        return _rotate(refresh_store, "a", "b" if same_child else f"b{i}")

    with ThreadPoolExecutor(max_workers=n) as pool:
        outcomes = list(pool.map(one, range(n)))
    assert {o: outcomes.count(o) for o in set(outcomes)} == expected
    assert refresh_store.unspent(ANN.family, now=NOW) == (1 if same_child else 0)


@pytest.mark.parametrize(
    "present",
    [
        pytest.param("b", id="newest"),
        pytest.param("a", id="spent-parent"),
    ],
)
def test_revoke_returns_session_and_revokes_family(
    refresh_store: InspectableRefreshStore, present: str
) -> None:
    """revoke(token) returns the family's session and revokes it; other families live on."""
    other = Session("fam-bob", "user", "2", NOW)
    _add(refresh_store, "a")
    _add(refresh_store, "o", other)
    assert _rotate(refresh_store, "a", "b") is Outcome.ROTATED
    assert refresh_store.revoke(ANN.family, h(present)) == ANN
    assert refresh_store.unspent(ANN.family, now=NOW) == 0
    assert _rotate(refresh_store, "b", "c", at=1) is Outcome.INVALID
    assert _rotate(refresh_store, "a", "b", at=1) is Outcome.INVALID  # not even GRACE
    assert refresh_store.unspent(other.family, now=NOW) == 1
    assert refresh_store.revoke(ANN.family, h(present)) == ANN  # idempotent


def test_revoke_unknown_is_none(refresh_store: InspectableRefreshStore) -> None:
    """revoke of a token the store never saw returns None and touches nothing."""
    _add(refresh_store, "a")
    assert refresh_store.revoke(ANN.family, h("nope")) is None
    assert refresh_store.unspent(ANN.family, now=NOW) == 1


def test_revoke_family(refresh_store: InspectableRefreshStore) -> None:
    """revoke_family ends that family only; an unknown family is a no-op."""
    other = Session("fam-other", "user", "1", NOW)
    _add(refresh_store, "a")
    _add(refresh_store, "o", other)
    refresh_store.revoke_family("fam-unknown")
    refresh_store.revoke_family(ANN.family)
    assert refresh_store.unspent(ANN.family, now=NOW) == 0
    assert _rotate(refresh_store, "a", "b") is Outcome.INVALID
    assert refresh_store.unspent(other.family, now=NOW) == 1


SUBJECT_FAMILIES = {
    "u1-a": Session("u1-a", "user", "1", NOW),
    "u1-b": Session("u1-b", "user", "1", NOW),
    "u1-c": Session("u1-c", "user", "1", NOW),
    "u2": Session("u2", "user", "2", NOW),
    "admin1": Session("admin1", "admin", "1", NOW),
    "u10": Session("u10", "user", "10", NOW),
}


@pytest.mark.parametrize(
    ("keep", "survivors"),
    [
        pytest.param(None, {"u2", "admin1", "u10"}, id="keep-none"),
        pytest.param("u1-b", {"u1-b", "u2", "admin1", "u10"}, id="keep-one"),
        pytest.param("u2", {"u2", "admin1", "u10"}, id="keep-other-subjects-family"),
    ],
)
def test_revoke_subject(
    refresh_store: InspectableRefreshStore, keep: str | None, survivors: set[str]
) -> None:
    """revoke_subject ends every family of (table, subject) except keep, and no others."""
    for name, session in SUBJECT_FAMILIES.items():
        _add(refresh_store, "tok-" + name, session)
    refresh_store.revoke_subject("user", "1", keep=keep)
    alive = {name for name in SUBJECT_FAMILIES if refresh_store.unspent(name, now=NOW) == 1}
    assert alive == survivors


# -- ThrottleStore -----------------------------------------------------------------------------


def test_throttle_counts_within_a_fixed_window(throttle_store: InspectableThrottleStore) -> None:
    """hit counts failures in a window fixed at the first failure."""
    assert throttle_store.hit("k", window=10, now=NOW) == (1, NOW + 10)
    assert throttle_store.hit("k", window=10, now=NOW + 4) == (2, NOW + 10)
    assert throttle_store.hit("k", window=99, now=NOW + 9.5) == (3, NOW + 10)  # not extended
    assert throttle_store.peek("k", now=NOW + 9.5) == (3, NOW + 10)


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(10.0, id="at-reset"),
        pytest.param(25.0, id="long-after"),
    ],
)
def test_throttle_restarts_after_window(
    throttle_store: InspectableThrottleStore, at: float
) -> None:
    """Once reset_at passes, peek shows nothing and the next hit starts a new window at 1."""
    for _ in range(3):
        throttle_store.hit("k", window=10, now=NOW)
    assert throttle_store.peek("k", now=NOW + at) == (0, NOW + at)
    assert throttle_store.hit("k", window=10, now=NOW + at) == (1, NOW + at + 10)
    assert throttle_store.hit("k", window=10, now=NOW + at + 1) == (2, NOW + at + 10)


def test_throttle_forgives_down_to_zero(throttle_store: InspectableThrottleStore) -> None:
    """A negative amount takes failures off, never below zero, in the same window."""
    for _ in range(5):
        throttle_store.hit("k", window=60, now=NOW)
    assert throttle_store.hit("k", window=60, now=NOW + 1, amount=-3) == (2, NOW + 60)
    assert throttle_store.hit("k", window=60, now=NOW + 2, amount=-9) == (0, NOW + 60)
    assert throttle_store.hit("new", window=60, now=NOW, amount=-2) == (0, NOW + 60)


def test_throttle_peek_does_not_count(throttle_store: InspectableThrottleStore) -> None:
    """peek reports without counting; an unknown key is (0, now)."""
    assert throttle_store.peek("k", now=NOW) == (0, NOW)
    assert throttle_store.peek("k", now=NOW) == (0, NOW)
    assert throttle_store.hit("k", window=10, now=NOW) == (1, NOW + 10)
    for _ in range(3):
        assert throttle_store.peek("k", now=NOW + 1) == (1, NOW + 10)
    assert throttle_store.hit("k", window=10, now=NOW + 2) == (2, NOW + 10)


def test_throttle_take_returns_the_count_and_forgets_the_key(
    throttle_store: InspectableThrottleStore,
) -> None:
    """take returns the count and forgets its key only; the next hit starts a new window."""
    for _ in range(3):
        throttle_store.hit("k", window=10, now=NOW)
        throttle_store.hit("other", window=10, now=NOW)
    assert throttle_store.take("k", now=NOW + 1) == 3
    assert throttle_store.take("k", now=NOW + 1) == 0  # taken once
    assert throttle_store.take("never-seen", now=NOW + 1) == 0
    assert throttle_store.peek("k", now=NOW + 1) == (0, NOW + 1)
    assert throttle_store.hit("k", window=10, now=NOW + 2) == (1, NOW + 12)
    assert throttle_store.peek("other", now=NOW + 1) == (3, NOW + 10)


@pytest.mark.parametrize(
    "at",
    [
        pytest.param(10.0, id="at-reset"),
        pytest.param(25.0, id="long-after"),
    ],
)
def test_throttle_take_of_an_ended_window_is_zero(
    throttle_store: InspectableThrottleStore, at: float
) -> None:
    """A window that has ended holds nothing to take: 0, and the key is gone."""
    for _ in range(4):
        throttle_store.hit("k", window=10, now=NOW)
    assert throttle_store.take("k", now=NOW + at) == 0
    assert throttle_store.hit("k", window=10, now=NOW + at) == (1, NOW + at + 10)


def test_throttle_take_at_most_leaves_the_rest(throttle_store: InspectableThrottleStore) -> None:
    """take(at_most=n) takes no more than n and leaves the rest in the same window."""
    for _ in range(3):
        throttle_store.hit("k", window=10, now=NOW)
    assert throttle_store.take("k", now=NOW + 1, at_most=0) == 0
    assert throttle_store.take("k", now=NOW + 1, at_most=1) == 1
    assert throttle_store.peek("k", now=NOW + 1) == (2, NOW + 10)
    assert throttle_store.take("k", now=NOW + 1, at_most=5) == 2
    assert throttle_store.take("k", now=NOW + 1, at_most=1) == 0
    assert throttle_store.take("never-seen", now=NOW + 1, at_most=1) == 0
    throttle_store.hit("k", window=10, now=NOW + 2)
    assert throttle_store.take("k", now=NOW + 12, at_most=1) == 0  # its window has ended
    assert throttle_store.hit("k", window=10, now=NOW + 12) == (1, NOW + 22)


@pytest.mark.parametrize(
    "at_most",
    [
        pytest.param(None, id="all"),
        pytest.param(1, id="at-most-1"),
    ],
)
def test_racing_takes_share_the_count(
    throttle_store: InspectableThrottleStore, at_most: int | None
) -> None:
    """32 racing takes of a count of 7: together they take exactly 7 (all, to one of them)."""
    n = 32
    for _ in range(7):
        throttle_store.hit("k", window=60, now=NOW)
    barrier = threading.Barrier(n)

    def one(_: int) -> int:
        barrier.wait(timeout=10)
        return throttle_store.take("k", now=NOW + 1, at_most=at_most)

    with ThreadPoolExecutor(max_workers=n) as pool:
        taken = sorted(pool.map(one, range(n)))
    expected = [0] * (n - 1) + [7] if at_most is None else [0] * (n - 7) + [1] * 7
    assert taken == expected
    assert throttle_store.peek("k", now=NOW + 1)[0] == 0


def test_racing_hits_and_takes_lose_nothing(throttle_store: InspectableThrottleStore) -> None:
    """Hits racing takes: every hit is either taken exactly once or still counted."""
    n = 24
    barrier = threading.Barrier(2 * n)

    def hit(_: int) -> int:
        barrier.wait(timeout=10)
        throttle_store.hit("k", window=60, now=NOW)
        return 0

    def take(_: int) -> int:
        barrier.wait(timeout=10)
        return throttle_store.take("k", now=NOW)

    with ThreadPoolExecutor(max_workers=2 * n) as pool:
        hits = [pool.submit(hit, i) for i in range(n)]
        takes = [pool.submit(take, i) for i in range(n)]
        taken = sum(f.result(timeout=30) for f in takes)
        assert sum(f.result(timeout=30) for f in hits) == 0
    assert taken + throttle_store.peek("k", now=NOW)[0] == n


# -- SQLite on disk ----------------------------------------------------------------------------


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in the SQLite file at ``path``."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        # Names come from sqlite_master itself, quoted.
        return {n: conn.execute(f'SELECT * FROM "{n}"').fetchall() for n in names}  # noqa: S608
    finally:
        conn.close()


def test_sqlite_stores_hold_only_hashes(tmp_path: Path) -> None:
    """No raw refresh token or password appears anywhere in the SQLite file; hashes do."""
    db = tmp_path / "app.db"
    backend = SQLiteBackend(db)
    refresh, throttle = SQLiteRefreshStore(db), SQLiteThrottleStore(db)
    hasher = Hasher(CHEAPEST)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", backend)],
        hasher=hasher,
        refresh_store=refresh,
        throttle_store=throttle,
    )
    service = gate.auth_service("user")

    def call(endpoint: str, body: dict[str, Any]) -> Any:
        view = RequestView("POST", f"/auth/{endpoint}", client="203.0.113.9")
        resp = service.handle(endpoint, HandlerRequest(view, json.dumps(body).encode()))
        return resp.status, json.loads(resp.body) if resp.body else None

    try:
        status, first = call(
            "signup", {"name": "Ann", "email": "ann@example.com", "password": "correct horse 1"}
        )
        assert status == 200
        tokens = [first["refreshToken"]]
        for _ in range(3):
            status, body = call("refresh", {"refreshToken": tokens[-1]})
            assert status == 200
            tokens.append(body["refreshToken"])
        status, _ = call("login", {"email": "ann@example.com", "password": "wrong password 1"})
        assert status == 403
        status, body = call("login", {"email": "ann@example.com", "password": "correct horse 1"})
        assert status == 200
        tokens.append(body["refreshToken"])
        assert call("logout", {"refreshToken": tokens[-1]})[0] == 204

        tables = _dump(db)
        assert {"jwe_gate_session", "jwe_gate_throttle"} <= set(tables)
        cells = [str(c) for rows in tables.values() for row in rows for c in row]
        for secret in (*tokens, "correct horse 1", "wrong password 1"):
            assert not any(secret in c for c in cells), secret
        # One record per session: its current token and the parent, as SHA-256 of table and
        # token (the signup's session, refreshed 3 times, and the login's).
        stored = {c for row in tables["jwe_gate_session"] for c in (row[5], row[6]) if c}
        assert stored == {h(f"user:{t}") for t in (tokens[2], tokens[3], tokens[4])}
        assert len(tables["jwe_gate_session"]) == 2
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("app.db"))
        for secret in tokens:
            assert secret.encode() not in raw  # not in the file, its WAL, or a freed page
    finally:
        hasher.close()
        backend.close()
        refresh.close()
        throttle.close()


def test_two_sqlite_refresh_stores_on_one_file_are_one(tmp_path: Path) -> None:
    """What one SQLiteRefreshStore instance does, another on the same file sees at once."""
    a, b = SQLiteRefreshStore(tmp_path / "s.db"), SQLiteRefreshStore(tmp_path / "s.db")
    try:
        other = Session("fam-other", "user", "1", NOW)
        _add(a, "t0")
        _add(b, "o", other)
        assert b.unspent(ANN.family, now=NOW) == 1
        assert _rotate(b, "t0", "t1") is Outcome.ROTATED
        assert _rotate(a, "t0", "t1", at=1) is Outcome.GRACE  # a sees b's rotation
        assert _rotate(a, "t1", "t2", at=2) is Outcome.ROTATED
        assert _rotate(b, "t1", "tx", at=3) is Outcome.REUSED  # t1 was spent on a: tx is no child
        assert a.unspent(ANN.family, now=NOW + 3) == 0
        assert _rotate(a, "t2", "t3", at=4) is Outcome.INVALID
        a.revoke_subject("user", "1", keep=None)
        assert b.unspent(other.family, now=NOW) == 0
        assert b.revoke(other.family, h("o")) == other
    finally:
        a.close()
        b.close()


def test_two_sqlite_throttle_stores_on_one_file_are_one(tmp_path: Path) -> None:
    """A failure counted through one SQLiteThrottleStore counts on another on the same file."""
    a, b = SQLiteThrottleStore(tmp_path / "t.db"), SQLiteThrottleStore(tmp_path / "t.db")
    try:
        assert a.hit("k", window=10, now=NOW) == (1, NOW + 10)
        assert b.hit("k", window=10, now=NOW + 1) == (2, NOW + 10)
        assert a.peek("k", now=NOW + 2) == (2, NOW + 10)
        assert b.take("k", now=NOW + 2) == 2
        assert a.peek("k", now=NOW + 2) == (0, NOW + 2)
        assert a.take("k", now=NOW + 2) == 0
    finally:
        a.close()
        b.close()


def _rows(store: InspectableRefreshStore) -> int:
    """How many sessions the store holds: one record each, however often refreshed."""
    if isinstance(store, MemoryRefreshStore):
        return len(store)
    assert isinstance(store, SQLiteRefreshStore)
    with store._use() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jwe_gate_session").fetchone()[0])


def test_stores_forget_expired_tokens(refresh_store: InspectableRefreshStore) -> None:
    """Every purge_every adds, expired sessions go; live ones stay, one record each."""
    refresh_store.purge_every = 5  # type: ignore[attr-defined]
    if isinstance(refresh_store, MemoryRefreshStore):
        refresh_store._purge_every = 5
    for i in range(4):  # expire at NOW + 1
        _add(refresh_store, f"old{i}", Session(f"old{i}", "user", "1", NOW), expires_at=NOW + 1)
    _add(refresh_store, "live")
    assert _rotate(refresh_store, "live", "live-child") is Outcome.ROTATED
    assert _rows(refresh_store) == 4 + 1  # the fifth add came before the old ones expired
    for i in range(5):  # the tenth add purges at NOW + 100
        refresh_store.add(
            h(f"new{i}"), Session(f"new{i}", "user", "3", NOW), expires_at=NOW + TTL, now=NOW + 100
        )
    assert _rows(refresh_store) == 1 + 5
    # The spent parent is still known, so presenting it late is still a reuse.
    assert _rotate(refresh_store, "live", "live-child", at=GRACE + 200) is Outcome.REUSED


@pytest.fixture(params=[pytest.param("memory", id="memory"), pytest.param("sqlite", id="sqlite")])
def once_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh one-time token store of each bundled kind."""
    if request.param == "memory":
        yield MemoryOneTimeStore()
        return
    store = SQLiteOneTimeStore(tmp_path / "once.db")
    yield store
    store.close()


class TestOneTimeStoreContract(OneTimeStoreContract):
    """The public contract suite (``jwe_gate.testing``) over every bundled one-time store."""
