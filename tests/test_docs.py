"""The documentation site: ``mkdocs build --strict`` as CI builds it (any warning fails), without
the network, with an API reference entry for every public name; the code the pages show
compiles, and the quick start's app (``examples/quickstart.py``, included in the page) does what
the page says it does."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import argon2
import httpx
import pytest
from support.servers import running_uvicorn

import jwe_gate
import jwe_gate.integrations.django as django_integration
import jwe_gate.integrations.fastapi as fastapi_integration
import jwe_gate.integrations.flask as flask_integration
from jwe_gate import Hasher, KeyRing

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
QUICKSTART = ROOT / "examples" / "quickstart.py"
DEAD_PROXY = "http://127.0.0.1:9"
"""Where any HTTP request the build tried to make would go: nowhere (the discard port)."""
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Site:
    """A built site: where it is, and what the build printed."""

    path: Path
    returncode: int
    output: str

    def page(self, name: str) -> str:
        """The HTML of the page built from ``docs/<name>.md``."""
        html = self.path / name / "index.html" if name != "index" else self.path / "index.html"
        return html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """``mkdocs build --strict`` into a temporary folder, with every proxy pointing nowhere."""
    out = tmp_path_factory.mktemp("site")
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",  # Material's end-of-life notice, printed on every build
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "all_proxy": DEAD_PROXY,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Site(out, done.returncode, done.stdout + done.stderr)


def test_strict_build_passes_without_warnings(site: Site) -> None:
    """The site builds in strict mode and the build prints no warning at all."""
    assert site.returncode == 0, site.output
    assert "WARNING" not in site.output, site.output


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("fonts.googleapis.com", id="google-fonts-css"),
        pytest.param("fonts.gstatic.com", id="google-fonts-files"),
    ],
)
def test_no_page_loads_remote_fonts(site: Site, host: str) -> None:
    """No built page asks the browser for remote fonts (the theme's fonts are off)."""
    assert site.returncode == 0, site.output
    offenders = [p for p in site.path.rglob("*.html") if host in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_request_flow_diagram_is_left_to_the_browser(site: Site) -> None:
    """The request-flow diagrams are mermaid blocks the browser draws, nothing fetched at build."""
    assert site.returncode == 0, site.output
    page = site.page("request-flow")
    assert page.count('class="mermaid"') == 2
    assert "flowchart TD" in page


def _public_names() -> list[Any]:
    names = [pytest.param(f"jwe_gate.{n}", id=n) for n in jwe_gate.__all__]
    names += [
        pytest.param(f"jwe_gate.integrations.fastapi.{n}", id=f"fastapi.{n}")
        for n in fastapi_integration.__all__
    ]
    names += [
        pytest.param(f"jwe_gate.integrations.flask.{n}", id=f"flask.{n}")
        for n in flask_integration.__all__
    ]
    names += [
        pytest.param(f"jwe_gate.integrations.django.{n}", id=f"django.{n}")
        for n in django_integration.__all__
    ]
    return names


@pytest.mark.parametrize("qualified", _public_names())
def test_every_public_name_has_a_reference_entry(site: Site, qualified: str) -> None:
    """Each name of ``jwe_gate.__all__`` and the integrations' has a reference entry."""
    assert site.returncode == 0, site.output
    anchor = f'id="{qualified}"'
    pages = (site.path / "reference").rglob("index.html")
    assert any(anchor in p.read_text(encoding="utf-8") for p in pages)


def test_quickstart_page_shows_the_tested_app(site: Site) -> None:
    """The quick start page includes ``examples/quickstart.py`` (the app the tests below run)."""
    assert site.returncode == 0, site.output
    page = site.page("quickstart")
    assert "quickstart.db" in page
    assert "--8&lt;--" not in page  # the include was replaced, not printed


def _python_blocks() -> list[Any]:
    found = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for i, block in enumerate(PYTHON_BLOCK.findall(text)):
            if not block.startswith("--8<--"):
                rel = path.relative_to(DOCS).as_posix()
                found.append(pytest.param(block, id=f"{rel}#{i + 1}"))
    return found


@pytest.mark.parametrize("code", _python_blocks())
def test_python_blocks_compile(code: str) -> None:
    """Every Python block the pages show is valid Python."""
    ast.parse(code)


# -- the quick start, as the page tells it ------------------------------------------------------


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """``examples/quickstart.py`` loaded fresh (new keys, its SQLite file in a temporary folder,
    the cheapest hashing profile) and served by uvicorn, as the page runs it; its lifespan
    closes the gate afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JWE_GATE_KEYS", KeyRing.generate().to_json())
    # argon2's cheapest profile, as every test gate: the page's flow, without 64 MiB hashes.
    monkeypatch.setattr("jwe_gate._gate.Hasher", lambda: Hasher(argon2.profiles.CHEAPEST))
    spec = importlib.util.spec_from_file_location("docs_quickstart_app", QUICKSTART)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with (
        running_uvicorn(module.app, lifespan="on") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client,
    ):
        yield client


def _signup(client: httpx.Client) -> dict[str, str]:
    body = {"name": "Ann", "email": "ann@example.com", "password": "secret123"}
    answer = client.post("/auth/signup", json=body)
    assert answer.status_code == 200
    tokens: dict[str, str] = answer.json()
    return tokens


def test_quickstart_protects_by_default(quickstart: httpx.Client) -> None:
    """Without a token: /health answers, /blog/posts is anonymous, /api/hello is Xano's 401."""
    assert quickstart.get("/health").json() == {"status": "ok"}
    assert quickstart.get("/blog/posts").json() == {"posts": [], "reader": None}
    refused = quickstart.get("/api/hello")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json()["code"] == "ERROR_CODE_UNAUTHORIZED"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Authorization", id="authorization"),
        pytest.param("X-Xano-Authorization", id="x-xano-authorization"),
    ],
)
def test_quickstart_signup_then_protected_route(quickstart: httpx.Client, header: str) -> None:
    """A signup's token opens /api/hello and names the reader on /blog/posts, in either header."""
    token = _signup(quickstart)["authToken"]
    auth = {header: f"Bearer {token}"}
    assert quickstart.get("/api/hello", headers=auth).json() == {"hello": "Ann", "id": "1"}
    assert quickstart.get("/blog/posts", headers=auth).json()["reader"] == "Ann"


def test_quickstart_login_refresh_logout(quickstart: httpx.Client) -> None:
    """Login gives a pair, refresh rotates it, logout ends the session's access token."""
    _signup(quickstart)
    creds = {"email": "ann@example.com", "password": "secret123"}
    pair = quickstart.post("/auth/login", json=creds).json()
    fresh = quickstart.post("/auth/refresh", json={"refreshToken": pair["refreshToken"]}).json()
    assert fresh["refreshToken"] != pair["refreshToken"]
    auth = {"Authorization": f"Bearer {fresh['authToken']}"}
    assert quickstart.get("/auth/me", headers=auth).json()["email"] == "ann@example.com"
    assert quickstart.post("/auth/logout", headers=auth).status_code == 204
    after = quickstart.get("/api/hello", headers=auth)
    assert after.status_code == 401
    assert after.json()["message"] == "Invalid token."


def test_quickstart_wrong_password_is_invalid_credentials(quickstart: httpx.Client) -> None:
    """A wrong password answers 403 "Invalid Credentials.", as the page shows."""
    _signup(quickstart)
    creds = {"email": "ann@example.com", "password": "wrong1234"}
    answer = quickstart.post("/auth/login", json=creds)
    assert answer.status_code == 403
    assert answer.json() == {
        "code": "ERROR_CODE_ACCESS_DENIED",
        "message": "Invalid Credentials.",
        "payload": None,
    }
