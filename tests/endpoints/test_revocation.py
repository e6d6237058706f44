"""SPEC §Sessions: revocation reaches access tokens. After logout, reuse detection, a password
change or ``gate.revoke``, every access token of the ended sessions is refused (401) -- at once
on the process that ended them, within one second on every process sharing the store."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import argon2
import pytest
from support.clients import wrap
from support.results import RawClient
from test_handlers import PASSWORD, assert_xano, get, login, post, refresh, signup

from jwe_gate import Gate, Hasher, SQLiteBackend, SQLiteRefreshStore, SQLiteThrottleStore, Table
from jwe_gate._endpoints.liveness import Liveness
from jwe_gate._storage.memory import MemoryRefreshStore

ME = "/auth/me"


def _ok(client: RawClient, token: str) -> bool:
    res = get(client, ME, token)
    if res.status == 401:
        assert_xano(res, 401, "ERROR_CODE_UNAUTHORIZED")
        return False
    assert res.status == 200, res.json
    return True


def test_logout_ends_the_access_token_at_once(auth_client: RawClient) -> None:
    """After POST /auth/logout with an access token, that token is refused (401)."""
    pair = signup(auth_client)
    assert _ok(auth_client, pair["authToken"])
    assert post(auth_client, "/auth/logout", token=pair["authToken"]).status == 204
    assert not _ok(auth_client, pair["authToken"])


def test_logout_by_refresh_token_ends_its_access_tokens(auth_client: RawClient) -> None:
    """Logging out with only the refresh token ends the session's access tokens too."""
    pair = signup(auth_client)
    assert post(auth_client, "/auth/logout", {"refreshToken": pair["refreshToken"]}).status == 204
    assert not _ok(auth_client, pair["authToken"])


def test_logout_leaves_other_sessions_alone(auth_client: RawClient) -> None:
    """Ending one session keeps the record's other sessions working."""
    first = signup(auth_client)
    second = login(auth_client).json
    assert post(auth_client, "/auth/logout", token=first["authToken"]).status == 204
    assert not _ok(auth_client, first["authToken"])
    assert _ok(auth_client, second["authToken"])
    assert refresh(auth_client, second["refreshToken"]).status == 200


@pytest.mark.parametrize(
    "credential",
    [pytest.param("access", id="with-access-token"), pytest.param("refresh", id="refresh-only")],
)
def test_logout_all_ends_every_session(auth_client: RawClient, credential: str) -> None:
    """``{"all": true}`` ends every session of the record: access and refresh tokens alike."""
    pairs = [signup(auth_client), login(auth_client).json, login(auth_client).json]
    if credential == "access":
        res = post(auth_client, "/auth/logout", {"all": True}, token=pairs[0]["authToken"])
    else:
        res = post(
            auth_client, "/auth/logout", {"all": True, "refreshToken": pairs[0]["refreshToken"]}
        )
    assert res.status == 204
    for pair in pairs:
        assert not _ok(auth_client, pair["authToken"])
        assert refresh(auth_client, pair["refreshToken"]).status == 401
    assert login(auth_client).status == 200  # the account itself is fine


@pytest.mark.parametrize(
    "value",
    [pytest.param("yes", id="string"), pytest.param(1, id="number"), pytest.param(None, id="null")],
)
def test_logout_all_must_be_a_boolean(auth_client: RawClient, value: Any) -> None:
    """``all`` other than true/false is a 400 naming the field, and ends nothing."""
    pair = signup(auth_client)
    res = post(auth_client, "/auth/logout", {"all": value}, token=pair["authToken"])
    assert_xano(res, 400, "ERROR_CODE_INPUT_ERROR", param="all")
    assert _ok(auth_client, pair["authToken"])


def test_refresh_reuse_ends_the_sessions_access_tokens(auth_client: RawClient) -> None:
    """Presenting a spent refresh token (outside the grace window) revokes the family, and
    every access token minted for it is refused."""
    gate_grace = signup(auth_client)
    rotated = refresh(auth_client, gate_grace["refreshToken"]).json
    assert _ok(auth_client, rotated["authToken"])
    # The demo-style gate has a 10 s grace: a different child is a reuse even within it, so
    # present the parent after the child was itself spent.
    refresh(auth_client, rotated["refreshToken"])
    assert refresh(auth_client, gate_grace["refreshToken"]).status == 401
    assert not _ok(auth_client, rotated["authToken"])
    assert not _ok(auth_client, gate_grace["authToken"])


def test_password_change_ends_other_sessions_access_tokens(auth_client: RawClient) -> None:
    """After a password change, the other sessions' access tokens are refused."""
    other = signup(auth_client)
    mine = login(auth_client).json
    res = post(
        auth_client,
        "/auth/password",
        {"password": PASSWORD, "newPassword": "a new pass 42"},
        token=mine["authToken"],
    )
    assert res.status == 200
    assert not _ok(auth_client, other["authToken"])
    assert _ok(auth_client, res.json["authToken"])


@pytest.mark.parametrize(
    "colour", [pytest.param("sync", id="revoke"), pytest.param("async", id="arevoke")]
)
def test_gate_revoke_ends_every_session(
    make_auth_gate: Callable[..., Gate], adapter: str, colour: str
) -> None:
    """``gate.revoke(table, id)`` ends every session of the record (access and refresh)."""
    gate = make_auth_gate()
    client = wrap(gate, adapter)
    pairs = [signup(client), login(client).json]
    subject = gate.verify(pairs[0]["authToken"]).sub
    if colour == "sync":
        gate.revoke("user", subject)
    else:
        asyncio.run(gate.arevoke("user", subject))
    for pair in pairs:
        assert not _ok(client, pair["authToken"])
        assert refresh(client, pair["refreshToken"]).status == 401


def test_an_issued_token_has_no_session_to_end(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """A token from gate.issue() carries no session: logout and revoke leave it working
    (it is revoked only through its record)."""
    gate = make_auth_gate()
    client = wrap(gate, adapter)
    pair = signup(client)
    subject = gate.verify(pair["authToken"]).sub
    issued = gate.issue("user", subject)
    gate.revoke("user", subject)
    assert post(client, "/auth/logout", token=issued).status == 204
    assert _ok(client, issued)


def test_sessions_can_be_left_unchecked(make_auth_gate: Callable[..., Gate], adapter: str) -> None:
    """With check_sessions=False access tokens are stateless: one outlives its logout (the
    trade-off the README states); the refresh token still dies."""
    gate = make_auth_gate(check_sessions=False)
    client = wrap(gate, adapter)
    pair = signup(client)
    assert post(client, "/auth/logout", token=pair["authToken"]).status == 204
    assert _ok(client, pair["authToken"])
    assert refresh(client, pair["refreshToken"]).status == 401


def test_another_process_sees_a_logout_within_a_second(
    make_auth_gate: Callable[..., Gate], tmp_path: Path, adapter: str
) -> None:
    """Two gates sharing one SQLite store (two processes' worth): a logout on one is refused
    on the other within one second, though the other had just seen the token live."""
    db = tmp_path / "shared.db"

    def gate() -> Gate:
        return make_auth_gate(
            tables=[Table("user", SQLiteBackend(db)), Table("admin", SQLiteBackend(db))],
            refresh_store=SQLiteRefreshStore(db),
            throttle_store=SQLiteThrottleStore(db),
        )

    one, two = wrap(gate(), adapter), wrap(gate(), adapter)
    pair = signup(one)
    assert _ok(two, pair["authToken"])  # now remembered live by the second gate
    assert post(one, "/auth/logout", token=pair["authToken"]).status == 204
    ended = time.monotonic()
    while True:
        # When the request started counts: one started a second after the logout is refused.
        started = time.monotonic()
        if not _ok(two, pair["authToken"]):
            break
        assert started - ended < 1.0, "still accepted after a second"
        time.sleep(0.05)


class _FailingSession(MemoryRefreshStore):
    def session(self, family: str) -> Any:
        raise ConnectionError("store down")


def test_a_failing_session_check_is_a_503(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """If the store cannot answer the session check, the request gets the SPEC's 503."""
    gate = make_auth_gate(refresh_store=_FailingSession())
    client = wrap(gate, adapter)
    pair = signup(client)
    res = get(client, ME, pair["authToken"])
    assert_xano(res, 503, "ERROR_FATAL")
    assert res.header("retry-after")


def test_liveness_forgets_and_stays_bounded() -> None:
    """The liveness memory answers live for at most its ttl, only for live sessions, and never
    holds more than its size."""
    now = [0.0]
    store = MemoryRefreshStore()
    from jwe_gate import Session

    store.add("h", Session("fam", "user", "1", 0.0), expires_at=100.0, now=0.0)
    live = Liveness(store, ttl=1.0, size=3, clock=lambda: now[0])
    assert live.check("fam")
    assert not live.check("unknown")
    store.revoke_family("fam")
    assert live.check("fam")  # remembered: another process's revoke is seen within ttl
    now[0] = 1.0
    assert not live.check("fam")
    for i in range(10):
        store.add(f"h{i}", Session(f"f{i}", "user", "1", 0.0), expires_at=100.0, now=0.0)
        assert live.check(f"f{i}")
    assert len(live._known) <= 3


def test_an_older_token_presented_again_ends_the_session(auth_client: RawClient) -> None:
    """A refresh token two or more rotations old (not only the parent) is a reuse: the whole
    session ends, its newest refresh token and its access tokens too."""
    first = signup(auth_client)
    chain = [first]
    for _ in range(3):
        res = refresh(auth_client, chain[-1]["refreshToken"])
        assert res.status == 200
        chain.append(res.json)
    assert refresh(auth_client, chain[0]["refreshToken"]).status == 401  # three rotations old
    assert refresh(auth_client, chain[-1]["refreshToken"]).status == 401
    assert not _ok(auth_client, chain[-1]["authToken"])


def test_a_guess_naming_a_family_ends_nothing(auth_client: RawClient) -> None:
    """A token with a real session's family id but a made-up secret is refused (401) and
    ends nothing: knowing a session's id is no way to log its owner out."""
    pair = signup(auth_client)
    real = pair["refreshToken"]
    raw = base64.urlsafe_b64decode(real + "=")
    forged = base64.urlsafe_b64encode(raw[:16] + bytes(16)).rstrip(b"=").decode()
    assert forged != real
    assert refresh(auth_client, forged).status == 401
    assert post(auth_client, "/auth/logout", {"refreshToken": forged}).status == 401
    assert _ok(auth_client, pair["authToken"])
    assert refresh(auth_client, real).status == 200


@pytest.mark.parametrize(
    "kind", [pytest.param("memory", id="memory"), pytest.param("sqlite", id="sqlite")]
)
def test_a_session_is_one_record_however_often_refreshed(
    make_auth_gate: Callable[..., Gate], tmp_path: Path, kind: str
) -> None:
    """A session refreshed 300 times is still one record in the store (O(1) per session)."""
    store = MemoryRefreshStore() if kind == "memory" else SQLiteRefreshStore(tmp_path / "s.db")
    gate = make_auth_gate(refresh_store=store)
    client = wrap(gate, "wsgi")
    token = signup(client)["refreshToken"]
    for _ in range(300):
        res = refresh(client, token)
        assert res.status == 200
        token = res.json["refreshToken"]
    if isinstance(store, MemoryRefreshStore):
        assert len(store) == 1
    else:
        with store._use() as conn:
            assert conn.execute("SELECT COUNT(*) FROM jwe_gate_session").fetchone()[0] == 1
        store.close()


class _HeldForThief(Hasher):
    """Verifies normally; a verify on the thread named "thief" finishes only once ``release``
    is set, so its answer was computed from the record read before a password change."""

    def __init__(self) -> None:
        super().__init__(argon2.profiles.CHEAPEST)
        self.verified = threading.Event()
        self.release = threading.Event()

    def verify(
        self, stored: str | None, password: str, *, client: str | None = None
    ) -> tuple[bool, bool]:
        result = super().verify(stored, password, client=client)
        if threading.current_thread().name == "thief":
            self.verified.set()
            assert self.release.wait(10)
        return result


def test_a_login_racing_a_password_change_gets_no_lasting_session(
    make_auth_gate: Callable[..., Gate],
) -> None:
    """A login with the old password whose check overlaps the owner's password change gets a
    pair, but neither its access token nor its refresh token outlives the change."""
    hasher = _HeldForThief()
    gate = make_auth_gate(hasher=hasher)
    client = wrap(gate, "wsgi")
    owner = signup(client)
    thief: dict[str, Any] = {}
    thread = threading.Thread(
        name="thief",
        target=lambda: thief.update(res=login(client, addr="203.0.113.9")),
    )
    thread.start()
    assert hasher.verified.wait(10)
    changed = post(
        client,
        "/auth/password",
        {"password": PASSWORD, "newPassword": "a new pass 42"},
        token=owner["authToken"],
    )
    assert changed.status == 200
    hasher.release.set()
    thread.join(10)
    stolen = thief["res"]
    assert stolen.status == 200  # its check ran on the old record
    assert not _ok(client, stolen.json["authToken"])
    assert refresh(client, stolen.json["refreshToken"]).status == 401
    assert _ok(client, changed.json["authToken"])


def test_logout_with_an_expired_access_token_and_the_refresh_token_ends_the_session(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """A client that sends its expired access token along with the refresh token (as Xano front
    ends do) is logged out: 204, and the refresh token no longer works. The expired token alone
    is still a 401 "Token expired."."""
    now = [time.time()]
    gate = make_auth_gate(clock=lambda: now[0])
    client = wrap(gate, adapter)
    pair = signup(client)
    now[0] += 16 * 60 + 31  # past the access token's 15 minutes and the 30 s leeway
    alone = post(client, "/auth/logout", raw=b"", token=pair["authToken"])
    assert_xano(alone, 401, "ERROR_CODE_UNAUTHORIZED", message="Token expired.")
    res = post(
        client, "/auth/logout", {"refreshToken": pair["refreshToken"]}, token=pair["authToken"]
    )
    assert res.status == 204
    assert refresh(client, pair["refreshToken"]).status == 401


def test_logout_with_an_ended_sessions_token_and_another_refresh_token(
    auth_client: RawClient,
) -> None:
    """An access token whose session already ended does not stop its holder from ending
    another session with that session's refresh token."""
    first = signup(auth_client)
    second = login(auth_client).json
    assert post(auth_client, "/auth/logout", raw=b"", token=first["authToken"]).status == 204
    res = post(
        auth_client,
        "/auth/logout",
        {"refreshToken": second["refreshToken"]},
        token=first["authToken"],
    )
    assert res.status == 204
    assert refresh(auth_client, second["refreshToken"]).status == 401


class _ThreadNotingStore(SQLiteRefreshStore):
    """Notes the thread of every session read."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.threads: list[int] = []

    def session(self, family: str) -> Any:
        self.threads.append(threading.get_ident())
        return super().session(family)


def test_the_sqlite_session_check_runs_on_the_event_loop(
    make_auth_gate: Callable[..., Gate], tmp_path: Path
) -> None:
    """SQLite's per-request session read (inline_session) runs on the loop's own thread, with no
    hop to a worker thread; its writes still go to one."""
    store = _ThreadNotingStore(tmp_path / "s.db")
    gate = make_auth_gate(refresh_store=store, recheck_after=0)
    client = wrap(gate, "asgi")
    token = signup(client)["authToken"]
    for _ in range(3):
        assert get(client, "/api/hello", token).status == 200
    assert store.threads == [threading.get_ident()] * 3
