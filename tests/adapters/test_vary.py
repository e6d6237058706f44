"""``Vary: Cookie`` on the app's answers wherever the cookie transport was read, through both
adapters: a shared cache keyed without the cookie would hand one user's page to another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from support.clients import wrap

from jwe_gate import Cookies, Gate
from jwe_gate._asgi import with_vary as asgi_with_vary
from jwe_gate._sansio.http import varies
from jwe_gate._wsgi import with_vary as wsgi_with_vary

PASSWORD = "correct horse 1"


def vary_lines(headers: Iterable[tuple[str, str]]) -> list[str]:
    return [v for k, v in headers if k.lower() == "vary"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], False, id="none"),
        pytest.param(["Accept-Encoding"], False, id="another"),
        pytest.param(["Cookie"], True, id="listed"),
        pytest.param(["accept-encoding, cookie"], True, id="in-a-list-any-case"),
        pytest.param(["Origin", " Cookie "], True, id="on-a-second-line"),
        pytest.param(["*"], True, id="everything"),
        pytest.param(["Cookies", "X-Cookie"], False, id="only-alike"),
    ],
)
def test_varies_reads_every_vary_line(values: list[str], expected: bool) -> None:
    """A ``Vary`` already covers ``Cookie`` when a line lists it (any case) or says ``*``."""
    assert varies(values, "Cookie") is expected


def signed_in_cookie(gate: Gate, adapter: str) -> Callable[..., Any]:
    """A client that sends the access cookie of a fresh signup with every request."""
    client = wrap(gate, adapter)
    body = json.dumps({"email": "vera@example.com", "password": PASSWORD}).encode()
    res = client("POST", "/auth/signup", [("Content-Type", "application/json")], body=body)
    assert res.status == 200, res.json
    cookie = ("Cookie", f"jwe_access_user={res.json['authToken']}")
    return lambda method, path: client(method, path, [cookie])


@pytest.mark.parametrize(
    ("path", "vary"),
    [
        pytest.param("/api/hello", ["Cookie"], id="required-by-cookie"),
        pytest.param("/blog/post", ["Cookie"], id="optional-by-cookie"),
        pytest.param("/health", [], id="public-never-reads-it"),
    ],
)
def test_an_answer_the_cookie_decided_varies_on_it(
    make_auth_gate: Callable[..., Gate], adapter: str, path: str, vary: list[str]
) -> None:
    """With the cookie transport on, the app's answer on a required or optional path says
    ``Vary: Cookie``; a public path, whose rule reads no token, does not."""
    send = signed_in_cookie(make_auth_gate(cookies=Cookies(secure=False)), adapter)
    res = send("GET", path)
    assert (res.status, res.handled) == (200, True)
    assert vary_lines(res.headers) == vary


def test_an_anonymous_answer_varies_on_the_cookie(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Anonymous on an optional path: the same URL answers otherwise with a cookie, so it
    varies too."""
    client = wrap(make_auth_gate(cookies=Cookies(secure=False)), adapter)
    res = client("GET", "/blog/post")
    assert (res.status, res.json["authenticated"]) == (200, False)
    assert vary_lines(res.headers) == ["Cookie"]


def test_without_the_cookie_transport_nothing_varies(
    make_auth_gate: Callable[..., Gate], adapter: str
) -> None:
    """Without the cookie transport no cookie decides anything: no ``Vary`` is added."""
    gate = make_auth_gate()
    header = [("Authorization", f"Bearer {gate.issue('user', 1)}")]
    for path in ("/api/hello", "/blog/post", "/health"):
        res = wrap(gate, adapter)("GET", path, header)
        assert res.status == 200
        assert vary_lines(res.headers) == []


APP_VARY = [
    pytest.param([], ["Cookie"], id="none-added"),
    pytest.param(["Accept-Encoding"], ["Accept-Encoding", "Cookie"], id="kept-and-added"),
    pytest.param(["accept-encoding, cookie"], ["accept-encoding, cookie"], id="already-there"),
    pytest.param(["*"], ["*"], id="star-covers-it"),
]


@pytest.mark.parametrize(("sent", "expected"), APP_VARY)
def test_the_asgi_adapter_keeps_the_apps_vary(sent: list[str], expected: list[str]) -> None:
    """ASGI: the app's own ``Vary`` lines stay; ``Cookie`` is added once, unless covered."""
    messages: list[Any] = []

    async def record(message: Any) -> None:
        messages.append(message)

    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"vary", v.encode()) for v in sent],
    }

    async def respond() -> None:
        send = asgi_with_vary(record, "Cookie")
        await send(start)
        await send({"type": "http.response.body", "body": b"ok"})

    asyncio.run(respond())
    headers = [(k.decode(), v.decode()) for k, v in messages[0]["headers"]]
    assert vary_lines(headers) == expected
    assert messages[1] == {"type": "http.response.body", "body": b"ok"}


@pytest.mark.parametrize(("sent", "expected"), APP_VARY)
def test_the_wsgi_adapter_keeps_the_apps_vary(sent: list[str], expected: list[str]) -> None:
    """WSGI: the app's own ``Vary`` lines stay; ``Cookie`` is added once, unless covered."""
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))
        return lambda data: None

    wsgi_with_vary(start_response, "Cookie")("200 OK", [("Vary", v) for v in sent])
    assert vary_lines(started[0][1]) == expected
