"""The same behaviour through both adapters: what the app sees, WebSockets (raw, TestClient and a
live uvicorn), lifespan, backends (failing, async, threaded), revocation by the record, the
default mode, and the Gate's configuration errors."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning
from starlette.websockets import WebSocketDisconnect
from support.apps import admins, starlette_app, users
from support.clients import ASGIClient, WSGIClient, wrap
from support.results import RawClient
from support.servers import running_uvicorn
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from jwe_gate import (
    AnonymousUser,
    AuthInfo,
    AuthUser,
    ConfigurationError,
    Gate,
    KeyRing,
    MemoryBackend,
    Rule,
    SQLiteBackend,
    Table,
)

with warnings.catch_warnings():
    # Starlette 1.x prefers httpx2 for its TestClient; the test extras install httpx, which it
    # still supports with this one deprecation warning.
    warnings.filterwarnings(
        "ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning
    )
    from starlette.testclient import TestClient, WebSocketDenialResponse

# -- helpers ---------------------------------------------------------------------------------


class Capture:
    """A bare ASGI and WSGI app that records what the gate handed it, and on which thread."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, Any, Any]] = []

    async def asgi(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append((threading.get_ident(), scope.get("user"), scope.get("auth")))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-handled", b"1")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})

    def wsgi(self, environ: Any, start_response: Any) -> list[bytes]:
        self.calls.append(
            (threading.get_ident(), environ.get("jwe_gate.user"), environ.get("jwe_gate.auth"))
        )
        start_response("200 OK", [("X-Handled", "1")])
        return [b"ok"]

    def client(self, gate: Gate, adapter: str) -> RawClient:
        if adapter == "asgi":
            return ASGIClient(gate.asgi(self.asgi))
        return WSGIClient(gate.wsgi(self.wsgi))


class DictBackend:
    """A minimal sync backend *without* ``inline``; notes the thread of every ``get``."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {str(r["id"]): dict(r) for r in records}
        self.get_threads: list[int] = []

    def get(self, table: str, id: str) -> dict[str, Any] | None:
        self.get_threads.append(threading.get_ident())
        record = self.records.get(id)
        return dict(record) if record is not None else None

    def find(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        return next((dict(r) for r in self.records.values() if r.get(field) == value), None)

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> dict[str, Any]:
        record = {**fields, "id": len(self.records) + 1, "created_at": int(time.time() * 1000)}
        self.records[str(record["id"])] = record
        return dict(record)

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        if id not in self.records:
            return None
        self.records[id].update(changes)
        return dict(self.records[id])


class AsyncDictBackend:
    """A tiny asynchronous backend: only the ``a``-prefixed coroutines."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {str(r["id"]): dict(r) for r in records}
        self.aget_calls = 0

    async def aget(self, table: str, id: str) -> dict[str, Any] | None:
        self.aget_calls += 1
        await asyncio.sleep(0)  # really yields to the loop
        record = self.records.get(id)
        return dict(record) if record is not None else None

    async def afind(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        return next((dict(r) for r in self.records.values() if r.get(field) == value), None)

    async def acreate(
        self, table: str, fields: Mapping[str, Any], *, unique: str
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        record = {**fields, "id": len(self.records) + 1, "created_at": int(time.time() * 1000)}
        self.records[str(record["id"])] = record
        return dict(record)

    async def aupdate(
        self, table: str, id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        if id not in self.records:
            return None
        self.records[id].update(changes)
        return dict(self.records[id])


class FailingBackend:
    """A sync backend whose reads fail the way a dead database does."""

    def get(self, table: str, id: str) -> dict[str, Any] | None:
        raise ConnectionError("db down: password=hunter2 at 10.0.0.5")

    def find(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        raise ConnectionError("db down")

    def create(self, table: str, fields: Mapping[str, Any], *, unique: str) -> dict[str, Any]:
        raise ConnectionError("db down")

    def update(self, table: str, id: str, changes: Mapping[str, Any]) -> dict[str, Any] | None:
        raise ConnectionError("db down")


class FailingAsyncBackend:
    """An async backend whose reads fail."""

    async def aget(self, table: str, id: str) -> dict[str, Any] | None:
        raise ConnectionError("db down: password=hunter2 at 10.0.0.5")

    async def afind(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        raise ConnectionError("db down")

    async def acreate(
        self, table: str, fields: Mapping[str, Any], *, unique: str
    ) -> dict[str, Any]:
        raise ConnectionError("db down")

    async def aupdate(
        self, table: str, id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        raise ConnectionError("db down")


def gate_over(make_gate: Callable[..., Gate], backend: Any, **kwargs: Any) -> Gate:
    """A gate whose first table ``user`` lives in ``backend``."""
    return make_gate(
        tables=[
            Table("user", backend, hidden=("secret_note",)),
            Table("admin", MemoryBackend(admins())),
        ],
        **kwargs,
    )


def auth_header(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# -- what the app sees -----------------------------------------------------------------------


class TestWhatTheAppSees:
    def test_user_and_auth_objects(self, gate: Gate, adapter: str) -> None:
        """The app gets an AuthUser (public record, identity, display_name, table, extras) and
        an AuthInfo (table, claims, extras, raw token, scopes)."""
        capture = Capture()
        token = gate.issue("user", 1, extras={"role": "editor", "plan": "pro"})
        res = capture.client(gate, adapter)("GET", "/api/hello", auth_header(token))
        assert res.status == 200
        [(_, user, auth)] = capture.calls
        assert isinstance(user, AuthUser)
        assert isinstance(auth, AuthInfo)
        assert user.is_authenticated
        assert dict(user.record) == {"id": 1, "name": "Ann", "email": "ann@example.com"}
        assert user.identity == "1"
        assert user.display_name == "Ann"
        assert user["email"] == "ann@example.com"
        assert user.get("password") is None
        assert user.table == "user"
        assert dict(user.extras) == {"role": "editor", "plan": "pro"}
        assert auth.table == "user"
        assert auth.scopes == ("authenticated", "editor")
        assert dict(auth.extras) == {"role": "editor", "plan": "pro"}
        assert auth.token == token
        assert auth.claims is not None
        assert (auth.claims.sub, auth.claims.tbl) == ("1", "user")

    def test_real_apps_read_request_user(self, client: RawClient, gate: Gate) -> None:
        """Starlette's request.user/request.auth and Flask's environ expose the same view."""
        token = gate.issue("user", 1, extras={"role": "editor"})
        res = client("GET", "/api/hello", auth_header(token))
        assert res.status == 200
        assert res.json == {
            "authenticated": True,
            "identity": "1",
            "record": {"id": 1, "name": "Ann", "email": "ann@example.com"},
            "table": "user",
            "scopes": ["authenticated", "editor"],
            "extras": {"role": "editor"},
        }

    def test_admin_table_token(self, client: RawClient, gate: Gate) -> None:
        """A token of the admin table on an admin route names an admin record."""
        res = client("GET", "/admin/stats", auth_header(gate.issue("admin", 1)))
        assert res.status == 200
        assert res.json["table"] == "admin"
        assert res.json["record"] == {"id": 1, "name": "Root", "email": "root@example.com"}

    def test_anonymous_on_optional_route(self, gate: Gate, adapter: str) -> None:
        """Without a token an optional route sees an AnonymousUser and empty AuthInfo."""
        capture = Capture()
        assert capture.client(gate, adapter)("GET", "/blog/x").status == 200
        [(_, user, auth)] = capture.calls
        assert isinstance(user, AnonymousUser)
        assert not user.is_authenticated
        assert (user.identity, user.display_name) == ("", "")
        assert auth == AuthInfo()
        assert auth.scopes == ()

    def test_scopes_from_role_and_scopes_list(self, gate: Gate, adapter: str) -> None:
        """Default scopes: "authenticated", the role, then the string items of extras.scopes."""
        capture = Capture()
        token = gate.issue("user", 2, extras={"role": "admin", "scopes": ["read", 3, "write"]})
        capture.client(gate, adapter)("GET", "/api/hello", auth_header(token))
        [(_, _, auth)] = capture.calls
        assert auth.scopes == ("authenticated", "admin", "read", "write")

    def test_custom_scopes_function(self, make_gate: Callable[..., Gate], adapter: str) -> None:
        """Gate(scopes=...) derives the scopes beside "authenticated"."""
        gate = make_gate(scopes=lambda extras: [f"plan:{extras['plan']}"])
        capture = Capture()
        token = gate.issue("user", 1, extras={"plan": "pro", "role": "ignored"})
        capture.client(gate, adapter)("GET", "/api/hello", auth_header(token))
        [(_, _, auth)] = capture.calls
        assert auth.scopes == ("authenticated", "plan:pro")

    @pytest.mark.parametrize(
        ("record", "display"),
        [
            pytest.param({"id": 7, "name": "Ann", "email": "a@x.io"}, "Ann", id="name"),
            pytest.param({"id": 7, "name": "", "email": "a@x.io"}, "a@x.io", id="email"),
            pytest.param({"id": 7, "username": "ann"}, "ann", id="username"),
            pytest.param({"id": 7}, "7", id="id"),
        ],
    )
    def test_display_name(self, record: dict[str, Any], display: str) -> None:
        """display_name is the name, else the email, else the username, else the id."""
        assert AuthUser(record, "user").display_name == display


class TestRequires:
    @pytest.mark.parametrize(
        ("extras", "allowed"),
        [
            pytest.param({"role": "admin"}, True, id="role-admin"),
            pytest.param({"scopes": ["admin"]}, True, id="scopes-admin"),
            pytest.param({"role": "editor"}, False, id="role-editor"),
            pytest.param({}, False, id="no-role"),
        ],
    )
    def test_requires_admin(
        self, client: RawClient, gate: Gate, extras: dict[str, Any], allowed: bool
    ) -> None:
        """Starlette's @requires("admin") (and Flask's scope check) follows auth.scopes; a
        refusal comes from the app, not the gate."""
        res = client("GET", "/requires-admin", auth_header(gate.issue("user", 1, extras=extras)))
        if allowed:
            assert res.status == 200
            assert res.json == {"admin": True}
        else:
            assert res.status == 403
            assert res.json is None or "code" not in res.json

    def test_requires_without_token_is_the_gates_401(self, client: RawClient) -> None:
        """Without a token the gate answers first (default: required)."""
        res = client("GET", "/requires-admin")
        assert res.status == 401
        assert res.json["code"] == "ERROR_CODE_UNAUTHORIZED"


# -- lifespan ----------------------------------------------------------------------------------


def test_lifespan_passes_through_untouched(gate: Gate) -> None:
    """A lifespan scope reaches the app as it is, with its receive and send, both phases."""
    seen: list[Any] = []
    sent: list[MutableMapping[str, Any]] = []
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    asyncio.run(gate.asgi(app)(scope, receive, send))
    [(got_scope, got_receive, got_send)] = seen
    assert got_scope is scope
    assert got_scope == {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": {},
    }
    assert (got_receive, got_send) == (receive, send)
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]


# -- WebSockets ----------------------------------------------------------------------------------


def drive_websocket(
    asgi: Any, headers: list[tuple[str, str]], *, extension: bool
) -> tuple[list[dict[str, Any]], list[Any]]:
    """Open /ws raw; return what was sent to the client and the scopes the app got."""
    app_scopes: list[Any] = []
    sent: list[dict[str, Any]] = []
    inbox = [{"type": "websocket.connect"}]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        app_scopes.append(scope)
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["user"].identity})
        await send({"type": "websocket.close", "code": 1000})

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}} if extension else {},
    }
    asyncio.run(asgi(app)(scope, receive, send))
    return sent, app_scopes


class TestWebSocket:
    def test_raw_refusal_closes_before_accept(self, gate: Gate) -> None:
        """Without the http.response extension a refused WebSocket is closed, never accepted,
        and the app never runs."""
        sent, app_scopes = drive_websocket(gate.asgi, [], extension=False)
        assert sent == [{"type": "websocket.close", "code": 1008}]
        assert app_scopes == []

    @pytest.mark.parametrize(
        ("header", "www"),
        [
            pytest.param(None, "Bearer", id="no-token"),
            pytest.param("Bearer not-a-token", 'Bearer error="invalid_token"', id="bad-token"),
        ],
    )
    def test_raw_refusal_with_http_response_extension(
        self, gate: Gate, header: str | None, www: str
    ) -> None:
        """With the extension the refusal is an HTTP 403 (SPEC §Rules) whose Xano body says why."""
        headers = [] if header is None else [("Authorization", header)]
        sent, app_scopes = drive_websocket(gate.asgi, headers, extension=True)
        assert app_scopes == []
        assert [m["type"] for m in sent] == [
            "websocket.http.response.start",
            "websocket.http.response.body",
        ]
        assert sent[0]["status"] == 403
        hdrs = {k.decode(): v.decode() for k, v in sent[0]["headers"]}
        assert hdrs["www-authenticate"] == www
        assert hdrs["content-type"] == "application/json"
        assert json.loads(sent[1]["body"])["code"] == "ERROR_CODE_UNAUTHORIZED"

    def test_raw_accepted_with_token(self, gate: Gate) -> None:
        """With a valid token the app runs with scope["user"] set."""
        sent, app_scopes = drive_websocket(
            gate.asgi, auth_header(gate.issue("user", 2)), extension=True
        )
        assert [m["type"] for m in sent] == [
            "websocket.accept",
            "websocket.send",
            "websocket.close",
        ]
        assert sent[1]["text"] == "2"
        assert app_scopes[0]["auth"].table == "user"

    def test_testclient_refused_without_token(self, gate: Gate) -> None:
        """Starlette's TestClient sees the WebSocket denied with a 403, never accepted."""
        with (
            TestClient(gate.asgi(starlette_app())) as tc,
            pytest.raises(WebSocketDisconnect) as info,
            tc.websocket_connect("/ws"),
        ):
            pytest.fail("the WebSocket was accepted")  # pragma: no cover
        denial = info.value
        assert isinstance(denial, WebSocketDenialResponse)
        assert denial.status_code == 403
        assert denial.json()["message"] == "Unauthorized - Authentication Required"

    @pytest.mark.parametrize(
        "header",
        [
            pytest.param("Authorization", id="authorization"),
            pytest.param("X-Xano-Authorization", id="xano"),
        ],
    )
    def test_testclient_accepted_with_token(self, gate: Gate, header: str) -> None:
        """Starlette's WebSocket route runs with websocket.user set from the token."""
        token = gate.issue("user", 1)
        with (
            TestClient(gate.asgi(starlette_app())) as tc,
            tc.websocket_connect("/ws", headers={header: f"Bearer {token}"}) as ws,
        ):
            assert ws.receive_json() == {"user": "1"}


@pytest.fixture
def live_server(gate: Gate) -> Iterator[str]:
    """uvicorn serving the gated Starlette app on a free 127.0.0.1 port, in a thread."""
    with running_uvicorn(gate.asgi(starlette_app()), ws="websockets-sansio", lifespan="on") as port:
        yield f"127.0.0.1:{port}"


class TestLiveUvicorn:
    def test_websocket_refused_without_token(self, live_server: str) -> None:
        """A real WebSocket handshake without a token is answered 403, not upgraded."""
        with (
            pytest.raises(InvalidStatus) as info,
            connect(f"ws://{live_server}/ws", open_timeout=5),
        ):
            pytest.fail("the WebSocket was accepted")  # pragma: no cover
        assert info.value.response.status_code == 403

    def test_websocket_echoes_identity_with_token(self, live_server: str, gate: Gate) -> None:
        """A real WebSocket with a token is accepted and the app sees the user."""
        headers = auth_header(gate.issue("user", 2))
        with connect(f"ws://{live_server}/ws", additional_headers=headers, open_timeout=5) as ws:
            assert json.loads(ws.recv(timeout=5)) == {"user": "2"}

    def test_http_through_a_real_server(self, live_server: str, gate: Gate) -> None:
        """Over real HTTP: 401 with the Xano body without a token, 200 with one."""
        with httpx.Client(base_url=f"http://{live_server}", timeout=5) as http:
            refused = http.get("/api/hello")
            ok = http.get("/api/hello", headers=dict(auth_header(gate.issue("user", 1))))
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["code"] == "ERROR_CODE_UNAUTHORIZED"
        assert ok.status_code == 200
        assert ok.json()["identity"] == "1"


# -- backends --------------------------------------------------------------------------------------


class TestBackends:
    @pytest.mark.parametrize(
        "backend",
        [
            pytest.param(FailingBackend, id="sync"),
            pytest.param(FailingAsyncBackend, id="async"),
        ],
    )
    def test_failing_backend_is_a_503(
        self,
        make_gate: Callable[..., Gate],
        adapter: str,
        backend: type,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """A backend that raises gives a 503 Xano body; the exception goes to the jwe_gate
        logger, never to the server or the client."""
        gate = gate_over(make_gate, backend())
        with caplog.at_level(logging.ERROR, logger="jwe_gate"):
            res = wrap(gate, adapter)("GET", "/echo", auth_header(gate.issue("user", 1)))
        assert res.status == 503
        assert not res.handled
        assert res.header("content-type") == "application/json"
        assert res.header("retry-after") is not None
        assert set(res.json) == {"code", "message", "payload"}
        assert b"Traceback" not in res.body
        assert b"hunter2" not in res.body
        assert b"ConnectionError" not in res.body
        [logged] = [r for r in caplog.records if r.name == "jwe_gate" and r.exc_info]
        assert isinstance(logged.exc_info[1], ConnectionError)  # type: ignore[index]

    def test_failing_backend_spares_routes_without_lookup(
        self, make_gate: Callable[..., Gate], adapter: str
    ) -> None:
        """No record read, no failure: public, anonymous and tokenless requests are unaffected."""
        client = wrap(gate_over(make_gate, FailingBackend()), adapter)
        assert client("GET", "/health").status == 200
        assert client("GET", "/blog/x").status == 200
        assert client("GET", "/echo").status == 401

    def test_async_backend_works_under_both_adapters(
        self, make_gate: Callable[..., Gate], adapter: str
    ) -> None:
        """An AsyncBackend serves lookups under ASGI (awaited) and WSGI (bridged)."""
        backend = AsyncDictBackend(users())
        gate = gate_over(make_gate, backend)
        client = wrap(gate, adapter)
        res = client("GET", "/echo", auth_header(gate.issue("user", 2)))
        assert res.status == 200
        assert res.json["record"] == {"id": 2, "name": "Bob", "email": "bob@example.com"}
        assert client("GET", "/echo", auth_header(gate.issue("user", 99))).status == 401
        assert backend.aget_calls == 2

    def test_sync_backend_without_inline_runs_off_the_loop(
        self, make_gate: Callable[..., Gate]
    ) -> None:
        """Under ASGI a sync backend without ``inline`` is read in a worker thread."""
        backend = DictBackend(users())
        gate = gate_over(make_gate, backend)
        capture = Capture()
        assert (
            capture.client(gate, "asgi")("GET", "/echo", auth_header(gate.issue("user", 1))).status
            == 200
        )
        [(loop_thread, user, _)] = capture.calls
        assert user.identity == "1"
        assert len(backend.get_threads) == 1
        assert backend.get_threads[0] != loop_thread

    @pytest.mark.parametrize("kind", ["memory", "sqlite"])
    def test_inline_backends_run_on_the_loop(
        self, make_gate: Callable[..., Gate], tmp_path: Path, kind: str
    ) -> None:
        """MemoryBackend and SQLiteBackend (inline = True) are read on the event loop."""
        threads: list[int] = []
        backend: Any
        if kind == "memory":

            class RecordingMemory(MemoryBackend):
                def get(self, table: str, id: str) -> Any:
                    threads.append(threading.get_ident())
                    return super().get(table, id)

            backend = RecordingMemory(users())
        else:

            class RecordingSQLite(SQLiteBackend):
                def get(self, table: str, id: str) -> Any:
                    threads.append(threading.get_ident())
                    return super().get(table, id)

            backend = RecordingSQLite(tmp_path / "inline.db")
            backend.create("user", {"email": "ann@example.com", "name": "Ann"}, unique="email")
        try:
            gate = gate_over(make_gate, backend)
            capture = Capture()
            res = capture.client(gate, "asgi")("GET", "/echo", auth_header(gate.issue("user", 1)))
        finally:
            if isinstance(backend, SQLiteBackend):
                backend.close()
        assert res.status == 200
        [(loop_thread, _, _)] = capture.calls
        assert threads == [loop_thread]


# -- revocation by the record ----------------------------------------------------------------------


class TestRevocation:
    def test_deleted_record_is_refused(self, make_gate: Callable[..., Gate], adapter: str) -> None:
        """A token stops working once its record is deleted, even a token already seen (at
        once with recheck_after=0; test_remembered_tokens.py proves the default's second)."""
        backend = DictBackend(users())
        gate = gate_over(make_gate, backend, recheck_after=0)
        client = wrap(gate, adapter)
        headers = auth_header(gate.issue("user", 2))
        assert client("GET", "/echo", headers).status == 200
        del backend.records["2"]
        res = client("GET", "/echo", headers)
        assert res.status == 401
        assert res.json["code"] == "ERROR_CODE_UNAUTHORIZED"
        assert 'error="invalid_token"' in (res.header("www-authenticate") or "")

    @pytest.mark.parametrize(
        ("iat_offset", "status"),
        [
            pytest.param(-3600, 401, id="an-hour-before"),
            pytest.param(-10, 401, id="seconds-before"),
            pytest.param(-0.6, 401, id="previous-second"),
            # Without a password stamp only whole seconds count: earlier in the change's own second
            # is not "before" (documented; the endpoints' tokens carry the stamp and are exact).
            pytest.param(-0.3, 200, id="same-second-before-unstamped"),
            pytest.param(0.1, 200, id="same-second-after"),
            pytest.param(10, 200, id="after"),
        ],
    )
    def test_unstamped_token_issued_before_password_change(
        self, make_gate: Callable[..., Gate], adapter: str, iat_offset: float, status: int
    ) -> None:
        """A gate.issue token whose iat (whole seconds) precedes the record's
        password_changed_at is refused; the app never sees password_changed_at."""
        backend = MemoryBackend(users())
        gate = gate_over(make_gate, backend)
        changed = math.floor(time.time()) - 60 + 0.5  # half-way through a second
        backend.update("user", "1", {"password_changed_at": changed})
        token = gate.issue("user", 1, now=changed + iat_offset, ttl=2 * 3600)
        res = wrap(gate, adapter)("GET", "/echo", auth_header(token))
        assert res.status == status
        if status == 200:
            assert "password_changed_at" not in res.json["record"]
        else:
            assert res.json["code"] == "ERROR_CODE_UNAUTHORIZED"

    @pytest.mark.parametrize(
        ("record_stamp", "token_stamp", "status"),
        [
            pytest.param(None, 0, 200, id="never-changed"),
            pytest.param(1_700_000_000.25, 1_700_000_000.25, 200, id="minted-after-the-change"),
            pytest.param(1_700_000_000.25, 0, 401, id="minted-before-any-change"),
            pytest.param(1_700_000_000.75, 1_700_000_000.25, 401, id="same-second-later-change"),
        ],
    )
    def test_stamped_token_must_match_the_records_password_stamp(
        self,
        make_gate: Callable[..., Gate],
        adapter: str,
        record_stamp: float | None,
        token_stamp: float,
        status: int,
    ) -> None:
        """A token carrying the password stamp (pwc) counts only while it equals the record's
        password_changed_at: exact revocation, even within one second."""
        backend = MemoryBackend(users())
        gate = gate_over(make_gate, backend)
        if record_stamp is not None:
            backend.update("user", "1", {"password_changed_at": record_stamp})
        token = gate.issue("user", 1, password_stamp=token_stamp)
        assert wrap(gate, adapter)("GET", "/echo", auth_header(token)).status == status


# -- the default mode ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("default", "token", "status", "authenticated"),
    [
        pytest.param(None, None, 401, None, id="required-by-default-none"),
        pytest.param(None, "valid", 200, True, id="required-by-default-valid"),
        pytest.param("public", None, 200, False, id="public-none"),
        pytest.param("public", "garbage", 200, False, id="public-garbage-not-read"),
        pytest.param("public", "valid", 200, False, id="public-valid-not-read"),
        pytest.param("optional", None, 200, False, id="optional-none"),
        pytest.param("optional", "garbage", 401, None, id="optional-garbage"),
        pytest.param("optional", "valid", 200, True, id="optional-valid"),
    ],
)
def test_default_mode(
    make_gate: Callable[..., Gate],
    adapter: str,
    default: str | None,
    token: str | None,
    status: int,
    authenticated: bool | None,
) -> None:
    """Paths no rule matches get Gate(default=...), and required when it is not given."""
    gate = make_gate(rules=(), **({} if default is None else {"default": default}))
    headers = {
        None: [],
        "garbage": [("Authorization", "Bearer garbage")],
        "valid": auth_header(gate.issue("user", 1)),
    }[token]
    res = wrap(gate, adapter)("GET", "/echo", headers)
    assert res.status == status
    if authenticated is not None:
        assert res.json["authenticated"] is authenticated


# -- configuration -----------------------------------------------------------------------------


def _tables() -> list[Table]:
    return [Table("user", MemoryBackend()), Table("admin", MemoryBackend())]


@pytest.mark.parametrize(
    "make_kwargs",
    [
        pytest.param(lambda keys: {"keys": keys, "tables": []}, id="no-tables"),
        pytest.param(
            lambda keys: {
                "keys": keys,
                "tables": [Table("user", MemoryBackend()), Table("user", MemoryBackend())],
            },
            id="duplicate-table-names",
        ),
        pytest.param(
            lambda keys: {
                "keys": keys,
                "tables": _tables(),
                "rules": [Rule("/x/**", table="staff")],
            },
            id="rule-names-unknown-table",
        ),
        pytest.param(
            lambda keys: {"keys": keys.to_json(), "tables": _tables()}, id="keys-as-json-string"
        ),
        pytest.param(lambda keys: {"keys": None, "tables": _tables()}, id="keys-none"),
        pytest.param(lambda keys: {"keys": {"keys": []}, "tables": _tables()}, id="keys-as-dict"),
        pytest.param(lambda keys: {"keys": keys, "tables": ["user"]}, id="table-as-string"),
        pytest.param(
            lambda keys: {"keys": keys, "tables": _tables(), "rules": ["/x"]}, id="rule-as-string"
        ),
        pytest.param(
            lambda keys: {"keys": keys, "tables": _tables(), "default": "private"},
            id="unknown-default-mode",
        ),
    ],
)
def test_gate_configuration_errors(keys: KeyRing, make_kwargs: Callable[[KeyRing], Any]) -> None:
    """A bad Gate configuration raises ConfigurationError (a ValueError) at construction."""
    with pytest.raises(ConfigurationError) as info:
        Gate(**make_kwargs(keys))
    assert isinstance(info.value, ValueError)


def test_gate_minimal_configuration(keys: KeyRing) -> None:
    """The baseline the error cases vary: keys and one table build a gate."""
    gate = Gate(keys=keys, tables=_tables(), rules=[Rule("/x/**", table="admin")])
    assert list(gate.tables) == ["user", "admin"]


# -- user code and records that must fail closed ---------------------------------------------


@pytest.mark.parametrize(
    ("rule", "record_extra"),
    [
        pytest.param(
            Rule("/echo", when={"roles": {"admin"}}),
            {"roles": ["admin"]},
            id="unhashable-record-value-in-a-set",
        ),
        pytest.param(Rule("/echo", when=lambda user: bool(1 / 0)), {}, id="raising-callable"),
    ],
)
def test_a_failing_condition_denies(
    make_gate: Callable[..., Gate], adapter: str, rule: Rule, record_extra: dict[str, Any]
) -> None:
    """A when= condition that raises is a 403, never a 500 or a pass."""
    backend = MemoryBackend([{**users()[0], **record_extra}])
    gate = gate_over(make_gate, backend, rules=[rule])
    res = wrap(gate, adapter)("GET", "/echo", auth_header(gate.issue("user", 1)))
    assert res.status == 403
    assert res.json["code"] == "ERROR_CODE_ACCESS_DENIED"


def test_a_failing_scopes_function_denies(make_gate: Callable[..., Gate], adapter: str) -> None:
    """A scopes function that raises is a 403, never a 500 or a pass."""

    def scopes(extras: Any) -> list[str]:
        raise KeyError("role")

    gate = make_gate(scopes=scopes)
    res = wrap(gate, adapter)("GET", "/echo", auth_header(gate.issue("user", 1)))
    assert res.status == 403


@pytest.mark.parametrize(
    ("created_offset", "status"),
    [
        pytest.param(+3600, 401, id="record-newer-than-token"),
        pytest.param(+31, 401, id="newer-by-more-than-the-leeway"),
        pytest.param(+29, 200, id="clock-skew-within-the-leeway"),
        pytest.param(0, 200, id="same-second"),
        pytest.param(-3600, 200, id="record-older"),
    ],
)
def test_a_token_older_than_its_record_is_refused(
    make_gate: Callable[..., Gate], adapter: str, created_offset: int, status: int
) -> None:
    """A token minted before its record existed (an id reused by a backend) is refused."""
    now = int(time.time())
    backend = MemoryBackend([{**users()[0], "created_at": (now + created_offset) * 1000}])
    gate = gate_over(make_gate, backend)
    token = gate.issue("user", 1, now=now, ttl=7200)
    assert wrap(gate, adapter)("GET", "/echo", auth_header(token)).status == status
