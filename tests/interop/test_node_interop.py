"""Interop with real JavaScript clients, run under Node.js from ``tests/node``.

* Xano's own SDK (``@xano/js-sdk``) drives the demo (``python -m jwe_gate demo``, ASGI and
  ``--wsgi``) the way a Xano front end does: signup, ``setAuthToken``, ``/auth/me``,
  ``/api/hello``, the X-Xano headers, and the errors it surfaces (``XanoRequestError`` with
  Xano's body).
* panva's ``jose`` decrypts tokens minted by ``jwe-gate token`` and by the endpoints, and mints
  ``EncryptJWT`` tokens that the demo and ``jwe-gate inspect`` accept, or refuse when they leave
  the allow-list.

The node scripts (``tests/node/*.mjs``) only record what the libraries did, as JSON; the
assertions are here. Missing ``node`` or packages is a failure, never a skip: ``.ci/run`` runs
``npm ci --prefix tests/node`` first.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.clients import wrap
from test_demo import PASSWORD, SCRIPT, Demo, clean_env, start_demo

from jwe_gate import Gate, KeyRing, MemoryBackend, Table

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
PACKAGE = json.loads((NODE_DIR / "package.json").read_text())
MIN_NODE = 20
"""jose 6 needs WebCrypto on globalThis and CompressionStream("deflate-raw"): Node 20 or later."""

SDK_ERROR_MESSAGE = "There was an error with your request"
"""What the SDK's XanoRequestError says whatever the server answered."""

JOSE_ACCEPTED = ("standard", "no_kid", "typ_jwt")
"""The variants ``jose_interop.mjs`` mints that are the gate's format (see the script)."""


# -- running node ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with the packages of tests/node/package.json installed at the
    pinned versions; anything missing fails the test."""
    exe = shutil.which("node")
    if exe is None:
        pytest.fail(
            "node is missing: install Node.js >= 20 and npm, then run "
            "`npm ci --prefix tests/node` (.ci/run does)"
        )
    version = subprocess.run(
        [exe, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE:
        pytest.fail(f"node {version} is too old: the interop tests need Node.js >= {MIN_NODE}")
    for name, pinned in PACKAGE["dependencies"].items():
        manifest = NODE_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file():
            pytest.fail(f"{name} is not installed: run `npm ci --prefix tests/node`")
        installed = json.loads(manifest.read_text())["version"]
        if installed != pinned:
            pytest.fail(
                f"{name} {installed} is installed but package.json pins {pinned}: "
                "run `npm ci --prefix tests/node`"
            )
    return exe


def node_env() -> dict[str, str]:
    """The test's environment without proxy settings (axios honours them, and every request
    here goes to 127.0.0.1)."""
    return {
        k: v
        for k, v in clean_env().items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }


def run_node(node: str, script: str, *args: str, stdin: Any = None) -> dict[str, Any]:
    """Run ``tests/node/<script>`` and return the JSON object it prints."""
    proc = subprocess.run(
        [node, str(NODE_DIR / script), *args],
        input=None if stdin is None else json.dumps(stdin),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        env=node_env(),
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"node {script} exited {proc.returncode}:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def jwe_gate_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``jwe-gate`` console script, as a user runs it."""
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


# -- the demo ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One JWK Set file, shared by both demos and the CLI."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    path.write_text(KeyRing.generate().to_json())
    return path


@pytest.fixture(scope="module")
def jwks(key_file: Path) -> dict[str, Any]:
    """The same key set as JSON, for the node scripts."""
    keys: dict[str, Any] = json.loads(key_file.read_text())
    return keys


@pytest.fixture(
    scope="module", params=[pytest.param([], id="asgi"), pytest.param(["--wsgi"], id="wsgi")]
)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, key_file: Path
) -> Iterator[Demo]:
    """``python -m jwe_gate demo`` on uvicorn (ASGI) or waitress (``--wsgi``), own database."""
    tmp = tmp_path_factory.mktemp("demo")
    server = start_demo(tmp, "--db", str(tmp / "demo.db"), "--keys", str(key_file), *request.param)
    yield server
    server.stop()


def variant_id(variant: str) -> str:
    return variant.replace("_", "-")


def unique_email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.com"


# -- Xano's JavaScript SDK ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdk(node: str, demo: Demo) -> dict[str, Any]:
    """One run of ``xano_sdk.mjs demo`` against the demo: the SDK's view of each step."""
    summary = run_node(node, "xano_sdk.mjs", "demo", demo.url, unique_email("sdk"), PASSWORD)
    assert summary["sdk_version"] == PACKAGE["dependencies"]["@xano/js-sdk"]
    return summary


@pytest.fixture(scope="module")
def sdk_wire(node: str) -> dict[str, Any]:
    """The requests the SDK put on the wire, as a local Node server recorded them."""
    return run_node(node, "xano_sdk.mjs", "wire")


def wire_headers(capture: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The one recorded request's headers: lower-cased name -> values."""
    assert len(capture) == 1
    out: dict[str, list[str]] = {}
    for name, value in capture[0]["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        pytest.param(
            "default",
            {
                "authorization": ["Bearer TOKEN-A"],
                "x-xano-authorization": [],
                "x-xano-authorization-only": [],
            },
            id="set-auth-token",
        ),
        pytest.param(
            "extra_headers",
            {
                "authorization": ["Bearer TOKEN-A"],
                "x-xano-authorization": ["Bearer TOKEN-B"],
                "x-xano-authorization-only": ["true"],
            },
            id="plus-x-xano-headers",
        ),
        pytest.param(
            "extra_authorization",
            {"authorization": ["Bearer TOKEN-A"]},
            id="own-authorization-overwritten",
        ),
        pytest.param(
            "no_token",
            {"authorization": [], "x-xano-authorization": ["Bearer TOKEN-B"]},
            id="no-token-x-xano-only",
        ),
    ],
)
def test_sdk_sends_the_token_as_authorization_bearer(
    sdk_wire: dict[str, Any], case: str, expected: dict[str, list[str]]
) -> None:
    """The SDK puts setAuthToken's token in ``Authorization: Bearer``, never in
    X-Xano-Authorization; per-request headers pass through, but its token replaces a
    per-request Authorization."""
    headers = wire_headers(sdk_wire[case])
    for name, values in expected.items():
        assert headers.get(name, []) == values, (name, headers)


def test_sdk_signup_then_me_and_hello(sdk: dict[str, Any]) -> None:
    """signup answers ``authToken``; set with setAuthToken (or the ``authToken`` option, or on
    the browser XanoClient) it opens /auth/me and /api/hello."""
    signup = sdk["signup"]
    assert signup["ok"], signup
    assert signup["status"] == 200
    assert set(signup["body"]) == {"authToken", "refreshToken"}
    assert signup["headers"]["content-type"].startswith("application/json")
    assert (sdk["has_auth_token_before"], sdk["has_auth_token_after"]) == (False, True)

    me = sdk["me"]
    assert me["ok"], me
    assert me["status"] == 200
    assert me["body"]["name"] == "Sdk User"
    assert me["body"]["email"].startswith("sdk-")
    assert not {"password", "password_changed_at"} & set(me["body"])
    hello = sdk["hello"]
    assert hello["ok"], hello
    assert hello["body"] == {"message": "Hello, Sdk User!", "id": str(me["body"]["id"])}
    for other in ("config_token_me", "web_client_me"):
        assert sdk[other]["ok"], sdk[other]
        assert sdk[other]["body"] == me["body"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("xano_header_me", 200, id="x-xano-bearer"),
        pytest.param("xano_header_bare_me", 200, id="x-xano-bare-token"),
        pytest.param("xano_header_wins_me", 200, id="x-xano-wins-over-sdk-authorization"),
        pytest.param("xano_only_me", 200, id="only-x-xano-other-authorization"),
        pytest.param("xano_only_without_xano_header", 401, id="only-ignores-sdk-authorization"),
    ],
)
def test_sdk_with_x_xano_headers(sdk: dict[str, Any], case: str, status: int) -> None:
    """X-Xano-Authorization(-Only) given to the SDK as per-request headers behave as §Headers
    says next to the SDK's own Authorization."""
    result = sdk[case]
    assert result["status"] == status, result
    assert result["ok"] is (status == 200)
    if status == 200:
        assert result["body"]["name"] == "Sdk User"
    else:
        assert result["body"]["code"] == "ERROR_CODE_UNAUTHORIZED"
        assert result["headers"]["www-authenticate"] == "Bearer"  # no token was read


@pytest.mark.parametrize(
    ("case", "status", "code", "message", "www_authenticate"),
    [
        pytest.param(
            "wrong_password",
            403,
            "ERROR_CODE_ACCESS_DENIED",
            "Invalid Credentials.",
            None,
            id="wrong-password",
        ),
        pytest.param(
            "unknown_login",
            403,
            "ERROR_CODE_ACCESS_DENIED",
            "Invalid Credentials.",
            None,
            id="unknown-login",
        ),
        pytest.param(
            "duplicate_signup",
            403,
            "ERROR_CODE_ACCESS_DENIED",
            "This account is already in use.",
            None,
            id="duplicate-signup",
        ),
        pytest.param(
            "no_token_me",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            "Unauthorized - Authentication Required",
            "Bearer",
            id="no-token-me",
        ),
        pytest.param(
            "no_token_hello",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            "Unauthorized - Authentication Required",
            "Bearer",
            id="no-token-hello",
        ),
        pytest.param(
            "cleared_me",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            "Unauthorized - Authentication Required",
            "Bearer",
            id="set-auth-token-null",
        ),
        pytest.param(
            "bad_token_me",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            "Invalid token.",
            'Bearer error="invalid_token"',
            id="bad-token",
        ),
        pytest.param(
            "missing_field", 400, "ERROR_CODE_INPUT_ERROR", None, None, id="missing-password"
        ),
        pytest.param(
            "spent_refresh",
            401,
            "ERROR_CODE_UNAUTHORIZED",
            None,
            'Bearer error="invalid_token"',
            id="spent-refresh-token",
        ),
    ],
)
def test_sdk_errors_carry_the_xano_body(
    sdk: dict[str, Any],
    case: str,
    status: int,
    code: str,
    message: str | None,
    www_authenticate: str | None,
) -> None:
    """A refusal reaches the front end as the SDK's XanoRequestError whose response holds the
    status and Xano's ``{code, message, payload}`` body, parsed as JSON."""
    result = sdk[case]
    assert result["ok"] is False, result
    assert result["has_get_response"] is True  # what XanoRequestError adds to Error
    assert result["message"] == SDK_ERROR_MESSAGE
    assert result["status"] == status
    body = result["body"]
    assert isinstance(body, dict), body  # the SDK parsed it: Content-Type application/json
    assert set(body) == {"code", "message", "payload"}
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message
    if case == "missing_field":
        assert body["payload"] == {"param": "password"}
    assert result["headers"].get("www-authenticate") == www_authenticate
    if case == "cleared_me":
        assert sdk["cleared_has_auth_token"] is False


def test_sdk_login_refresh_logout(sdk: dict[str, Any]) -> None:
    """login, refresh (the new authToken set with setAuthToken opens /auth/me) and logout
    (204, an empty body the SDK accepts) all work through the SDK."""
    for step in ("login", "refresh", "refreshed_me"):
        assert sdk[step]["ok"], sdk[step]
        assert sdk[step]["status"] == 200
    assert set(sdk["login"]["body"]) == {"authToken", "refreshToken"}
    assert sdk["refresh"]["body"]["authToken"] != sdk["login"]["body"]["authToken"]
    assert sdk["refreshed_me"]["body"]["name"] == "Sdk User"
    assert sdk["logout"]["ok"], sdk["logout"]
    assert sdk["logout"]["status"] == 204
    assert sdk["spent_refresh"]["status"] == 401


# -- panva's jose ------------------------------------------------------------------------------


def jose_decrypt(
    node: str, jwks: dict[str, Any], *tokens: str, current_ms: int | None = None
) -> list[dict[str, Any]]:
    request: dict[str, Any] = {"op": "decrypt", "jwks": jwks, "tokens": list(tokens)}
    if current_ms is not None:
        request["currentDate"] = current_ms
    answer = run_node(node, "jose_interop.mjs", stdin=request)
    assert answer["jose_version"] == PACKAGE["dependencies"]["jose"]
    results: list[dict[str, Any]] = answer["results"]
    return results


def jose_mint(node: str, jwks: dict[str, Any], sub: str) -> dict[str, str]:
    answer = run_node(
        node,
        "jose_interop.mjs",
        stdin={
            "op": "mint",
            "jwks": jwks,
            "sub": sub,
            "tbl": "user",
            "extras": {"role": "editor", "team": [1, 2]},
        },
    )
    tokens: dict[str, str] = answer["tokens"]
    return tokens


def inspect(key_file: Path, token: str) -> tuple[int, dict[str, Any]]:
    proc = jwe_gate_cli("inspect", "--keys", str(key_file), token)
    report: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, report


def assert_gate_header(header: dict[str, Any], jwks: dict[str, Any]) -> None:
    assert header == {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": jwks["keys"][0]["kid"]}


def test_jose_decrypts_a_cli_token(node: str, key_file: Path, jwks: dict[str, Any]) -> None:
    """jose's jwtDecrypt and compactDecrypt (A256KW + A256CBC-HS512 only) read a token from
    ``jwe-gate token``: the same header and claims as ``jwe-gate inspect`` shows."""
    minted = jwe_gate_cli(
        "token",
        "--keys",
        str(key_file),
        "--table",
        "user",
        "--id",
        "42",
        "--extras",
        '{"role": "admin"}',
        "--ttl",
        "15m",
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    [result] = jose_decrypt(node, jwks, token)

    assert result["jwt"]["ok"], result["jwt"]
    assert result["compact"]["ok"], result["compact"]
    assert_gate_header(result["jwt"]["protectedHeader"], jwks)
    claims = result["jwt"]["payload"]
    assert json.loads(result["compact"]["plaintext"]) == claims
    assert set(claims) == {"sub", "tbl", "iat", "nbf", "exp", "jti", "extras"}
    assert (claims["sub"], claims["tbl"], claims["extras"]) == ("42", "user", {"role": "admin"})
    assert claims["nbf"] == math.floor(claims["iat"])
    assert claims["exp"] - claims["iat"] == pytest.approx(900)

    code, report = inspect(key_file, token)
    assert code == 0, report
    assert report["header"] == result["jwt"]["protectedHeader"]
    assert report["claims"] == claims


def test_jose_decrypts_a_signup_token(node: str, demo: Demo, jwks: dict[str, Any]) -> None:
    """jose decrypts the ``authToken`` the demo's /auth/signup answers (it carries ``sid``)."""
    with demo.client() as c:
        resp = c.post(
            "/auth/signup", json={"name": "Jo", "email": unique_email("jose"), "password": PASSWORD}
        )
        assert resp.status_code == 200, resp.text
        token = resp.json()["authToken"]
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    [result] = jose_decrypt(node, jwks, token)
    assert result["jwt"]["ok"], result["jwt"]
    assert_gate_header(result["jwt"]["protectedHeader"], jwks)
    claims = result["jwt"]["payload"]
    assert (claims["sub"], claims["tbl"], claims["extras"]) == (str(me["id"]), "user", {})
    assert isinstance(claims["sid"], str)
    assert claims["sid"]


@pytest.fixture(scope="module")
def account(demo: Demo) -> dict[str, Any]:
    """A user signed up on the demo, for tokens jose mints."""
    with demo.client() as c:
        resp = c.post(
            "/auth/signup",
            json={"name": "Joss", "email": unique_email("minted"), "password": PASSWORD},
        )
        assert resp.status_code == 200, resp.text
        me = c.get("/auth/me", headers={"Authorization": f"Bearer {resp.json()['authToken']}"})
        assert me.status_code == 200, me.text
    record: dict[str, Any] = me.json()
    return record


@pytest.fixture(scope="module")
def minted(node: str, jwks: dict[str, Any], account: dict[str, Any]) -> dict[str, str]:
    """jose's tokens (the gate's format and the variants) for ``account``."""
    return jose_mint(node, jwks, str(account["id"]))


@pytest.fixture(scope="module")
def minted_42(node: str, jwks: dict[str, Any]) -> dict[str, str]:
    """jose's tokens for record 42, for ``jwe-gate inspect`` (which knows no tables)."""
    return jose_mint(node, jwks, "42")


@pytest.mark.parametrize("variant", [pytest.param(v, id=variant_id(v)) for v in JOSE_ACCEPTED])
def test_jose_token_opens_the_demo(
    demo: Demo, account: dict[str, Any], minted: dict[str, str], variant: str
) -> None:
    """An EncryptJWT (A256KW + A256CBC-HS512, integer iat/nbf/exp) for a signed-up record
    opens /api/hello and /auth/me, with or without kid, with ``typ: JWT``."""
    headers = {"Authorization": f"Bearer {minted[variant]}"}
    with demo.client() as c:
        hello = c.get("/api/hello", headers=headers)
        assert hello.status_code == 200, hello.text
        assert hello.json() == {"message": "Hello, Joss!", "id": str(account["id"])}
        me = c.get("/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        assert me.json() == account


@pytest.mark.parametrize("variant", [pytest.param(v, id=variant_id(v)) for v in JOSE_ACCEPTED])
def test_inspect_accepts_a_jose_token(
    key_file: Path, minted_42: dict[str, str], variant: str
) -> None:
    """``jwe-gate inspect`` calls jose's EncryptJWT valid and shows its claims."""
    code, report = inspect(key_file, minted_42[variant])
    assert code == 0, report
    assert report["valid"] is True
    assert report["problem"] is None
    claims = report["claims"]
    assert (claims["sub"], claims["tbl"]) == ("42", "user")
    assert claims["extras"] == {"role": "editor", "team": [1, 2]}
    assert all(isinstance(claims[k], int) for k in ("iat", "nbf", "exp"))


REFUSED = [
    # variant, the demo's message, what `jwe-gate inspect` says (None: it knows no tables)
    ("zip_def", "Invalid token.", "compression not allowed"),
    ("a128kw", "Invalid token.", "algorithm not allowed"),
    ("enc_a256gcm", "Invalid token.", "algorithm not allowed"),
    ("dir", "Invalid token.", "algorithm not allowed"),
    ("jws_hs256", "Invalid token.", "not a compact JWE"),
    ("expired", "Token expired.", "expired"),
    ("wrong_key", "Invalid token.", "decryption failed"),
    ("unknown_kid", "Invalid token.", "unknown kid"),
    ("wrong_table", "Invalid token.", None),
]


@pytest.mark.parametrize(
    ("variant", "message"),
    [pytest.param(variant, message, id=variant_id(variant)) for variant, message, _ in REFUSED],
)
def test_jose_token_outside_the_allow_list_is_refused(
    demo: Demo, minted: dict[str, str], variant: str, message: str
) -> None:
    """jose tokens with ``zip: DEF``, another alg/enc, a JWS, expired, a wrong key or kid, or
    another table: 401 with Xano's body and ``error="invalid_token"``."""
    with demo.client() as c:
        resp = c.get("/api/hello", headers={"Authorization": f"Bearer {minted[variant]}"})
    assert resp.status_code == 401, resp.text
    assert resp.json() == {"code": "ERROR_CODE_UNAUTHORIZED", "message": message, "payload": None}
    assert resp.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize(
    ("variant", "problem"),
    [
        pytest.param(variant, problem, id=variant_id(variant))
        for variant, _, problem in REFUSED
        if problem is not None
    ],
)
def test_inspect_says_why_a_jose_token_is_refused(
    key_file: Path, minted_42: dict[str, str], variant: str, problem: str
) -> None:
    """``jwe-gate inspect`` calls those jose tokens invalid (exit 1) and names the reason."""
    code, report = inspect(key_file, minted_42[variant])
    assert code == 1, report
    assert report["valid"] is False
    assert problem in report["problem"]


def test_jose_and_a_compressing_gate_agree_on_zip_def(
    node: str, jwks: dict[str, Any], key_file: Path, adapter: str, make_gate: Callable[..., Gate]
) -> None:
    """With ``Gate(compress=True)`` (Xano's ``zip: DEF``), jose inflates the gate's tokens and
    the gate inflates jose's."""
    gate = make_gate(keys=KeyRing.from_file(key_file), compress=True)
    token = gate.issue("user", 1, extras={"role": "admin"})
    [result] = jose_decrypt(node, jwks, token)
    assert result["jwt"]["ok"], result["jwt"]
    assert result["jwt"]["protectedHeader"]["zip"] == "DEF"
    assert result["jwt"]["payload"]["sub"] == "1"
    assert result["jwt"]["payload"]["extras"] == {"role": "admin"}

    jose_token = jose_mint(node, jwks, "1")["zip_def"]
    res = wrap(gate, adapter)("GET", "/api/hello", [("Authorization", f"Bearer {jose_token}")])
    assert res.status == 200, res.body
    assert res.json["identity"] == "1"
    assert res.json["extras"] == {"role": "editor", "team": [1, 2]}


@pytest.fixture(scope="module")
def fresh_token(node: str, key_file: Path, jwks: dict[str, Any]) -> dict[str, Any]:
    """jose's view of a gate token 1 ms after it was minted at a half second."""
    gate = Gate(keys=KeyRing.from_file(key_file), tables=[Table("user", MemoryBackend())])
    minted_at = math.floor(time.time()) + 0.5
    token = gate.issue("user", 7, now=minted_at)
    [result] = jose_decrypt(node, jwks, token, current_ms=round(minted_at * 1000) + 1)
    assert result["jwt"]["payload"]["iat"] == math.floor(minted_at)  # whole seconds
    return result


@pytest.mark.parametrize(
    "check",
    [
        pytest.param("max_token_age", id="no-clock-tolerance"),
        pytest.param("max_token_age_1s", id="one-second-tolerance"),
    ],
)
def test_jose_max_token_age_accepts_a_fresh_token(fresh_token: dict[str, Any], check: str) -> None:
    """jose's jwtDecrypt with ``maxTokenAge`` accepts a gate token 1 ms after it was minted,
    even in the second half of its second (iat is whole seconds, as jose floors "now")."""
    assert fresh_token[check] == {"ok": True}
