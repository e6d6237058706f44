"""``jwe-gate demo --query-token`` (SPEC §Demo): ``/api/**`` also accepts ``?authtoken=``, over
real HTTP on uvicorn (ASGI) and waitress (``--wsgi``); without the flag the query is ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_demo import Demo, bearer, signup, start_demo, unique_email

from jwe_gate import KeyRing


def _start(tmp: Path, *args: str) -> Demo:
    keys = tmp / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    return start_demo(tmp, "--db", str(tmp / "demo.db"), "--keys", str(keys), *args)


@pytest.fixture(
    scope="module", params=[pytest.param([], id="asgi"), pytest.param(["--wsgi"], id="wsgi")]
)
def query_demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The demo started with ``--query-token``."""
    server = _start(tmp_path_factory.mktemp("query-demo"), "--query-token", *request.param)
    yield server
    server.stop()


def test_query_token_reaches_api_hello(query_demo: Demo) -> None:
    """A token from signup, sent as ``?authtoken=``, authenticates ``/api/hello``."""
    with query_demo.client() as c:
        tokens = signup(c, unique_email("query"))
        resp = c.get("/api/hello", params={"authtoken": tokens["authToken"]})
        assert resp.status_code == 200, resp.text
        assert resp.json() == c.get("/api/hello", headers=bearer(tokens)).json()


def test_query_token_ambiguities_over_http(query_demo: Demo) -> None:
    """Repeated, or beside a header token: 400 naming ``authtoken``; garbage: 401."""
    with query_demo.client() as c:
        tokens = signup(c, unique_email("query-twice"))
        token = tokens["authToken"]
        twice = c.get(f"/api/hello?authtoken={token}&authtoken={token}")
        both = c.get("/api/hello", params={"authtoken": token}, headers=bearer(tokens))
        garbage = c.get("/api/hello", params={"authtoken": "garbage"})
    assert (twice.status_code, both.status_code, garbage.status_code) == (400, 400, 401)
    assert twice.json()["payload"] == both.json()["payload"] == {"param": "authtoken"}


def test_query_token_is_not_accepted_outside_api(query_demo: Demo) -> None:
    """The flag opens only ``/api/**``: ``/auth/me`` still needs a header."""
    with query_demo.client() as c:
        tokens = signup(c, unique_email("query-me"))
        resp = c.get("/auth/me", params={"authtoken": tokens["authToken"]})
        assert resp.status_code == 401


def test_without_the_flag_the_query_token_is_ignored(tmp_path: Path) -> None:
    """The plain demo reads no ``?authtoken=``: 401 without a header."""
    server = _start(tmp_path)
    try:
        with server.client() as c:
            tokens = signup(c, unique_email("no-query"))
            resp = c.get("/api/hello", params={"authtoken": tokens["authToken"]})
            assert resp.status_code == 401
    finally:
        server.stop()
