"""§Demo: ``jwe-gate demo`` as a real server process, over HTTP and from a real browser.

Each adapter's demo (Starlette on uvicorn, and ``--wsgi``: Flask on waitress) is started once
per module as a subprocess on a free port and driven with httpx through the whole account
life cycle, the admin side (an admin added with ``jwe-gate adduser``), and then from headless
Chromium through the page at ``/``. The browser test never skips: without Debian's
``chromium`` and ``chromium-driver`` it fails (``scripts/test`` installs them). Every mode of
the page is driven in ``test_demo_page.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.chromium import act

from jwe_gate import KeyRing

SCRIPT = Path(sys.executable).with_name("jwe-gate")
PASSWORD = "s3cret-pass"


def clean_env() -> dict[str, str]:
    """The test's environment without any JWE_GATE_KEYS the developer may have set."""
    return {k: v for k, v in os.environ.items() if k != "JWE_GATE_KEYS"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    """A running ``jwe-gate demo`` process."""

    proc: subprocess.Popen[bytes]
    url: str
    cwd: Path
    log: Path

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=15)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_demo(cwd: Path, *args: str) -> Demo:
    """Start ``python -m jwe_gate demo`` in ``cwd`` and wait until ``/health`` answers."""
    port = free_port()
    log = cwd / f"demo-{port}.stderr"
    with log.open("wb") as err:
        proc = subprocess.Popen(  # the demo as a user starts it
            [sys.executable, "-m", "jwe_gate", "demo", "--port", str(port), *args],
            cwd=cwd,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    demo = Demo(proc, f"http://127.0.0.1:{port}", cwd, log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{demo.stderr}")
        try:
            if httpx.get(demo.url + "/health", timeout=1).status_code == 200:
                return demo
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    demo.stop()
    pytest.fail(f"the demo did not answer /health within 20 s:\n{demo.stderr}")


@pytest.fixture(
    scope="module", params=[pytest.param([], id="asgi"), pytest.param(["--wsgi"], id="wsgi")]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """The demo served by uvicorn (ASGI) or waitress (``--wsgi``), with its own db and keys."""
    tmp = tmp_path_factory.mktemp("demo")
    keys = tmp / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    server = start_demo(tmp, "--db", str(tmp / "demo.db"), "--keys", str(keys), *request.param)
    yield server
    server.stop()


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@Example.com"


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['authToken']}"}


def signup(client: httpx.Client, email: str, name: str = "Ann") -> dict[str, Any]:
    resp = client.post("/auth/signup", json={"name": name, "email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    tokens: dict[str, Any] = resp.json()
    assert set(tokens) == {"authToken", "refreshToken"}
    return tokens


# -- HTTP --------------------------------------------------------------------------------------


def test_account_life_cycle_over_http(demo: Demo) -> None:
    """signup -> me -> /api/hello -> refresh -> password -> logout, each answered as §Handlers."""
    email = unique_email("ann")
    with demo.client() as c:
        assert c.get("/api/hello").status_code == 401
        first = signup(c, email)

        me = c.get("/auth/me", headers=bearer(first))
        assert me.status_code == 200, me.text
        assert me.json()["email"] == email.lower()
        assert me.json()["name"] == "Ann"
        assert "password" not in me.json()

        hello = c.get("/api/hello", headers=bearer(first))
        assert hello.status_code == 200, hello.text
        assert hello.json()["message"] == "Hello, Ann!"
        assert hello.json()["id"] == str(me.json()["id"])

        refreshed = c.post("/auth/refresh", json={"refreshToken": first["refreshToken"]})
        assert refreshed.status_code == 200, refreshed.text
        second = refreshed.json()
        assert second["refreshToken"] != first["refreshToken"]
        assert c.get("/auth/me", headers=bearer(second)).status_code == 200

        changed = c.post(
            "/auth/password",
            headers=bearer(second),
            json={"password": PASSWORD, "newPassword": "n3w-password"},
        )
        assert changed.status_code == 200, changed.text
        third = changed.json()
        assert c.get("/auth/me", headers=bearer(second)).status_code == 401  # minted before
        assert c.get("/auth/me", headers=bearer(third)).status_code == 200
        old_login = c.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert old_login.status_code == 403
        new_login = c.post("/auth/login", json={"email": email, "password": "n3w-password"})
        assert new_login.status_code == 200, new_login.text

        out = c.post(
            "/auth/logout", headers=bearer(third), json={"refreshToken": third["refreshToken"]}
        )
        assert out.status_code == 204, out.text
        spent = c.post("/auth/refresh", json={"refreshToken": third["refreshToken"]})
        assert spent.status_code == 401
        assert spent.json()["code"] == "ERROR_CODE_UNAUTHORIZED"


def test_admin_side_over_http(demo: Demo) -> None:
    """/admin/stats refuses a user token, accepts an admin added by ``jwe-gate adduser``;
    /admin/auth/signup is not served."""
    admin_email = unique_email("root")
    with demo.client() as c:
        user = signup(c, unique_email("bob"), name="Bob")
        refused = c.get("/admin/stats", headers=bearer(user))
        assert refused.status_code == 401
        assert refused.json()["code"] == "ERROR_CODE_UNAUTHORIZED"

        no_signup = c.post(
            "/admin/auth/signup", json={"name": "Eve", "email": admin_email, "password": PASSWORD}
        )
        assert no_signup.status_code != 200
        assert "authToken" not in no_signup.text
        assert (
            c.post(
                "/admin/auth/login", json={"email": admin_email, "password": PASSWORD}
            ).status_code
            == 403
        )

        added = subprocess.run(  # the console script, against the running server's database
            [
                str(SCRIPT),
                "adduser",
                "--table",
                "admin",
                "--email",
                admin_email,
                "--name",
                "Root",
                "--db",
                str(demo.cwd / "demo.db"),
                "--password-stdin",
            ],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
            check=False,
        )
        assert added.returncode == 0, added.stderr

        login = c.post("/admin/auth/login", json={"email": admin_email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        admin = login.json()
        stats = c.get("/admin/stats", headers=bearer(admin))
        assert stats.status_code == 200, stats.text
        assert stats.json()["admin"] == "Root"
        me = c.get("/admin/auth/me", headers=bearer(admin))
        assert me.status_code == 200, me.text
        assert me.json()["email"] == admin_email.lower()
        assert c.get("/api/hello", headers=bearer(admin)).status_code == 401  # wrong table
        assert c.get("/auth/me", headers=bearer(user)).status_code == 200


def test_demo_creates_its_key_file_and_says_where(tmp_path: Path) -> None:
    """With no --keys the demo writes ``.jwe_gate/keys.json`` (0600), names it on stderr, and
    reuses it on the next start, so tokens survive a restart."""
    first = start_demo(tmp_path)
    try:
        key_file = tmp_path / ".jwe_gate" / "keys.json"
        assert key_file.is_file()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert len(KeyRing.from_file(key_file)) == 1
        assert f"created a new key set in {key_file.resolve()}" in first.stderr
        assert (tmp_path / ".jwe_gate" / "demo.db").is_file()
        with first.client() as c:
            tokens = signup(c, unique_email("keep"))
    finally:
        first.stop()
    keys_before = key_file.read_text()

    second = start_demo(tmp_path)
    try:
        assert f"using keys from {key_file.resolve()}" in second.stderr
        assert "created" not in second.stderr
        assert key_file.read_text() == keys_before
        with second.client() as c:
            assert c.get("/auth/me", headers=bearer(tokens)).status_code == 200
    finally:
        second.stop()


@pytest.mark.parametrize(
    "adapter", [pytest.param([], id="asgi"), pytest.param(["--wsgi"], id="wsgi")]
)
def test_demo_on_a_busy_port_fails_cleanly(tmp_path: Path, adapter: list[str]) -> None:
    """A port already taken: the demo exits non-zero saying so, without a traceback."""
    keys = tmp_path / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "jwe_gate",
                "demo",
                "--port",
                str(port),
                "--keys",
                str(keys),
                "--db",
                str(tmp_path / "demo.db"),
                *adapter,
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=30,
            check=False,
        )
    assert proc.returncode != 0
    assert "address already in use" in proc.stderr.lower(), proc.stderr
    assert "Traceback" not in proc.stderr


# -- the browser -------------------------------------------------------------------------------


def click(driver: Any, button: str, label: str, status: int) -> str:
    """Click ``#button``, wait for the page to show a new response, check its label and
    status, and return the output text."""
    from selenium.webdriver.common.by import By

    return act(driver, driver.find_element(By.ID, button).click, label, status)


def test_browser_signup_me_hello_refresh_logout(demo: Demo, browser: Any) -> None:
    """In Chromium, the page at / signs up, shows /auth/me and /api/hello, refreshes, logs
    out, and is then refused /auth/me."""
    from selenium.webdriver.common.by import By

    email = unique_email("browser").lower()
    browser.get(demo.url + "/")
    assert browser.title == "jwe_gate demo"
    browser.find_element(By.ID, "signup-name").send_keys("Carol")
    browser.find_element(By.ID, "signup-email").send_keys(email)
    browser.find_element(By.ID, "signup-password").send_keys(PASSWORD)

    assert "authToken" in click(browser, "signup", "signup", 200)
    assert browser.find_element(By.ID, "state").get_attribute("data-state") == "in"
    assert email in click(browser, "me", "me", 200)
    assert "Hello, Carol!" in click(browser, "hello", "hello", 200)
    click(browser, "refresh", "refresh", 200)
    assert email in click(browser, "me", "me", 200)  # the refreshed access token works
    click(browser, "logout", "logout", 204)
    assert browser.find_element(By.ID, "state").get_attribute("data-state") == "out"
    assert "ERROR_CODE_UNAUTHORIZED" in click(browser, "me", "me", 401)
