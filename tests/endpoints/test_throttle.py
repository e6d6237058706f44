"""§Handlers, "Throttle" and the hasher bullets: signups throttled per address; no single client
address starves the others of the hasher (through both adapters and both drivers); a stranger
with any number of addresses never locks the owner out of the owner's own address, while a
distributed guesser gets no more than the account-wide limit; the per-address limit is larger
than the per-(account, address) one; the limits' defaults and their validation."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.clients import ASGIClient, wrap
from support.results import RawClient, Result
from support.spies import Clock, SpyHasher

from jwe_gate import ConfigurationError, Gate, MemoryBackend, Table, Throttle
from jwe_gate._sansio.http import Response
from jwe_gate._sansio.request import HandlerRequest, RequestView
from jwe_gate._storage.memory import MemoryThrottleStore
from jwe_gate._storage.sqlite import SQLiteThrottleStore

JSON = ("Content-Type", "application/json")
PASSWORD = "correct horse 1"
WRONG = "wrong horse 1"
OWNER_ADDR = "198.51.100.10"
FLOODER = "203.0.113.66"


# -- helpers ---------------------------------------------------------------------------------


def body(endpoint: str, i: int | str, password: str = PASSWORD) -> dict[str, Any]:
    """A signup or login body for the i-th account."""
    data: dict[str, Any] = {"email": f"user{i}@x.com", "password": password}
    return {**data, "name": f"U{i}"} if endpoint == "signup" else data


def post(client: RawClient, endpoint: str, data: dict[str, Any], addr: str) -> Result:
    return client(
        "POST", f"/auth/{endpoint}", [JSON], body=json.dumps(data).encode(), client_addr=addr
    )


def signup(client: RawClient, i: int | str, addr: str = OWNER_ADDR) -> None:
    res = post(client, "signup", body("signup", i), addr)
    assert res.status == 200, res.json


def login(client: RawClient, i: int | str, addr: str, password: str = PASSWORD) -> Result:
    return post(client, "login", body("login", i, password), addr)


def assert_429(res: Result) -> None:
    """The SPEC's 429: Xano's body, ERROR_CODE_TOO_MANY_REQUESTS, with a Retry-After."""
    assert res.status == 429, (res.status, res.json)
    assert res.json["code"] == "ERROR_CODE_TOO_MANY_REQUESTS"
    assert set(res.json) == {"code", "message", "payload"}
    assert int(res.header("retry-after") or "0") >= 1


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition`` (a guard against hanging, not a timing assertion)."""
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert condition()


async def await_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.002)
    assert condition()


def flood_in_threads(
    spy: SpyHasher, flood: list[Callable[[], int]], owner: Callable[[], int]
) -> tuple[list[int], int]:
    """Start ``flood`` at once (held in the hasher); once each is answered or holds a hashing
    slot, run ``owner``; once that is answered or holds a slot, release. The statuses."""
    spy.hold = threading.Event()
    with ThreadPoolExecutor(len(flood) + 1) as pool:
        try:
            futures = [pool.submit(f) for f in flood]
            wait_until(lambda: sum(f.done() for f in futures) + spy.pending() == len(flood))
            held = spy.pending()
            mine = pool.submit(owner)
            wait_until(lambda: mine.done() or spy.pending() > held)
        finally:
            spy.hold.set()
        return [f.result(10) for f in futures], mine.result(10)


def flood_in_tasks(
    spy: SpyHasher,
    flood: list[Callable[[], Coroutine[Any, Any, int]]],
    owner: Callable[[], Coroutine[Any, Any, int]],
) -> tuple[list[int], int]:
    """:func:`flood_in_threads` on one event loop."""

    async def run() -> tuple[list[int], int]:
        spy.hold = threading.Event()
        try:
            tasks = [asyncio.create_task(f()) for f in flood]
            await await_until(lambda: sum(t.done() for t in tasks) + spy.pending() == len(flood))
            held = spy.pending()
            mine = asyncio.create_task(owner())
            await await_until(lambda: mine.done() or spy.pending() > held)
        finally:
            assert spy.hold is not None
            spy.hold.set()
        return list(await asyncio.gather(*tasks)), await mine

    return asyncio.run(run())


FLOOD = 12
"""Requests in a flood: more than the test hasher's slots (2 running + 6 queued)."""

FLOOD_KINDS = [
    pytest.param("signup", {200, 429}, id="signup-flood"),
    pytest.param("login", {403, 429}, id="login-flood"),
]


@pytest.fixture
def spy() -> SpyHasher:
    """A hasher with 8 slots (2 running, 6 queued): one client's share is 2 of them."""
    return SpyHasher(max_concurrent=2, max_queue=6)


# -- 1. signups per address, and the hasher shared fairly ------------------------------------


class CountingBackend(MemoryBackend):
    """A memory backend that records every lookup by login."""

    def __init__(self) -> None:
        super().__init__()
        self.finds: list[Any] = []

    def find(self, table: str, field: str, value: Any) -> Any:
        self.finds.append(value)
        return super().find(table, field, value)


class CountingThrottleStore(MemoryThrottleStore):
    """A memory throttle store that counts the calls made to it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        self.calls += 1
        return super().hit(key, window=window, now=now, amount=amount)

    def take(self, key: str, *, now: float, at_most: int | None = None) -> int:
        self.calls += 1
        return super().take(key, now=now, at_most=at_most)


def test_signups_are_throttled_per_address(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """The 21st signup from one address in 15 minutes is a 429 with Retry-After, before any
    lookup or hash; another address still signs up, and after the window so does the first."""
    spy, clock, backend = SpyHasher(), Clock(), CountingBackend()
    tables = [Table("user", backend), Table("admin", MemoryBackend())]
    gate = make_auth_gate(hasher=spy, clock=clock, tables=tables)
    client = wrap(gate, adapter)
    for i in range(20):
        signup(client, i, addr=FLOODER)
    spy.reset()
    assert len(backend.finds) == 20  # control: each admitted signup looked its email up
    backend.finds.clear()
    for data in (body("signup", "new"), body("signup", 0)):  # a new email; one in use
        assert_429(post(client, "signup", data, FLOODER))
    assert (spy.calls, spy.work, backend.finds) == ([], [], [])
    assert gate.table("user").find("usernew@x.com") is None
    signup(client, "other", addr="203.0.113.67")
    clock.advance(15 * 60 + 1)
    signup(client, "later", addr=FLOODER)


def test_signup_limit_is_configurable(make_auth_gate: Callable[..., Gate], adapter: str) -> None:
    """Throttle(signup_max=2): the third signup from one address is the 429."""
    client = wrap(make_auth_gate(throttle=Throttle(signup_max=2)), adapter)
    signup(client, 1, addr=FLOODER)
    signup(client, 2, addr=FLOODER)
    assert_429(post(client, "signup", body("signup", 3), FLOODER))


@pytest.mark.parametrize(("kind", "flood_statuses"), FLOOD_KINDS)
def test_a_flood_from_one_address_never_fails_anothers_login_through_the_adapters(
    make_auth_gate: Callable[..., Gate],
    adapter: str,
    spy: SpyHasher,
    kind: str,
    flood_statuses: set[int],
) -> None:
    """While one address's flood of signups or logins holds its share of the hasher, the
    owner's correct login from another address is admitted and answers 200."""
    client = wrap(make_auth_gate(hasher=spy), adapter)
    signup(client, "owner")
    floods = [body(kind, i, PASSWORD if kind == "signup" else WRONG) for i in range(FLOOD)]
    if isinstance(client, ASGIClient):
        asgi = client

        def a_flood(data: dict[str, Any]) -> Callable[[], Coroutine[Any, Any, int]]:
            async def one() -> int:
                req = json.dumps(data).encode()
                res = await asgi.arequest(
                    "POST", f"/auth/{kind}", [JSON], body=req, client_addr=FLOODER
                )
                return res.status

            return one

        async def a_owner() -> int:
            req = json.dumps(body("login", "owner")).encode()
            res = await asgi.arequest(
                "POST", "/auth/login", [JSON], body=req, client_addr=OWNER_ADDR
            )
            return res.status

        statuses, mine = flood_in_tasks(spy, [a_flood(d) for d in floods], a_owner)
    else:
        statuses, mine = flood_in_threads(
            spy,
            [lambda d=d: post(client, kind, d, FLOODER).status for d in floods],  # type: ignore[misc]
            lambda: login(client, "owner", OWNER_ADDR).status,
        )
    assert mine == 200
    assert set(statuses) <= flood_statuses
    assert statuses.count(429) >= FLOOD - spy.max_per_client  # the flood got its share only


def _handler_request(endpoint: str, data: dict[str, Any], addr: str) -> HandlerRequest:
    return HandlerRequest(
        RequestView("POST", f"/auth/{endpoint}", client=addr), json.dumps(data).encode()
    )


@pytest.mark.parametrize(("kind", "flood_statuses"), FLOOD_KINDS)
@pytest.mark.parametrize(
    "driver", [pytest.param("sync", id="handle"), pytest.param("async", id="ahandle")]
)
def test_a_flood_from_one_address_never_fails_anothers_login_through_the_drivers(
    make_auth_gate: Callable[..., Gate],
    spy: SpyHasher,
    driver: str,
    kind: str,
    flood_statuses: set[int],
) -> None:
    """The same through AuthService.handle (threads) and .ahandle (one event loop)."""
    service = make_auth_gate(hasher=spy).auth_service("user")
    owner_signup = service.handle(
        "signup", _handler_request("signup", body("signup", "owner"), OWNER_ADDR)
    )
    assert owner_signup.status == 200
    floods = [
        _handler_request(kind, body(kind, i, PASSWORD if kind == "signup" else WRONG), FLOODER)
        for i in range(FLOOD)
    ]
    owner = _handler_request("login", body("login", "owner"), OWNER_ADDR)
    if driver == "sync":

        def s_call(req: HandlerRequest, endpoint: str = kind) -> Callable[[], int]:
            return lambda: service.handle(endpoint, req).status

        statuses, mine = flood_in_threads(spy, [s_call(r) for r in floods], s_call(owner, "login"))
    else:

        def a_call(
            req: HandlerRequest, endpoint: str = kind
        ) -> Callable[[], Coroutine[Any, Any, int]]:
            async def one() -> int:
                res: Response = await service.ahandle(endpoint, req)
                return res.status

            return one

        statuses, mine = flood_in_tasks(spy, [a_call(r) for r in floods], a_call(owner, "login"))
    assert mine == 200
    assert set(statuses) <= flood_statuses
    assert statuses.count(429) >= FLOOD - spy.max_per_client


@pytest.mark.parametrize(
    ("kwargs", "share"),
    [
        pytest.param({"max_concurrent": 4, "max_queue": 32}, 9, id="default-quarter"),
        pytest.param({"max_concurrent": 1, "max_queue": 0}, 1, id="single-slot"),
        pytest.param({"max_concurrent": 2, "max_queue": 6, "max_per_client": 3}, 3, id="given"),
        pytest.param({"max_concurrent": 1, "max_queue": 1, "max_per_client": 5}, 2, id="capped"),
    ],
)
def test_a_clients_share_of_the_hasher(kwargs: dict[str, Any], share: int) -> None:
    """max_per_client defaults to a quarter of the slots (at least 1), never more than all."""
    hasher = SpyHasher(**kwargs)
    assert hasher.max_per_client == share
    hasher.close()


def test_full_tells_whether_a_hash_would_be_refused() -> None:
    """Hasher.full(client): True once every slot is taken, or once that client holds its
    share; False again when they are given back."""
    spy = SpyHasher(max_concurrent=1, max_queue=1, max_per_client=1)
    spy.hold = threading.Event()
    assert not spy.full()
    assert not spy.full("a")
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(spy.hash, PASSWORD, client="a")
        try:
            wait_until(lambda: spy.pending() == 1)
            assert spy.full("a")  # a holds its share
            assert not spy.full("b")
            assert not spy.full()
            second = pool.submit(spy.hash, PASSWORD, client="b")
            wait_until(lambda: spy.pending() == 2)
            assert spy.full()
            assert spy.full("c")
        finally:
            spy.hold.set()
        first.result(10)
        second.result(10)
    assert not spy.full("a")
    spy.close()


def test_a_login_past_a_full_hasher_is_refused_before_any_count_or_lookup(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """With every hashing slot taken, a login is a 429 at once, touching no throttle counter and
    looking up no record (the attempt would be given back anyway): a flood past the queue costs
    no store writes. Once the slot is free, the same login succeeds and is counted."""
    spy, store = SpyHasher(max_concurrent=1, max_queue=0), CountingThrottleStore()
    backend = CountingBackend()
    tables = [Table("user", backend), Table("admin", MemoryBackend())]
    gate = make_auth_gate(hasher=spy, throttle_store=store, tables=tables)
    client = wrap(gate, adapter)
    signup(client, "owner")
    spy.hold = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(spy.hash, PASSWORD)
        try:
            wait_until(lambda: spy.pending() == 1)
            calls, finds = store.calls, len(backend.finds)
            refused = login(client, "owner", OWNER_ADDR)
            assert (store.calls, len(backend.finds)) == (calls, finds)
        finally:
            spy.hold.set()
        held.result(10)
    assert_429(refused)
    assert login(client, "owner", OWNER_ADDR).status == 200
    assert store.calls > calls  # control: an admitted login is counted
    assert len(backend.finds) == finds + 1


def test_max_per_client_below_one_is_refused() -> None:
    """Hasher(max_per_client=0) is a ConfigurationError, found when built."""
    with pytest.raises(ConfigurationError):
        SpyHasher(max_per_client=0)


# -- 2. a stranger never locks the owner out ---------------------------------------------------


def ipv4_addresses(n: int) -> list[str]:
    return [str(ipaddress.IPv4Address("192.0.2.0") + i) for i in range(n)]


def ipv6_64s_of_one_48(n: int) -> list[str]:
    """The first address of ``n`` different /64s inside 2001:db8:aa::/48."""
    base = int(ipaddress.IPv6Address("2001:db8:aa::"))
    return [str(ipaddress.IPv6Address(base + (i << 64) + 1)) for i in range(n)]


STRANGERS = [
    pytest.param(ipv4_addresses(150), id="150-ipv4-addresses"),
    pytest.param(ipv6_64s_of_one_48(300), id="300-64s-of-an-ipv6-48"),
]


@pytest.mark.parametrize("strangers", STRANGERS)
@pytest.mark.parametrize(
    "known_by",
    [pytest.param("signup", id="known-by-signup"), pytest.param("login", id="known-by-login")],
)
def test_a_stranger_with_many_addresses_never_locks_out_the_owner(
    make_auth_gate: Callable[..., Gate], adapter: str, strangers: list[str], known_by: str
) -> None:
    """However many addresses a stranger fails from, and across renewed windows, the owner's
    correct login from the owner's own address (one that signed up or logged in) is 200."""
    clock = Clock()
    client = wrap(make_auth_gate(clock=clock), adapter)
    signup(client, "owner", addr="192.0.2.250" if known_by == "login" else OWNER_ADDR)
    if known_by == "login":
        assert login(client, "owner", OWNER_ADDR).status == 200
    for _ in range(2):  # the stranger renews the account-wide window once it ends
        statuses = [login(client, "owner", addr, WRONG).status for addr in strangers]
        assert set(statuses) == {403, 429}
        assert login(client, "owner", OWNER_ADDR).status == 200
        clock.advance(60 * 60 + 1)
    assert login(client, "owner", OWNER_ADDR).status == 200


@pytest.mark.parametrize("strangers", STRANGERS)
def test_a_distributed_guesser_gets_the_account_limit_only(
    make_auth_gate: Callable[..., Gate], adapter: str, strangers: list[str]
) -> None:
    """Guesses at one account from many addresses: 100 are checked in an hour, every other is a
    429 before any hash -- also a minute later (the old short window) -- and the owner's own
    address still logs in."""
    spy, clock = SpyHasher(), Clock()
    client = wrap(make_auth_gate(hasher=spy, clock=clock), adapter)
    signup(client, "owner")
    spy.reset()
    statuses = [login(client, "owner", addr, WRONG).status for addr in strangers]
    assert statuses.count(403) == 100
    assert [w.kind for w in spy.work].count("verify") == 100
    clock.advance(61)
    spy.reset()
    for addr in ("192.0.2.251", "2001:db8:bb::1"):
        assert_429(login(client, "owner", addr, WRONG))
    assert (spy.calls, spy.work) == ([], [])
    # The limit of the choice: a new address of the owner is held too, until the window ends.
    assert_429(login(client, "owner", "192.0.2.252"))
    assert login(client, "owner", OWNER_ADDR).status == 200


def test_the_owners_failures_from_a_known_address_stay_limited(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """A known address is exempt from the account-wide counter only: its own failures at the
    account still lock it after 10."""
    client = wrap(make_auth_gate(), adapter)
    signup(client, "owner")
    for _ in range(10):
        assert login(client, "owner", OWNER_ADDR, WRONG).status == 403
    assert_429(login(client, "owner", OWNER_ADDR))


def test_trust_window_zero_turns_the_exemption_off(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Throttle(trust_window=0): the account-wide counter holds the owner's address too."""
    limits = Throttle(trust_window=0, account_max_failures=3)
    client = wrap(make_auth_gate(throttle=limits), adapter)
    signup(client, "owner")
    for addr in ipv4_addresses(3):
        assert login(client, "owner", addr, WRONG).status == 403
    assert_429(login(client, "owner", OWNER_ADDR))


def test_the_owners_mark_is_renewed_by_logging_in(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """An owner who keeps logging in stays known past the first mark's 30 days."""
    clock = Clock()
    client = wrap(make_auth_gate(clock=clock, throttle=Throttle(account_max_failures=3)), adapter)
    signup(client, "owner")
    for _ in range(4):  # 4 x 20 days: the first mark alone would have ended on day 30
        clock.advance(20 * 24 * 3600)
        assert login(client, "owner", OWNER_ADDR).status == 200
    for addr in ipv4_addresses(5):
        login(client, "owner", addr, WRONG)
    assert login(client, "owner", OWNER_ADDR).status == 200


def test_strangers_attempts_leave_no_lasting_mark(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Reading whether an address is known leaves nothing that outlives the counters' own
    windows: only the owner's success holds a mark for the trust window."""
    store = MemoryThrottleStore()
    clock = Clock()
    client = wrap(make_auth_gate(clock=clock, throttle_store=store), adapter)
    signup(client, "owner")
    for addr in ipv4_addresses(50):
        login(client, "owner", addr, WRONG)
    horizon = clock() + 60 * 60 + 1  # past every counter's window but the marks'
    lasting = [k for k, (_, reset_at) in store._counts.items() if reset_at > horizon]
    assert lasting == [f"known:user:userowner@x.com:{OWNER_ADDR}"]


def test_the_throttle_is_shared_by_gates_on_one_store(
    make_auth_gate: Callable[..., Gate], tmp_path: Path
) -> None:
    """Two gates (two workers) on one SQLite throttle file count as one: signups, the
    account-wide counter and the owner's mark made on one hold on the other."""
    db = tmp_path / "throttle.db"
    stores = [SQLiteThrottleStore(db), SQLiteThrottleStore(db)]
    users = MemoryBackend()
    try:
        one, two = (
            wrap(
                make_auth_gate(
                    throttle_store=store,
                    throttle=Throttle(signup_max=2, account_max_failures=3),
                    tables=[Table("user", users), Table("admin", MemoryBackend())],
                ),
                adapter,
            )
            for store, adapter in zip(stores, ("asgi", "wsgi"), strict=True)
        )
        signup(one, "owner")
        signup(two, "other")
        assert_429(post(one, "signup", body("signup", "third"), OWNER_ADDR))
        for addr in ipv4_addresses(3):
            assert login(one, "owner", addr, WRONG).status == 403
        assert_429(login(two, "owner", "192.0.2.200"))
        assert login(two, "owner", OWNER_ADDR).status == 200
    finally:
        for store in stores:
            store.close()


# -- 3. the per-address limit is larger than the per-(account, address) one --------------------


def test_one_users_failures_do_not_lock_out_the_rest_of_the_nat(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Ten failures by one user behind an office NAT lock that user's account from there, not
    the other users behind the same address."""
    client = wrap(make_auth_gate(), adapter)
    for i in range(3):
        signup(client, i)
    nat = "203.0.113.200"
    for _ in range(10):
        assert login(client, 0, nat, WRONG).status == 403
    assert_429(login(client, 0, nat))
    assert login(client, 1, nat).status == 200
    assert login(client, 2, nat).status == 200


def test_the_defaults_are_the_specs() -> None:
    """10 per (account, address) and 100 per address in 15 minutes; the rest as documented."""
    limits = Throttle()
    assert (limits.max_failures, limits.window) == (10, 15 * 60)
    assert (limits.address_max_failures, limits.address_window) == (100, 15 * 60)
    assert limits.address_max_failures > limits.max_failures
    assert (limits.account_max_failures, limits.account_window) == (100, 60 * 60)
    assert (limits.signup_max, limits.signup_window) == (20, 15 * 60)
    assert limits.trust_window == 30 * 24 * 3600


def test_the_old_keywords_still_work() -> None:
    """max_failures, window, account_max_failures and account_window keep their meaning."""
    limits = Throttle(max_failures=3, window=60, account_max_failures=7, account_window=30)
    assert (limits.max_failures, limits.window) == (3, 60)
    assert (limits.account_max_failures, limits.account_window) == (7, 30)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_failures": 0}, id="max-failures-0"),
        pytest.param({"max_failures": 1.5}, id="max-failures-float"),
        pytest.param({"max_failures": True}, id="max-failures-bool"),
        pytest.param({"account_max_failures": -1}, id="account-negative"),
        pytest.param({"signup_max": 0}, id="signup-0"),
        pytest.param({"window": 0}, id="window-0"),
        pytest.param({"address_window": -5}, id="address-window-negative"),
        pytest.param({"account_window": float("inf")}, id="account-window-inf"),
        pytest.param({"signup_window": float("nan")}, id="signup-window-nan"),
        pytest.param({"trust_window": -1}, id="trust-window-negative"),
        pytest.param({"window": "900"}, id="window-string"),
        pytest.param({"address_max_failures": 5}, id="address-below-account-address"),
    ],
)
def test_bad_limits_are_refused_when_built(kwargs: dict[str, Any]) -> None:
    """A limit below 1, a non-int limit, a window not finite and positive, or a per-address
    limit below the per-(account, address) one: ConfigurationError, once, when built."""
    with pytest.raises(ConfigurationError):
        Throttle(**kwargs)


def test_a_throttle_is_frozen() -> None:
    """Limits are fixed once built."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Throttle().max_failures = 99  # type: ignore[misc]
