"""The memory of allowed requests on its own (``_sansio/recent.py``): what it keeps, for how
long, within what bound; and the keys it is indexed by (``RequestView.key``, the ASGI
adapter's ``request_key``), which must tell apart every request the decision tells apart."""

from __future__ import annotations

from typing import Any

import pytest

from jwe_gate import AuthInfo, AuthUser, RequestView, Rule
from jwe_gate import _wsgi as wsgi
from jwe_gate._asgi import request_key, view_of
from jwe_gate._sansio import refusals
from jwe_gate._sansio.decision import Allow, Lookup
from jwe_gate._sansio.recent import Recent
from jwe_gate._sansio.rules import CompiledRule
from jwe_gate._sansio.user import Claims

WANTED = frozenset({b"authorization", b"x-xano-authorization", b"x-xano-authorization-only"})


class Counter:
    def __init__(self) -> None:
        self.changes = 0


def lookup(token: str = "t", *, exp: float = 2000.0, by_cookie: bool = False) -> Lookup:
    claims = Claims("1", "user", 0.0, exp, None, None, {}, {"sub": "1"})
    rule = CompiledRule(Rule("/**"), "user", None, None)  # type: ignore[arg-type]
    return Lookup("user", claims, rule, token, by_cookie)


def allow(endpoint: tuple[str, str] | None = None) -> Allow:
    return Allow(AuthUser({"id": 1, "name": "Ann"}, "user"), AuthInfo(("authenticated",)), endpoint)


def test_an_allowed_answer_is_remembered_within_ttl() -> None:
    """Kept at tick 0 with ttl 1: answered at 0.999, gone at 1.0."""
    recent, counter = Recent(1.0), Counter()
    recent.keep("k", lookup(), allow(), tick=0.0, counted=counter, generation=0, epoch=0)
    hit = recent.get("k", now=1000.0, tick=0.999)
    assert hit is not None
    assert hit.user.identity == "1"
    assert recent.get("k", now=1000.0, tick=1.0) is None
    assert len(recent) == 0  # a stale entry is dropped when met


def test_an_expired_token_is_not_answered() -> None:
    """At the token's exp the entry no longer answers, whatever its age."""
    recent, counter = Recent(1.0), Counter()
    recent.keep("k", lookup(exp=1000.0), allow(), tick=0.0, counted=counter, generation=0, epoch=0)
    assert recent.get("k", now=999.9, tick=0.0) is not None
    assert recent.get("k", now=1000.0, tick=0.0) is None


def test_a_change_to_the_table_ends_the_entry() -> None:
    """A write through the table (its change count moves) makes the entry stale."""
    recent, counter = Recent(1.0), Counter()
    recent.keep("k", lookup(), allow(), tick=0.0, counted=counter, generation=0, epoch=0)
    counter.changes += 1
    assert recent.get("k", now=0.0, tick=0.0) is None


@pytest.mark.parametrize(
    ("look", "answer", "ttl"),
    [
        pytest.param(lookup(), refusals.INVALID, 1.0, id="refusal"),
        pytest.param(lookup(), refusals.DENIED, 1.0, id="denial"),
        pytest.param(lookup(), allow(("user", "me")), 1.0, id="gate-endpoint"),
        pytest.param(lookup(by_cookie=True), allow(), 1.0, id="cookie-token"),
        pytest.param(lookup(), allow(), 0.0, id="ttl-zero"),
    ],
)
def test_what_is_never_remembered(look: Lookup, answer: Any, ttl: float) -> None:
    """Refusals, the gate's endpoints, cookie tokens, and anything with ttl 0 are not kept."""
    recent = Recent(ttl)
    recent.keep("k", look, answer, tick=0.0, counted=Counter(), generation=0, epoch=0)
    assert len(recent) == 0


def test_forget_empties_the_memory() -> None:
    """forget (a revocation here) drops every entry."""
    recent, counter = Recent(1.0), Counter()
    for key in "abc":
        recent.keep(key, lookup(key), allow(), tick=0.0, counted=counter, generation=0, epoch=0)
    recent.forget()
    assert [recent.get(k, now=0.0, tick=0.0) for k in "abc"] == [None, None, None]


def test_the_memory_is_bounded() -> None:
    """Full, it empties itself before keeping more: a flood of tokens costs re-reads only."""
    recent, counter = Recent(1.0, size=3), Counter()
    for i in range(7):
        recent.keep(i, lookup(str(i)), allow(), tick=0.0, counted=counter, generation=0, epoch=0)
        assert len(recent) <= 3


def test_each_hit_gets_its_own_record() -> None:
    """A hit's record is a copy: writing into it changes neither the memory nor the original."""
    recent, counter, first = Recent(1.0), Counter(), allow()
    recent.keep("k", lookup(), first, tick=0.0, counted=counter, generation=0, epoch=0)
    hit = recent.get("k", now=0.0, tick=0.0)
    assert hit is not None
    assert isinstance(hit.user, AuthUser)
    hit.user.record["name"] = "Mallory"  # type: ignore[index]
    again = recent.get("k", now=0.0, tick=0.0)
    assert again is not None
    assert isinstance(again.user, AuthUser)
    assert again.user.get("name") == "Ann"
    assert first.user.display_name == "Ann"


# -- keys ------------------------------------------------------------------------------------


def scope(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/api/hello",
        "raw_path": b"/api/hello",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"x"), (b"authorization", b"Bearer t")],
        "client": ("10.0.0.1", 5000),
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(scope(type="websocket"), id="websocket"),
        pytest.param(scope(method="POST"), id="method"),
        pytest.param(scope(path="/api/Hello"), id="path"),
        pytest.param(scope(root_path="/api"), id="root-path"),
        pytest.param(scope(raw_path=b"/api/%68ello"), id="raw-path"),
        pytest.param(scope(query_string=b"authtoken=t"), id="query"),
        pytest.param(scope(client=("10.0.0.2", 5000)), id="client"),
        pytest.param(scope(headers=[(b"authorization", b"Bearer u")]), id="token"),
        pytest.param(
            scope(headers=[(b"authorization", b"Bearer t"), (b"authorization", b"Bearer t")]),
            id="repeated-header",
        ),
        pytest.param(
            scope(headers=[(b"authorization", b"Bearer t"), (b"x-xano-authorization", b"t")]),
            id="xano-header",
        ),
    ],
)
def test_request_keys_tell_apart_what_views_tell_apart(other: dict[str, Any]) -> None:
    """Scopes whose views differ never share a request key (nor a view key)."""
    assert view_of(other, WANTED) != view_of(scope(), WANTED)
    assert request_key(other, WANTED) != request_key(scope(), WANTED)
    assert view_of(other, WANTED).key() != view_of(scope(), WANTED).key()


@pytest.mark.parametrize(
    "same",
    [
        pytest.param(scope(headers=[(b"authorization", b"Bearer t")]), id="unread-header"),
        pytest.param(scope(client=("10.0.0.1", 6000)), id="client-port"),
    ],
)
def test_what_the_gate_does_not_read_does_not_split_keys(same: dict[str, Any]) -> None:
    """Headers the gate does not read and the client's port leave the key as it is."""
    assert request_key(same, WANTED) == request_key(scope(), WANTED)
    assert view_of(same, WANTED).key() == view_of(scope(), WANTED).key()


def test_a_view_key_is_hashable_and_stable() -> None:
    """Equal views have equal, hashable keys."""
    a = RequestView("GET", "/x", {"authorization": ["Bearer t"]}, client="1.2.3.4")
    b = RequestView("GET", "/x", {"authorization": ["Bearer t"]}, client="1.2.3.4")
    assert hash(a.key()) == hash(b.key())
    assert a.key() == b.key()


def environ(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/api/hello",
        "QUERY_STRING": "",
        "REMOTE_ADDR": "10.0.0.1",
        "HTTP_AUTHORIZATION": "Bearer t",
        "HTTP_HOST": "x",
    }
    base.update(changes)
    return base


WSGI_KEYS = wsgi.environ_keys(sorted(w.decode() for w in WANTED))


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(environ(REQUEST_METHOD="POST"), id="method"),
        pytest.param(environ(PATH_INFO="/api/Hello"), id="path"),
        pytest.param(environ(QUERY_STRING="authtoken=t"), id="query"),
        pytest.param(environ(REMOTE_ADDR="10.0.0.2"), id="client"),
        pytest.param(environ(HTTP_AUTHORIZATION="Bearer u"), id="token"),
        pytest.param(environ(HTTP_X_XANO_AUTHORIZATION="t"), id="xano-header"),
        pytest.param(environ(HTTP_X_XANO_AUTHORIZATION_ONLY="true"), id="only-header"),
    ],
)
def test_wsgi_request_keys_tell_apart_what_views_tell_apart(other: dict[str, Any]) -> None:
    """Environs whose views differ never share a request key."""
    assert wsgi.view_of(other, WSGI_KEYS) != wsgi.view_of(environ(), WSGI_KEYS)
    assert wsgi.request_key(other, WSGI_KEYS) != wsgi.request_key(environ(), WSGI_KEYS)


def test_wsgi_keys_ignore_unread_headers() -> None:
    """A header the gate does not read leaves the WSGI key as it is."""
    other = environ(HTTP_HOST="elsewhere")
    assert wsgi.request_key(other, WSGI_KEYS) == wsgi.request_key(environ(), WSGI_KEYS)


def test_an_answer_checked_across_a_revocation_is_not_kept() -> None:
    """A forget between reading the epoch and keeping (a revocation while the request was in
    flight) leaves the answer unremembered."""
    recent, counter = Recent(1.0), Counter()
    epoch = recent.epoch
    recent.forget()
    recent.keep("k", lookup(), allow(), tick=0.0, counted=counter, generation=0, epoch=epoch)
    assert len(recent) == 0
