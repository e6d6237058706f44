"""§Command line: ``jwe-gate`` and ``python -m jwe_gate``, run as real subprocesses.

Every command is run the way a user runs it -- a child process with its own environment,
standard streams and exit code -- so argument parsing, exit codes, stderr messages and file
modes are what is tested, not the functions behind them. ``adduser`` is also driven through a
pseudo-terminal, where it must prompt twice and never echo the password.
"""

from __future__ import annotations

import json
import os
import select
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from jwcrypto.common import base64url_decode

from jwe_gate import Gate, KeyRing, MemoryBackend, SQLiteBackend, Table

SCRIPT = Path(sys.executable).with_name("jwe-gate")
"""The console script installed next to this interpreter (the venv's bin)."""

MODULE = (sys.executable, "-m", "jwe_gate")
STRONG = "corr3ct-horse"


def launcher(kind: str) -> tuple[str, ...]:
    return (str(SCRIPT),) if kind == "script" else MODULE


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any JWE_GATE_KEYS the developer may have set."""
    env = {k: v for k, v in os.environ.items() if k != "JWE_GATE_KEYS"}
    env.update(extra)
    return env


def run(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
    via: str = "module",
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*launcher(via), *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def assert_clean_failure(proc: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    """Exit ``code``, an ``error:`` line naming ``fragment`` on stderr, and no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "error:" in proc.stderr
    assert fragment.lower() in proc.stderr.lower(), proc.stderr


def gate_for(ring: KeyRing) -> Gate:
    return Gate(keys=ring, tables=[Table("user", MemoryBackend())])


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A key file written from ``keygen``'s standard output (mode 0644, as a shell would)."""
    proc = run("keygen")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "keys.json"
    path.write_text(proc.stdout)
    path.chmod(0o644)
    return path


def mint(key_file: Path, *extra: str) -> str:
    proc = run("token", "--table", "user", "--id", "42", "--keys", str(key_file), *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# -- keygen ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "via", [pytest.param("module", id="python-m"), pytest.param("script", id="console-script")]
)
def test_keygen_prints_a_jwk_set(via: str) -> None:
    """``keygen`` prints a JWK Set KeyRing.from_json accepts: one 256-bit oct key with a kid."""
    proc = run("keygen", via=via)
    assert proc.returncode == 0, proc.stderr
    ring = KeyRing.from_json(proc.stdout)
    (key,) = json.loads(proc.stdout)["keys"]
    assert key["kty"] == "oct"
    assert len(base64url_decode(key["k"])) == 32
    assert key["kid"]
    assert ring.kids == (key["kid"],)
    assert run("keygen", via=via).stdout != proc.stdout  # a new key every time


def test_keygen_add_rotates_and_keeps_old_keys(key_file: Path) -> None:
    """``keygen --add`` puts a new key first, keeps the old ones, and leaves the file 0600."""
    old = KeyRing.from_file(key_file)
    before = mint(key_file, "--extras", '{"n": 1}')
    proc = run("keygen", "--add", str(key_file))
    assert proc.returncode == 0, proc.stderr
    assert str(key_file) in proc.stderr
    new = KeyRing.from_file(key_file)
    assert len(new) == 2
    assert new.kids[1:] == old.kids
    assert new.kids[0] not in old.kids
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert gate_for(new).verify(before).extras == {"n": 1}  # minted before the rotation
    after = mint(key_file)
    assert gate_for(new).codec.read_header(after)["kid"] == new.kids[0]


def test_keygen_add_ignores_a_stale_temporary_file(key_file: Path) -> None:
    """A world-readable ``FILE.tmp`` left by a crash does not make the rotated key file 0644."""
    stale = key_file.with_name(key_file.name + ".tmp")
    stale.write_text("leftover")
    stale.chmod(0o644)
    proc = run("keygen", "--add", str(key_file))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(KeyRing.from_file(key_file)) == 2


def test_keygen_add_unwritable_is_a_clean_error(key_file: Path) -> None:
    """When the key file cannot be rewritten, ``keygen --add`` exits 2 and keeps the old set."""
    key_file.with_name(key_file.name + ".tmp").mkdir()  # the temporary file cannot be created
    original = key_file.read_text()
    assert_clean_failure(run("keygen", "--add", str(key_file)), 2, str(key_file))
    assert key_file.read_text() == original


# -- token -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", [pytest.param("file", id="keys-file"), pytest.param("env", id="JWE_GATE_KEYS")]
)
def test_token_mints_a_verifiable_token(key_file: Path, source: str) -> None:
    """``token`` prints one token that Gate.verify accepts, with the id, table, extras and ttl."""
    args = [
        "token",
        "--table",
        "user",
        "--id",
        "42",
        "--extras",
        '{"role":"admin"}',
        "--ttl",
        "15m",
    ]
    if source == "file":
        proc = run(*args, "--keys", str(key_file))
    else:
        proc = run(*args, env=clean_env(JWE_GATE_KEYS=key_file.read_text()))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("\n") == 1
    claims = gate_for(KeyRing.from_file(key_file)).verify(proc.stdout.strip())
    assert (claims.sub, claims.tbl, dict(claims.extras)) == ("42", "user", {"role": "admin"})
    assert abs(claims.exp - claims.iat - 900) <= 1


TOKEN = ["token", "--table", "user", "--id", "42"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(
            [*TOKEN, "--keys", "{keys}", "--extras", "{role: admin}"],
            "--extras",
            id="extras-not-json",
        ),
        pytest.param(
            [*TOKEN, "--keys", "{keys}", "--extras", '["admin"]'],
            "JSON object",
            id="extras-not-object",
        ),
        pytest.param([*TOKEN, "--keys", "{keys}", "--ttl", "soon"], "duration", id="ttl-word"),
        pytest.param([*TOKEN, "--keys", "{keys}", "--ttl", "15x"], "duration", id="ttl-bad-unit"),
        pytest.param([*TOKEN, "--keys", "{keys}", "--ttl", "0"], "duration", id="ttl-zero"),
        pytest.param([*TOKEN, "--keys", "{keys}", "--ttl=-5m"], "duration", id="ttl-negative"),
        pytest.param(
            ["token", "--table", "user", "--id", " ", "--keys", "{keys}"], "--id", id="blank-id"
        ),
        pytest.param(
            ["token", "--table", "no such", "--id", "1", "--keys", "{keys}"],
            "table",
            id="bad-table-name",
        ),
        pytest.param(TOKEN, "JWE_GATE_KEYS", id="no-keys-anywhere"),
        pytest.param(
            [*TOKEN, "--keys", "{missing}"], "cannot read key file", id="keys-file-missing"
        ),
        pytest.param([*TOKEN, "--keys", "{garbage}"], "not valid JSON", id="keys-file-garbage"),
        pytest.param(["keygen", "--bits", "100"], "key size", id="keygen-bad-bits"),
        pytest.param(
            ["keygen", "--add", "{missing}"], "cannot read key file", id="keygen-add-missing-file"
        ),
    ],
)
def test_bad_input_exits_2(tmp_path: Path, key_file: Path, args: list[str], fragment: str) -> None:
    """Bad extras, ttl, id, table, bits or keys: exit 2, an error on stderr, no traceback."""
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    paths = {"{keys}": key_file, "{missing}": tmp_path / "missing.json", "{garbage}": garbage}
    proc = run(*(str(paths.get(a, a)) for a in args))
    assert_clean_failure(proc, 2, fragment)
    assert proc.stdout == ""


# -- inspect -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "how", [pytest.param("argument", id="argument"), pytest.param("stdin", id="stdin-bearer")]
)
def test_inspect_reports_a_good_token(key_file: Path, how: str) -> None:
    """``inspect`` prints header, claims and ``problem: null`` for a good token, exit 0."""
    ring = KeyRing.from_file(key_file)
    token = mint(key_file, "--extras", '{"role":"admin"}')
    if how == "argument":
        proc = run("inspect", token, "--keys", str(key_file))
    else:
        proc = run("inspect", "-", "--keys", str(key_file), stdin=f"Bearer {token}\n")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["problem"] is None
    assert report["header"] == {"alg": "A256KW", "enc": "A256CBC-HS512", "kid": ring.kids[0]}
    claims = report["claims"]
    assert (claims["sub"], claims["tbl"], claims["extras"]) == ("42", "user", {"role": "admin"})


def _expired(key_file: Path, other: Path) -> str:
    token = mint(key_file, "--ttl", "1")
    time.sleep(1.1)
    return token


def _unknown_kid(key_file: Path, other: Path) -> str:
    return mint(other)


def _tampered(key_file: Path, other: Path) -> str:
    parts = mint(key_file).split(".")
    ciphertext = parts[3]
    parts[3] = ("B" if ciphertext[0] == "A" else "A") + ciphertext[1:]
    return ".".join(parts)


def _garbage(key_file: Path, other: Path) -> str:
    return "this-is-not-a-token"


@pytest.mark.parametrize(
    ("make", "fragment", "has_claims"),
    [
        pytest.param(_expired, "expired", True, id="expired"),
        pytest.param(_unknown_kid, "unknown kid", False, id="unknown-kid"),
        pytest.param(_tampered, "decryption failed", False, id="tampered"),
        pytest.param(_garbage, "not a compact JWE", False, id="garbage"),
    ],
)
def test_inspect_says_what_is_wrong(
    tmp_path: Path, key_file: Path, make: Any, fragment: str, has_claims: bool
) -> None:
    """``inspect`` of a bad token prints JSON whose ``problem`` says why, and exits 1."""
    other = tmp_path / "other.json"
    other.write_text(KeyRing.generate().to_json())
    token = make(key_file, other)
    proc = run("inspect", token, "--keys", str(key_file), "--leeway", "0")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert fragment in report["problem"]
    assert report["valid"] is False
    assert (report["claims"] is not None) is has_claims
    if has_claims:
        assert report["claims"]["sub"] == "42"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param([], "JWE_GATE_KEYS", id="no-keys"),
        pytest.param(["--leeway", "-1", "--keys", "{keys}"], "leeway", id="negative-leeway"),
        pytest.param(
            ["--algorithms", "PBES2-HS256+A128KW", "A128GCM", "--keys", "{keys}"],
            "PBES2",
            id="pbes2",
        ),
    ],
)
def test_inspect_bad_usage_exits_2(key_file: Path, args: list[str], fragment: str) -> None:
    """``inspect`` without keys or with bad settings exits 2 with a clear message."""
    args = [str(key_file) if a == "{keys}" else a for a in args]
    assert_clean_failure(run("inspect", "x.y.z", *args), 2, fragment)


# -- adduser -----------------------------------------------------------------------------------


def adduser(db: Path, email: str, password: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run(
        "adduser",
        "--table",
        "admin",
        "--email",
        email,
        "--db",
        str(db),
        "--password-stdin",
        *extra,
        stdin=password + "\n",
    )


def assert_admin(db: Path, email: str, password: str) -> dict[str, Any]:
    """The admin record exists, with an argon2id hash of ``password`` and no plain text."""
    record = SQLiteBackend(db).find("admin", "email", email)
    assert record is not None
    assert record["password"].startswith("$argon2id$")
    assert PasswordHasher().verify(record["password"], password)
    assert password not in json.dumps(record).replace(record["password"], "")
    return record


def test_adduser_from_stdin_stores_an_argon2id_hash(tmp_path: Path) -> None:
    """``adduser --password-stdin`` creates the record (email normalised), hash argon2id."""
    db = tmp_path / "app.db"
    proc = adduser(db, "  Root@Example.COM ", STRONG, "--name", "Root")
    assert proc.returncode == 0, proc.stderr
    assert "root@example.com" in proc.stdout
    record = assert_admin(db, "root@example.com", STRONG)
    assert record["name"] == "Root"
    assert SQLiteBackend(db).find("user", "email", "root@example.com") is None


def test_adduser_duplicate_exits_1(tmp_path: Path) -> None:
    """A second ``adduser`` with the same email (any case) exits 1 and keeps the first record."""
    db = tmp_path / "app.db"
    assert adduser(db, "root@example.com", STRONG).returncode == 0
    assert_clean_failure(adduser(db, "ROOT@example.com", "0ther-password"), 1, "already in use")
    assert_admin(db, "root@example.com", STRONG)


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        pytest.param("short1", "at least 8", id="too-short"),
        pytest.param("nodigitshere", "digit", id="no-digit"),
        pytest.param("1234567890", "letter", id="no-letter"),
        pytest.param("", "at least 8", id="empty"),
    ],
)
def test_adduser_weak_password_exits_2(tmp_path: Path, password: str, fragment: str) -> None:
    """A password the policy refuses: exit 2 with the reason, and no record is created."""
    db = tmp_path / "app.db"
    assert_clean_failure(adduser(db, "root@example.com", password), 2, fragment)
    assert SQLiteBackend(db).find("admin", "email", "root@example.com") is None


def test_adduser_database_url_is_a_clean_error(tmp_path: Path) -> None:
    """``adduser --db`` with a URL this release cannot open exits 2 without a traceback."""
    proc = run(
        "adduser",
        "--table",
        "admin",
        "--email",
        "a@b.io",
        "--password-stdin",
        "--db",
        "postgresql://localhost/app",
        stdin=STRONG + "\n",
        cwd=tmp_path,
    )
    assert_clean_failure(proc, 2, "--db")


# The child takes the pty as its controlling terminal, as a login shell would, so getpass
# reads /dev/tty exactly as it does for a person at a terminal.
_CTTY = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, '-m', 'jwe_gate', *sys.argv[1:]])"
)


def run_in_pty(args: Sequence[str], answers: Sequence[str]) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, answer each ``Password`` prompt in turn, and return
    the exit code and everything the terminal displayed."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CTTY, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=clean_env(),
        start_new_session=True,
        close_fds=True,
    )
    os.close(slave)
    screen = b""
    pending = list(answers)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
                # Answer once a prompt is the last thing on screen (not after its newline:
                # a line typed before the next prompt is flushed by getpass, and lost).
                if pending and screen.endswith(b": "):
                    os.write(master, pending.pop(0).encode() + b"\n")
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, screen.decode(errors="replace")


def test_adduser_prompts_for_the_password_without_echo(tmp_path: Path) -> None:
    """On a terminal ``adduser`` asks twice, shows neither answer, and stores the hash."""
    db = tmp_path / "app.db"
    code, screen = run_in_pty(
        ["adduser", "--table", "admin", "--email", "tty@example.com", "--db", str(db)],
        [STRONG, STRONG],
    )
    assert code == 0, screen
    assert "Password:" in screen
    assert "Password (again):" in screen
    assert STRONG not in screen  # echo was off while typing
    assert "added admin" in screen
    assert_admin(db, "tty@example.com", STRONG)


def test_adduser_prompt_mismatch_exits_2(tmp_path: Path) -> None:
    """Two different answers at the prompts: exit 2, "do not match", and no record."""
    db = tmp_path / "app.db"
    code, screen = run_in_pty(
        ["adduser", "--table", "admin", "--email", "tty@example.com", "--db", str(db)],
        [STRONG, STRONG + "x"],
    )
    assert code == 2, screen
    assert "do not match" in screen
    assert "Traceback" not in screen
    assert SQLiteBackend(db).find("admin", "email", "tty@example.com") is None


# -- help and usage ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([], id="top"),
        *(
            pytest.param([name], id=name)
            for name in ("keygen", "token", "inspect", "adduser", "revoke", "mailtest", "demo")
        ),
    ],
)
def test_help_exits_0(command: list[str]) -> None:
    """``--help`` works for the program and for every command, exit 0."""
    proc = run(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: jwe-gate")


def test_no_command_is_a_usage_error() -> None:
    """``jwe-gate`` with no command exits 2 and lists the commands in its usage line."""
    proc = run(via="script")
    assert proc.returncode == 2
    assert "usage: jwe-gate" in proc.stderr
    assert "Traceback" not in proc.stderr
