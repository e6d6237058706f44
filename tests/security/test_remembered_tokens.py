"""The gate's memory of requests it let through (``recheck_after``, one second by default) skips
the stores, yet every check still holds for a remembered token: expiry, revocation (at once on
this process, within the second on another), table binding, path readings, the rule's
conditions, a record changed through the gate or deleted behind it; cookie tokens and the
gate's own endpoints are never remembered. Both adapters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2.profiles import CHEAPEST
from support.apps import admins, users
from support.clients import ASGIClient, WSGIClient, wrap
from support.results import RawClient

import jwe_gate._screen
from jwe_gate import (
    ConfigurationError,
    Cookies,
    Gate,
    Hasher,
    MemoryBackend,
    MemoryRefreshStore,
    Rule,
    Table,
)

T0 = 1_900_000_000.0


class Ticks:
    """A monotonic clock the test moves (the memory's ttl is read from it)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


class Wall:
    """The gate's wall clock, moved by the test (token times are read from it)."""

    def __init__(self) -> None:
        self.value = T0

    def __call__(self) -> float:
        return self.value


class CountingBackend(MemoryBackend):
    """A memory backend that counts its record reads."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__(records)
        self.gets = 0

    def get(self, table: str, id: str) -> dict[str, Any] | None:
        self.gets += 1
        return super().get(table, id)

    def behind(self, table: str) -> dict[str, dict[str, Any]]:
        """The stored rows themselves: a change here bypasses the gate, as an app's own SQL."""
        rows: dict[str, dict[str, Any]] = self._rows(table).records
        return rows


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Ticks:
    clock = Ticks()
    monkeypatch.setattr(jwe_gate._screen, "monotonic", clock)
    return clock


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def backend() -> CountingBackend:
    return CountingBackend(users())


@pytest.fixture
def build(
    make_gate: Callable[..., Gate], backend: CountingBackend, wall: Wall
) -> Iterator[Callable[..., Gate]]:
    """A gate over ``backend`` (table user) and an admin table, its endpoints at /auth."""
    gates: list[Gate] = []

    def factory(**kwargs: Any) -> Gate:
        kwargs.setdefault(
            "tables",
            [
                Table("user", backend, hidden=("secret_note",)),
                Table("admin", MemoryBackend(admins())),
            ],
        )
        kwargs.setdefault("clock", wall)
        kwargs.setdefault("hasher", Hasher(CHEAPEST))
        kwargs.setdefault("auth_routes", {"/auth": "user"})
        gate = make_gate(**kwargs)
        gates.append(gate)
        return gate

    yield factory
    for gate in gates:
        gate.close()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def signup(client: RawClient, email: str = "zoe@example.com") -> dict[str, Any]:
    body = json.dumps({"name": "Zoe", "email": email, "password": "s3cret-pass"}).encode()
    res = client("POST", "/auth/signup", [("Content-Type", "application/json")], body=body)
    assert res.status == 200, res.body
    answer: dict[str, Any] = res.json
    return answer


def test_a_remembered_request_reads_no_store(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str, ticks: Ticks
) -> None:
    """Within recheck_after the same request is answered without reading the record again."""
    gate = build()
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 1))
    for _ in range(3):
        assert client("GET", "/api/hello", headers).status == 200
    assert backend.gets == 1
    ticks.value += 1.0  # one second on: read again
    assert client("GET", "/api/hello", headers).status == 200
    assert backend.gets == 2


def test_recheck_after_zero_reads_every_time(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str
) -> None:
    """recheck_after=0 turns the memory off: every request reads the record."""
    gate = build(recheck_after=0)
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 1))
    for _ in range(3):
        assert client("GET", "/api/hello", headers).status == 200
    assert backend.gets == 3


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(-0.5, id="negative"),
        pytest.param(1.01, id="over-a-second"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinite"),
    ],
)
def test_recheck_after_beyond_a_second_is_refused(
    make_gate: Callable[..., Gate], value: float
) -> None:
    """recheck_after outside [0, 1] is a ConfigurationError: revocation must reach every
    process within a second."""
    with pytest.raises(ConfigurationError, match="recheck_after"):
        make_gate(recheck_after=value)


def test_expiry_holds_for_a_remembered_token(
    build: Callable[..., Gate], adapter: str, wall: Wall, ticks: Ticks
) -> None:
    """A remembered token is refused once it expires, though the memory is still fresh."""
    gate = build()
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 1, ttl=60))
    assert client("GET", "/api/hello", headers).status == 200
    wall.value = T0 + 60 + gate.codec.leeway + 1
    res = client("GET", "/api/hello", headers)
    assert res.status == 401
    assert 'error="invalid_token"' in (res.header("www-authenticate") or "")


@pytest.mark.parametrize(
    "revoke",
    [
        pytest.param("logout", id="logout"),
        pytest.param("logout-all", id="logout-all"),
        pytest.param("revoke", id="gate-revoke"),
        pytest.param("password", id="password-change"),
    ],
)
def test_revocation_here_is_seen_at_once(
    build: Callable[..., Gate], adapter: str, ticks: Ticks, revoke: str
) -> None:
    """Logout, gate.revoke and a password change refuse a remembered token on the next
    request, with no time passing."""
    gate = build()
    client = wrap(gate, adapter)
    pair = signup(client)
    headers = bearer(pair["authToken"])
    assert client("GET", "/api/hello", headers).status == 200
    assert client("GET", "/api/hello", headers).status == 200
    json_type = [("Content-Type", "application/json")]
    if revoke == "logout":
        body = json.dumps({"refreshToken": pair["refreshToken"]}).encode()
        assert client("POST", "/auth/logout", headers + json_type, body=body).status == 204
    elif revoke == "logout-all":
        body = json.dumps({"all": True}).encode()
        assert client("POST", "/auth/logout", headers + json_type, body=body).status == 204
    elif revoke == "revoke":
        me = client("GET", "/auth/me", headers).json
        gate.revoke("user", me["id"])
    else:
        body = json.dumps({"password": "s3cret-pass", "newPassword": "n3w-secret!"}).encode()
        assert client("POST", "/auth/password", headers + json_type, body=body).status == 200
    assert client("GET", "/api/hello", headers).status == 401


def test_revocation_on_another_process_is_seen_within_recheck_after(
    build: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """A session ended by another gate sharing the store: the remembered token still passes
    here until recheck_after has passed, then never again."""
    store = MemoryRefreshStore()
    here, there = build(refresh_store=store), build(refresh_store=store)
    client, other = wrap(here, adapter), wrap(there, adapter)
    pair = signup(other)
    headers = bearer(pair["authToken"])
    assert client("GET", "/api/hello", headers).status == 200
    body = json.dumps({"refreshToken": pair["refreshToken"]}).encode()
    logout = other("POST", "/auth/logout", [("Content-Type", "application/json")], body=body)
    assert logout.status == 204
    ticks.value += 0.5
    assert client("GET", "/api/hello", headers).status == 200  # within the bound
    ticks.value += 0.5
    assert client("GET", "/api/hello", headers).status == 401


def test_a_record_deleted_behind_the_gate_is_seen_within_recheck_after(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str, ticks: Ticks
) -> None:
    """A record deleted in the table directly: its remembered token passes at most until
    recheck_after has passed."""
    gate = build()
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 2))
    assert client("GET", "/api/hello", headers).status == 200
    backend.behind("user").pop("2")
    ticks.value += 0.999
    assert client("GET", "/api/hello", headers).status == 200
    ticks.value += 0.001
    assert client("GET", "/api/hello", headers).status == 401


def test_a_record_changed_through_the_gate_is_seen_at_once(
    build: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """A record updated through its Table (as the endpoints do): the next request reads it,
    so a rule needing a verified email refuses a changed, unverified one at once."""
    gate = build(rules=[Rule("/api/**", "required", verified=True)])
    client = wrap(gate, adapter)
    table = gate.table("user")
    table.update("1", {"email_verified": True})
    headers = bearer(gate.issue("user", 1))
    assert client("GET", "/api/hello", headers).status == 200
    assert client("GET", "/api/hello", headers).json["record"]["name"] == "Ann"
    table.update("1", {"email": "ann.new@example.com"})  # unverified again
    assert client("GET", "/api/hello", headers).status == 403


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/admin/stats", 401, id="other-table"),
        pytest.param("/ADMIN/stats", 400, id="case-variant"),
        pytest.param("/api/../admin/stats", 400, id="dot-segments"),
        pytest.param("/api/%2e%2e/admin/stats", 400, id="encoded-dots"),
        pytest.param("/%61dmin/stats", 401, id="encoded-letter"),
        pytest.param("/admin//stats", 401, id="double-slash"),
        pytest.param("/orgs/1/billing", 403, id="condition-unmet"),
        pytest.param("/api/hello", 200, id="same-path"),
    ],
)
def test_path_readings_and_table_binding_hold_for_a_remembered_token(
    build: Callable[..., Gate], adapter: str, ticks: Ticks, path: str, status: int
) -> None:
    """A user token remembered on /api/hello gets, on every other spelling, exactly the answer
    it gets with the memory off (each asked twice, so the second could come from memory)."""
    remembering, forgetting = build(), build(recheck_after=0)
    token = remembering.issue("user", 1)
    assert token  # the same keys: the token is valid for both gates
    for gate in (remembering, forgetting):
        client = wrap(gate, adapter)
        assert client("GET", "/api/hello", bearer(token)).status == 200
        answers = [client("GET", path, bearer(token)).status for _ in range(2)]
        assert answers == [status, status]


def test_the_app_cannot_change_the_remembered_record(
    build: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """Each request gets its own copy of the record: one the app wrote into is not the next
    request's."""
    gate = build()
    seen: list[str] = []

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["user"].record["name"])
        scope["user"].record["name"] = "Mallory"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def wsgi(environ: Any, start_response: Any) -> list[bytes]:
        seen.append(environ["jwe_gate.user"].record["name"])
        environ["jwe_gate.user"].record["name"] = "Mallory"
        start_response("200 OK", [])
        return [b""]

    client = ASGIClient(gate.asgi(asgi)) if adapter == "asgi" else WSGIClient(gate.wsgi(wsgi))
    headers = bearer(gate.issue("user", 1))
    for _ in range(3):
        assert client("GET", "/api/hello", headers).status == 200
    assert seen == ["Ann", "Ann", "Ann"]


def test_the_gate_endpoints_read_the_record_every_time(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str, ticks: Ticks
) -> None:
    """GET /auth/me is never answered from memory: a change behind the gate shows at once."""
    gate = build()
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 1))
    assert client("GET", "/auth/me", headers).json["name"] == "Ann"
    backend.behind("user")["1"]["name"] = "Annie"
    assert client("GET", "/auth/me", headers).json["name"] == "Annie"


def test_cookie_tokens_are_never_remembered(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str, ticks: Ticks
) -> None:
    """A token from a cookie is checked in full every time (its CSRF check included)."""
    gate = build(cookies=Cookies(secure=False))
    client = wrap(gate, adapter)
    token = gate.issue("user", 1)
    cookie = [("Cookie", f"jwe_access_user={token}")]
    for _ in range(3):
        assert client("GET", "/api/hello", cookie).status == 200
    assert backend.gets == 3
    # An unsafe method without the CSRF token is refused, after the same token passed a GET.
    assert client("POST", "/api/hello", cookie).status == 403


def test_a_remembered_answer_keeps_its_vary(
    build: Callable[..., Gate], backend: CountingBackend, adapter: str
) -> None:
    """With the cookie transport on, a header token's answer from memory still says
    ``Vary: Cookie``, as the checked one did."""
    gate = build(cookies=Cookies(secure=False))
    client = wrap(gate, adapter)
    headers = bearer(gate.issue("user", 1))
    answers = [client("GET", "/api/hello", headers) for _ in range(3)]
    assert backend.gets == 1  # the second and third came from memory
    assert [(r.status, r.header("vary")) for r in answers] == [(200, "Cookie")] * 3


def test_an_answer_built_on_a_remembered_session_keeps_its_first_read(
    build: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """A second path, first seen late in the second, leans on the session read at its start:
    it is remembered only until that read is a second old, so a revocation elsewhere never
    waits longer than one second."""
    store = MemoryRefreshStore()
    here, there = build(refresh_store=store), build(refresh_store=store)
    client, other = wrap(here, adapter), wrap(there, adapter)
    pair = signup(other)
    headers = bearer(pair["authToken"])
    assert client("GET", "/api/hello", headers).status == 200  # the session read at 0
    body = json.dumps({"refreshToken": pair["refreshToken"]}).encode()
    other("POST", "/auth/logout", [("Content-Type", "application/json")], body=body)
    ticks.value += 0.9
    assert client("GET", "/api/other", headers).status == 200  # liveness remembered from 0
    ticks.value += 0.1
    assert client("GET", "/api/other", headers).status == 401
    assert client("GET", "/api/hello", headers).status == 401


class RevokingBackend(CountingBackend):
    """Revokes the record's sessions through the gate while a request reads the record: a
    revocation that overlaps a request in flight."""

    gate: Gate | None = None

    def get(self, table: str, id: str) -> dict[str, Any] | None:
        record = super().get(table, id)
        if self.gate is not None:
            gate, self.gate = self.gate, None
            gate.revoke("user", id)
        return record


class RevokingStore(MemoryRefreshStore):
    """Revokes every session of record 3 through the gate just after a session read."""

    gate: Gate | None = None

    def session(self, family: str) -> Any:
        found = super().session(family)
        if self.gate is not None:
            gate, self.gate = self.gate, None
            gate.revoke("user", 3)
        return found


def test_a_revocation_overlapping_the_record_read_is_not_forgotten(
    make_gate: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """A request allowed on a record read while gate.revoke ran is not remembered: the next
    request is refused at once."""
    backend = RevokingBackend(users())
    gate = make_gate(
        tables=[Table("user", backend), Table("admin", MemoryBackend(admins()))],
        hasher=Hasher(CHEAPEST),
        auth_routes={"/auth": "user"},
    )
    client = wrap(gate, adapter)
    headers = bearer(signup(client)["authToken"])
    backend.gate = gate
    assert client("GET", "/api/hello", headers).status == 200  # read before the revocation
    assert client("GET", "/api/hello", headers).status == 401


def test_a_revocation_overlapping_the_session_read_is_not_forgotten(
    make_gate: Callable[..., Gate], adapter: str, ticks: Ticks
) -> None:
    """A session read "live" while gate.revoke ran is not remembered live: the next request
    reads the store again and is refused."""
    store = RevokingStore()
    gate = make_gate(refresh_store=store, hasher=Hasher(CHEAPEST), auth_routes={"/auth": "user"})
    client = wrap(gate, adapter)
    headers = bearer(signup(client)["authToken"])  # record 3: users() holds 1 and 2
    store.gate = gate
    assert client("GET", "/api/hello", headers).status == 200  # read before the revocation
    assert client("GET", "/api/hello", headers).status == 401
