"""§Command line after hardening: ``keygen --out``, ``inspect`` times and leeway, ``adduser``
checks, ``revoke``, and owner-only database files -- run as real subprocesses."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest
from test_cli import adduser, assert_clean_failure, clean_env, run

from jwe_gate import Gate, KeyRing, SQLiteBackend, SQLiteRefreshStore, Table
from jwe_gate._sansio.request import HandlerRequest, RequestView

STRONG = "corr3ct-horse"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_out_writes_an_owner_only_key_set(tmp_path: Path) -> None:
    """``keygen --out FILE`` writes a loadable JWK Set with mode 0600 and prints no key."""
    out = tmp_path / "keys.json"
    proc = run("keygen", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert '"k"' not in proc.stdout
    assert _mode(out) == 0o600
    assert len(KeyRing.from_file(out)) == 1


def test_keygen_out_never_overwrites(tmp_path: Path) -> None:
    """An existing key file is not replaced (its tokens would die): exit 2, file intact."""
    out = tmp_path / "keys.json"
    out.write_text("keep me")
    assert_clean_failure(run("keygen", "--out", str(out)), 2, "--add")
    assert out.read_text() == "keep me"


def _inspect(ring_file: Path, token: str, *extra: str) -> dict[str, object]:
    proc = run("inspect", token, "--keys", str(ring_file), *extra)
    report: dict[str, object] = json.loads(proc.stdout)
    return report


def test_inspect_prints_iso_times_and_says_within_leeway(tmp_path: Path) -> None:
    """``inspect`` shows iat/nbf/exp as ISO dates, and says when a token passes only thanks
    to the leeway."""
    ring = KeyRing.generate()
    ring.save(tmp_path / "k.json")
    gate = Gate(keys=ring, tables=[Table("user", SQLiteBackend(tmp_path / "x.db"))])
    fresh = gate.issue("user", 1, ttl=600)
    report = _inspect(tmp_path / "k.json", fresh)
    times = report["times"]
    assert isinstance(times, dict)
    assert set(times) == {"iat", "nbf", "exp"}
    assert all(str(v).endswith("+00:00") for v in times.values())
    assert "leeway" not in report
    stale = gate.issue("user", 1, ttl=5, now=time.time() - 15)  # expired 10 s ago, leeway 30 s
    report = _inspect(tmp_path / "k.json", stale)
    assert report["valid"] is True
    assert "within the leeway" in str(report["leeway"])


@pytest.mark.parametrize(
    ("email", "fragment"),
    [
        pytest.param("not-an-email", "email", id="no-at"),
        pytest.param("a b@x.io", "email", id="space"),
        pytest.param("a@x.io\u0007", "Invalid", id="control-char"),
        pytest.param("   ", "Missing", id="blank"),
    ],
)
def test_adduser_checks_the_login_like_signup(tmp_path: Path, email: str, fragment: str) -> None:
    """A login the signup endpoint would refuse is refused by ``adduser`` too, and nothing is
    stored."""
    db = tmp_path / "x.db"
    assert_clean_failure(adduser(db, email, STRONG), 2, fragment)
    assert SQLiteBackend(db).find("admin", "name", "") is None


def test_adduser_refuses_an_unknown_table(tmp_path: Path) -> None:
    """``--table`` names one of the demo's tables; another is a usage error, nothing created."""
    db = tmp_path / "x.db"
    proc = run(
        "adduser",
        "--table",
        "nosuch",
        "--email",
        "a@x.io",
        "--db",
        str(db),
        "--password-stdin",
        stdin=STRONG + "\n",
    )
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr
    assert not db.exists()


def test_adduser_creates_nothing_outside_the_chosen_folder(tmp_path: Path) -> None:
    """With ``--db`` in a folder, no other file or folder appears (no stray demo database)."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    proc = run(
        "adduser",
        "--table",
        "admin",
        "--email",
        "a@x.io",
        "--db",
        "data/app.db",
        "--password-stdin",
        stdin=STRONG + "\n",
        cwd=work,
    )
    assert proc.returncode == 0, proc.stderr
    made = sorted(str(p.relative_to(work)) for p in work.rglob("*"))
    assert made == ["data", "data/app.db"]


def test_database_files_are_owner_only(tmp_path: Path) -> None:
    """The SQLite file ``adduser`` makes (and its WAL files) are readable by the owner only."""
    db = tmp_path / "x.db"
    assert adduser(db, "root@example.com", STRONG).returncode == 0
    SQLiteBackend(db).get("admin", "1")  # opens it again: the -wal/-shm files appear
    for path in tmp_path.iterdir():
        assert _mode(path) == 0o600, path.name


def test_the_demo_folder_is_owner_only(tmp_path: Path) -> None:
    """The default demo folder is made 0700 and its database 0600."""
    proc = run(
        "adduser",
        "--table",
        "admin",
        "--email",
        "a@x.io",
        "--password-stdin",
        stdin=STRONG + "\n",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert _mode(tmp_path / ".jwe_gate") == 0o700
    assert _mode(tmp_path / ".jwe_gate" / "demo.db") == 0o600


def test_revoke_ends_every_session_of_a_record(tmp_path: Path) -> None:
    """``jwe-gate revoke --table user --id N --db FILE`` ends the record's sessions: its
    refresh tokens stop working and its access tokens are refused."""
    db = tmp_path / "app.db"
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", SQLiteBackend(db)), Table("admin", SQLiteBackend(db))],
        refresh_store=SQLiteRefreshStore(db),
        auth_routes={"/auth": "user"},
    )
    service = gate.auth_service("user")
    body = json.dumps({"email": "ann@x.io", "password": STRONG, "name": "Ann"}).encode()
    pair = json.loads(service.handle("signup", HandlerRequest(RequestView("POST", "/"), body)).body)
    view = RequestView("GET", "/auth/me", {"authorization": [f"Bearer {pair['authToken']}"]})
    assert gate.authenticate(view).__class__.__name__ == "Allow"
    proc = run(
        "revoke",
        "--table",
        "user",
        "--id",
        gate.verify(pair["authToken"]).sub,
        "--db",
        str(db),
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "ended every session" in proc.stdout
    time.sleep(1.05)  # this process remembered the session live for at most a second
    refused = gate.authenticate(view)
    assert getattr(refused, "status", None) == 401
    again = service.handle(
        "refresh",
        HandlerRequest(
            RequestView("POST", "/"), json.dumps({"refreshToken": pair["refreshToken"]}).encode()
        ),
    )
    assert again.status == 401
    gate.close()


def test_revoke_refuses_an_unknown_table_or_empty_id(tmp_path: Path) -> None:
    """``revoke`` checks its arguments: exit 2, no traceback."""
    db = tmp_path / "app.db"
    assert run("revoke", "--table", "nosuch", "--id", "1", "--db", str(db)).returncode == 2
    assert_clean_failure(run("revoke", "--table", "user", "--id", " ", "--db", str(db)), 2, "--id")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "postgresql+psycopg://app:s3cret@db:5432/x",
            "postgresql+psycopg://app:***@db:5432/x",
            id="password",
        ),
        pytest.param(
            "redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0", id="redis-password"
        ),
        pytest.param(
            "mysql+pymysql://root@db/test", "mysql+pymysql://root@db/test", id="no-password"
        ),
        pytest.param("data/app.db", "data/app.db", id="path"),
    ],
)
def test_urls_are_printed_without_their_password(url: str, shown: str) -> None:
    """What the demo and the command line print of a --db or --redis URL hides its password."""
    from jwe_gate._demo import redacted

    assert redacted(url) == shown
