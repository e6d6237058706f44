"""§Integrations: every runnable example, started as a newcomer starts it (its server, in a
subprocess, on a free port) and driven over HTTP.

The servers start together once per module, each with its own SQLite file (``EXAMPLE_DB``) and
one key set (``JWE_GATE_KEYS``) that the test also mints admin tokens with. Each example gets the
same life cycle (signup, login, a public route, a protected route refused without a token and
served with one), then the checks of its own in one table.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from jwe_gate import Gate, KeyRing, MemoryBackend, Table

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "s3cret-pass1"
UNAUTHORIZED = {
    "code": "ERROR_CODE_UNAUTHORIZED",
    "message": "Unauthorized - Authentication Required",
    "payload": None,
}
DENIED = {"code": "ERROR_CODE_ACCESS_DENIED", "message": "Access denied.", "payload": None}


def _uvicorn(target: str) -> Callable[[int], list[str]]:
    return lambda port: [
        *(sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1"),
        *("--port", str(port), "--log-level", "warning"),
    ]


def _waitress(target: str) -> Callable[[int], list[str]]:
    return lambda port: [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}", target]


def _gunicorn(target: str) -> Callable[[int], list[str]]:
    return lambda port: [
        *(sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1"),
        *("--log-level", "warning", target),
    ]


COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "flask_app": _waitress("examples.flask_app:app"),
    "starlette_app": _uvicorn("examples.starlette_app:app"),
    "fastapi_app": _uvicorn("examples.fastapi_app:app"),
    "plain_asgi": _uvicorn("examples.plain_asgi:app"),
    "plain_wsgi": _gunicorn("examples.plain_wsgi:app"),
}
"""How each example is served: the command its docstring gives."""


@dataclass
class Server:
    """A running example: its process, base URL and log (stdout and stderr)."""

    proc: subprocess.Popen[bytes]
    url: str
    log: IO[bytes]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def example_keys() -> KeyRing:
    """The key set every example reads from ``JWE_GATE_KEYS``."""
    return KeyRing.generate()


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, example_keys: KeyRing
) -> Iterator[dict[str, str]]:
    """Every example started at once; name -> base URL once each answers ``/health``."""
    data = tmp_path_factory.mktemp("examples")
    with ExitStack() as stack:
        running: dict[str, Server] = {}
        for name, command in COMMANDS.items():
            port = _free_port()
            env = {**os.environ, "JWE_GATE_KEYS": example_keys.to_json()}
            env["EXAMPLE_DB"] = str(data / f"{name}.db")  # its own file: no collisions
            # A file, not a pipe: a chatty server must never block on a full pipe.
            log = stack.enter_context(tempfile.TemporaryFile())
            proc = subprocess.Popen(
                command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            server = Server(proc, f"http://127.0.0.1:{port}", log)
            stack.callback(server.stop)
            running[name] = server
        waiting = dict(running)
        deadline = time.monotonic() + 60
        while waiting and time.monotonic() < deadline:
            for name, server in list(waiting.items()):
                if server.proc.poll() is not None:
                    pytest.fail(f"{name} exited {server.proc.returncode}:\n{server.output()}")
                if _answers(server.url):
                    del waiting[name]
            time.sleep(0.1)
        if waiting:
            pytest.fail(f"did not answer /health within 60 s: {sorted(waiting)}")
        yield {name: server.url for name, server in running.items()}


def _sign_up_and_log_in(url: str) -> dict[str, Any]:
    """Ann's signup answer, her record id (``/auth/me``) and a login answer, on ``url``."""
    with httpx.Client(base_url=url, timeout=30) as c:
        body = {"name": "Ann", "email": "ann@example.com", "password": PASSWORD}
        signup = c.post("/auth/signup", json=body)
        assert signup.status_code == 200, signup.text
        bearer = {"Authorization": f"Bearer {signup.json()['authToken']}"}
        me = c.get("/auth/me", headers=bearer)
        assert me.status_code == 200, me.text
        login = c.post("/auth/login", json={"email": body["email"], "password": PASSWORD})
        assert login.status_code == 200, login.text
    return {"signup": signup.json(), "id": me.json()["id"], "login": login.json()}


@pytest.fixture(scope="module")
def accounts(servers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Ann signed up and logged in on every example (at once: each hashes in its own process)."""
    with ThreadPoolExecutor(len(servers)) as pool:
        done = {name: pool.submit(_sign_up_and_log_in, url) for name, url in servers.items()}
    return {name: future.result() for name, future in done.items()}


EXAMPLES = [pytest.param(name, id=name) for name in COMMANDS]


@pytest.mark.parametrize("name", EXAMPLES)
def test_life_cycle(servers: dict[str, str], accounts: dict[str, Any], name: str) -> None:
    """Signup and login give tokens; /health is public; /api/me is 401 without a token and 200
    with the login's."""
    assert set(accounts[name]["signup"]) >= {"authToken", "refreshToken"}
    assert set(accounts[name]["login"]) >= {"authToken", "refreshToken"}
    token = accounts[name]["login"]["authToken"]
    with httpx.Client(base_url=servers[name], timeout=30) as c:
        assert c.get("/health").json() == {"status": "ok"}
        refused = c.get("/api/me")
        assert (refused.status_code, refused.json()) == (401, UNAUTHORIZED)
        assert refused.headers["www-authenticate"] == "Bearer"
        served = c.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert served.status_code == 200, served.text
        assert served.json()["name"] == "Ann"


@pytest.mark.parametrize(
    ("name", "method", "path", "who", "status", "expected"),
    [
        pytest.param("flask_app", "GET", "/static/example.css", None, 200, None, id="flask-static"),
        pytest.param("flask_app", "HEAD", "/static/example.css", None, 200, None, id="flask-head"),
        pytest.param(
            "flask_app", "GET", "/blog/posts", None, 200, {"reader": None}, id="flask-anon"
        ),
        pytest.param(
            "flask_app", "GET", "/blog/posts", "user", 200, {"reader": "Ann"}, id="flask-reader"
        ),
        pytest.param(
            "flask_app", "GET", "/blog/drafts", None, 401, UNAUTHORIZED, id="flask-login-required"
        ),
        pytest.param(
            "flask_app", "GET", "/blog/drafts", "user", 200, {"author": "Ann"}, id="flask-drafts"
        ),
        pytest.param(
            "flask_app", "GET", "/api/admin", None, 401, UNAUTHORIZED, id="flask-admin-anon"
        ),
        pytest.param(
            "flask_app", "GET", "/api/admin", "user", 403, DENIED, id="flask-admin-member"
        ),
        pytest.param(
            "flask_app", "GET", "/api/admin", "admin", 200, {"role": "admin"}, id="flask-admin"
        ),
        pytest.param(
            "starlette_app", "GET", "/api/admin", "user", 403, None, id="starlette-member"
        ),
        pytest.param(
            "starlette_app",
            "GET",
            "/api/admin",
            "admin",
            200,
            {"role": "admin"},
            id="starlette-admin",
        ),
        pytest.param("fastapi_app", "GET", "/docs", None, 200, None, id="fastapi-docs"),
        pytest.param(
            "fastapi_app", "GET", "/blog/posts", "user", 200, {"reader": "Ann"}, id="fastapi-reader"
        ),
        pytest.param("fastapi_app", "GET", "/api/admin", "user", 403, DENIED, id="fastapi-member"),
        pytest.param(
            "fastapi_app", "GET", "/api/admin", "admin", 200, {"role": "admin"}, id="fastapi-admin"
        ),
        pytest.param(
            "plain_asgi", "GET", "/nowhere", "user", 404, {"error": "not found"}, id="asgi-404"
        ),
        pytest.param(
            "plain_asgi", "GET", "/nowhere", None, 401, UNAUTHORIZED, id="asgi-default-required"
        ),
        pytest.param(
            "plain_wsgi", "GET", "/nowhere", "user", 404, {"error": "not found"}, id="wsgi-404"
        ),
        pytest.param(
            "plain_wsgi", "GET", "/nowhere", None, 401, UNAUTHORIZED, id="wsgi-default-required"
        ),
        pytest.param(
            "plain_wsgi",
            "GET",
            "/api/me",
            "admin",
            200,
            {"scopes": ["authenticated", "admin"]},
            id="wsgi-scopes",
        ),
    ],
)
def test_example_routes(
    servers: dict[str, str],
    accounts: dict[str, Any],
    example_keys: KeyRing,
    name: str,
    method: str,
    path: str,
    who: str | None,
    status: int,
    expected: dict[str, Any] | None,
) -> None:
    """Each example's own routes answer as its comments say (public, optional, login_required,
    requires("admin"), the default rule)."""
    headers = {}
    if who == "user":
        headers["Authorization"] = f"Bearer {accounts[name]['login']['authToken']}"
    elif who == "admin":
        minter = Gate(keys=example_keys, tables=[Table("user", MemoryBackend())])
        admin = minter.issue("user", accounts[name]["id"], extras={"role": "admin"})
        headers["Authorization"] = f"Bearer {admin}"
    with httpx.Client(base_url=servers[name], timeout=30) as c:
        reply = c.request(method, path, headers=headers)
    assert reply.status_code == status, reply.text
    if expected is not None:
        assert expected.items() <= reply.json().items()
