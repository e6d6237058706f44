"""§Integrations, Django: ``examples/django_project`` served by real servers in subprocesses
-- gunicorn (WSGI, the middleware's sync side) and uvicorn (ASGI, its async side) -- on free
ports, at the root and under a ``FORCE_SCRIPT_NAME`` prefix, exercised over HTTP.

A user made by Django's own ``create_user`` (a PBKDF2 hash) logs in through the gate and its
stored hash becomes argon2id; signups, ``/auth/me``, the protected and staff views, and the
public index behave as the SPEC says on every server."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwe_gate import KeyRing

PROJECT = Path(__file__).resolve().parents[2] / "examples" / "django_project"
PASSWORD = "s3cret-pass1"
BIN = Path(sys.executable).parent


@dataclass
class Served:
    """One running server: its base URL (prefix included) and the project's SQLite file."""

    url: str
    db: Path
    env: dict[str, str]

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=PROJECT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    def set_up(self) -> None:
        """Migrate, then make Ann and Sam (staff) with Django's own create_user: Django's
        default hasher, PBKDF2. One process for both (Django starts once)."""
        self.manage(
            "shell",
            "-c",
            "from django.core.management import call_command; "
            "from django.contrib.auth import get_user_model; "
            "call_command('migrate', verbosity=0); "
            "users = get_user_model().objects; "
            f"users.create_user('ann', 'ann@example.com', {PASSWORD!r}); "
            f"users.create_user('sam', 'sam@example.com', {PASSWORD!r}, is_staff=True)",
        )

    def stored_hash(self, email: str) -> str:
        with sqlite3.connect(self.db) as conn:
            row = conn.execute(
                "SELECT password FROM auth_user WHERE email = ?", (email,)
            ).fetchone()
        assert row is not None
        return str(row[0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVERS = {
    "gunicorn": lambda port: [
        str(BIN / "gunicorn"),
        "exampleproject.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ],
    "uvicorn": lambda port: [
        str(BIN / "uvicorn"),
        "exampleproject.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--lifespan",
        "off",
    ],
}


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("gunicorn", ""), id="gunicorn-wsgi"),
        pytest.param(("uvicorn", ""), id="uvicorn-asgi"),
        pytest.param(("gunicorn", "/prefix"), id="gunicorn-wsgi-script-name"),
        pytest.param(("uvicorn", "/prefix"), id="uvicorn-asgi-script-name"),
    ],
)
def served(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server, prefix = request.param
    db = tmp_path_factory.mktemp("django-example") / "example.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exampleproject.settings",
        "JWE_GATE_KEYS": KeyRing.generate().to_json(),
        "EXAMPLE_DB": str(db),
        "PYTHONPATH": str(PROJECT),
    }
    if prefix:
        # A proxy serves the project under /prefix: Django knows it (FORCE_SCRIPT_NAME) and
        # gunicorn strips it from PATH_INFO (SCRIPT_NAME); uvicorn passes the full path and
        # Django strips FORCE_SCRIPT_NAME itself.
        env["FORCE_SCRIPT_NAME"] = prefix
        if server == "gunicorn":
            env["SCRIPT_NAME"] = prefix
    port = _free_port()
    served = Served(f"http://127.0.0.1:{port}{prefix}", db, env)
    served.set_up()
    proc = subprocess.Popen(SERVERS[server](port), cwd=PROJECT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{server} exited with {proc.returncode}"
            try:
                httpx.get(f"{served.url}/", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, f"{server} did not start"
                time.sleep(0.1)
        yield served
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def login(served: Served, email: str, password: str = PASSWORD) -> httpx.Response:
    with served.client() as client:
        return client.post("/auth/login", json={"email": email, "password": password})


def test_the_index_is_public(served: Served) -> None:
    """/ is public under every server and prefix: Django's AnonymousUser, no token read."""
    with served.client() as client:
        response = client.get("/", headers={"Authorization": "Bearer not-even-a-token"})
    assert response.status_code == 200
    assert response.json()["user"] == "AnonymousUser"
    assert response.json()["path_info"] == "/"


def test_protected_views_refuse_without_a_token(served: Served) -> None:
    """/api/hello and /staff answer the SPEC's 401 body without a valid token."""
    with served.client() as client:
        for path in ("/api/hello", "/staff"):
            response = client.get(path)
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "ERROR_CODE_UNAUTHORIZED"


def test_a_django_user_logs_in_and_its_hash_becomes_argon2id(served: Served) -> None:
    """A create_user account (PBKDF2) logs in with the gate; its stored hash is then
    argon2id (in Django's encoding), and the token opens the protected view."""
    assert served.stored_hash("ann@example.com").startswith("pbkdf2_sha256$")
    assert login(served, "ann@example.com", "wrong-pass1").status_code == 403
    response = login(served, "ann@example.com")
    assert response.status_code == 200, response.text
    assert served.stored_hash("ann@example.com").startswith("argon2$argon2id$")
    token = response.json()["authToken"]
    with served.client(token) as client:
        hello = client.get("/api/hello")
        assert hello.status_code == 200
        assert hello.json()["hello"] == "ann"
        assert hello.json()["path_info"] == "/api/hello"
        assert client.get("/staff").status_code == 403  # Ann is not staff: the view says so
    assert login(served, "ann@example.com").status_code == 200  # argon2id now verifies


def test_staff_view_opens_for_staff(served: Served) -> None:
    """A staff user's token opens /staff."""
    token = login(served, "sam@example.com").json()["authToken"]
    with served.client(token) as client:
        assert client.get("/staff").json() == {"staff": "sam"}


def test_signup_and_me(served: Served) -> None:
    """signup makes a Django user and answers a token pair; /auth/me returns the record."""
    with served.client() as client:
        signup = client.post(
            "/auth/signup", json={"name": "Bo", "email": "bo@example.com", "password": PASSWORD}
        )
    assert signup.status_code == 200, signup.text
    with served.client(signup.json()["authToken"]) as client:
        me = client.get("/auth/me")
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("email", "name", "username")} == {
        "email": "bo@example.com",
        "name": "Bo",
        "username": "bo@example.com",
    }
    assert "password" not in me.json()


def test_concurrent_signups_with_one_email_make_one_account(served: Served) -> None:
    """Six signups with one email at once: exactly one 200, the others the SPEC's 403."""

    def signup(i: int) -> int:
        with served.client() as client:
            return client.post(
                "/auth/signup",
                json={"name": f"n{i}", "email": "race@example.com", "password": PASSWORD},
            ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(signup, range(6)))
    assert sorted(statuses) == [200] + [403] * 5
    with sqlite3.connect(served.db) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM auth_user WHERE email = 'race@example.com'"
        ).fetchone()
    assert count == 1


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/API/hello", id="case"),
        pytest.param("/api//hello", id="double-slash"),
        pytest.param("/api/hello/", id="trailing-slash"),
        pytest.param("/api/%68ello", id="percent-encoded"),
        pytest.param("/api/hello;x", id="params"),
        pytest.param("/./api/hello", id="dot-segment"),
        pytest.param("/staff?x=/", id="query"),
    ],
)
def test_no_spelling_reaches_a_protected_view_without_a_token(served: Served, path: str) -> None:
    """Respellings of protected paths are refused by the gate (401, or 400 for a path the
    routers read differently), never answered by a view."""
    with served.client() as client:
        response = client.get(path)
    assert response.status_code in (400, 401), response.text
    assert response.json()["code"] in ("ERROR_CODE_UNAUTHORIZED", "ERROR_CODE_BAD_REQUEST")


def test_a_repeated_token_header_is_refused(served: Served) -> None:
    """Two X-Xano-Authorization headers are ambiguous: 400 on every server (uvicorn keeps both
    values; gunicorn joins them with a comma), never "use the first"."""
    served_token = login(served, "sam@example.com").json()["authToken"]
    with served.client() as client:
        response = client.get(
            "/api/hello",
            headers=[
                ("X-Xano-Authorization", f"Bearer {served_token}"),
                ("X-Xano-Authorization", "Bearer other"),
            ],
        )
    assert response.status_code == 400
    assert response.json()["code"] == "ERROR_CODE_BAD_REQUEST"
