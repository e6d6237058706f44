"""SPEC §Transports, the query parameter, end to end through both adapters with raw requests:
enabled per rule, ignored elsewhere, ambiguous when repeated or beside a header token."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from urllib.parse import quote

import pytest
from starlette.exceptions import StarletteDeprecationWarning
from support.apps import DEFAULT_RULES, starlette_app
from support.clients import wrap
from support.results import RawClient

from jwe_gate import Gate, Rule

with warnings.catch_warnings():
    # As in tests/adapters/test_adapters.py: the test extras install httpx, not httpx2.
    warnings.filterwarnings(
        "ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning
    )
    from starlette.testclient import TestClient

RULES = [Rule("/api/**", "required", query_token=True), *DEFAULT_RULES]


@pytest.fixture
def query_gate(make_gate: Callable[..., Gate]) -> Gate:
    """The test gate with ``/api/**`` accepting ``?authtoken=``."""
    return make_gate(rules=RULES)


@pytest.fixture
def raw(query_gate: Gate, adapter: str) -> RawClient:
    return wrap(query_gate, adapter)


def test_an_enabled_rule_lets_a_query_token_reach_the_handler(
    query_gate: Gate, raw: RawClient
) -> None:
    """A valid ``?authtoken=`` on an enabled rule: 200, the handler sees the user."""
    res = raw("GET", f"/api/hello?page=2&authtoken={query_gate.issue('user', 1)}")
    assert res.status == 200
    assert res.handled
    assert res.json["authenticated"] is True
    assert res.json["record"]["id"] == 1
    assert res.json["table"] == "user"


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: quote(t, safe=""), id="every-character-encoded"),
        pytest.param(lambda t: t.replace(".", "%2E").replace("-", "%2d"), id="dots-and-dashes"),
        pytest.param(lambda t: t, id="as-is"),
    ],
)
def test_a_percent_encoded_query_token_is_decoded(
    query_gate: Gate, raw: RawClient, encode: Callable[[str], str]
) -> None:
    """The parameter is percent-decoded like any query value before it is verified."""
    token = query_gate.issue("user", 1)
    res = raw("GET", f"/api/hello?authtoken={encode(token)}")
    assert res.status == 200
    assert res.json["record"]["id"] == 1


def test_a_disabled_rule_ignores_the_query_token(query_gate: Gate, raw: RawClient) -> None:
    """Where the rule does not enable it, ``?authtoken=`` is not a credential: 401."""
    res = raw("GET", f"/echo?authtoken={query_gate.issue('user', 1)}")
    assert res.status == 401
    assert not res.handled
    assert res.header("www-authenticate") == "Bearer"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        pytest.param("authtoken={t}&authtoken={t}", "must appear once", id="repeated"),
        pytest.param("authtoken={t}&authtoken=", "must appear once", id="repeated-one-empty"),
    ],
)
def test_a_repeated_query_token_is_400(
    query_gate: Gate, raw: RawClient, query: str, message: str
) -> None:
    """Two ``authtoken`` values are ambiguous: 400 naming the parameter, the app never runs."""
    res = raw("GET", "/api/hello?" + query.format(t=query_gate.issue("user", 1)))
    assert res.status == 400
    assert not res.handled
    assert res.json["code"] == "ERROR_CODE_BAD_REQUEST"
    assert res.json["payload"] == {"param": "authtoken"}
    assert message in res.json["message"]


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Authorization", id="authorization"),
        pytest.param("X-Xano-Authorization", id="x-xano-authorization"),
    ],
)
def test_a_header_token_and_a_query_token_together_are_400(
    query_gate: Gate, raw: RawClient, header: str
) -> None:
    """Two credentials in one request are ambiguous, even when they are the same token."""
    token = query_gate.issue("user", 1)
    value = f"Bearer {token}" if header == "Authorization" else token
    res = raw("GET", f"/api/hello?authtoken={token}", [(header, value)])
    assert res.status == 400
    assert not res.handled
    assert res.json["payload"] == {"param": "authtoken"}


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("garbage", "Invalid token.", id="garbage"),
        pytest.param("{admin}", "Invalid token.", id="other-table"),
        pytest.param("{expired}", "Token expired.", id="expired"),
    ],
)
def test_a_bad_query_token_is_401_like_a_header_one(
    query_gate: Gate, raw: RawClient, token: str, message: str
) -> None:
    """An invalid or expired query token answers exactly as the same token in a header."""
    token = token.format(
        admin=query_gate.issue("admin", 1),
        expired=query_gate.issue("user", 1, ttl=1, now=time.time() - 3600),
    )
    by_query = raw("GET", f"/api/hello?authtoken={token}")
    by_header = raw("GET", "/api/hello", [("Authorization", f"Bearer {token}")])
    assert by_query.status == by_header.status == 401
    assert not by_query.handled
    assert by_query.json == by_header.json
    assert by_query.json["message"] == message
    assert by_query.header("www-authenticate") == by_header.header("www-authenticate")


def test_a_browser_websocket_authenticates_by_query_token(make_gate: Callable[..., Gate]) -> None:
    """A WebSocket handshake (which a browser cannot give headers) may carry ``?authtoken=``."""
    gate = make_gate(rules=[Rule("/ws", "required", query_token=True), *DEFAULT_RULES])
    with (
        TestClient(gate.asgi(starlette_app())) as tc,
        tc.websocket_connect(f"/ws?authtoken={gate.issue('user', 1)}") as ws,
    ):
        assert ws.receive_json() == {"user": "1"}
