"""§Tables: the backend contract (run over every bundled backend), Table, and SQLite concurrency."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest

from jwe_gate import (
    ConfigurationError,
    DuplicateRecordError,
    MemoryBackend,
    SQLiteBackend,
    Table,
)
from jwe_gate.testing import BackendContract

BackendFactory = Callable[[], Any]


@pytest.fixture(params=["memory", "sqlite"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendFactory]:
    """A factory of fresh, empty backends of one kind (SQLite: each in its own file)."""
    made: list[SQLiteBackend] = []

    def factory() -> Any:
        if request.param == "memory":
            return MemoryBackend()
        backend = SQLiteBackend(tmp_path / f"tables{len(made)}.db")
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make_backend: BackendFactory) -> Any:
    return make_backend()


def _ms() -> int:
    return int(time.time() * 1000)


class TestBackendContract(BackendContract):
    """The public contract suite (``jwe_gate.testing``) over every bundled backend."""


class TestMemoryBackend:
    def test_seeded_string_ids_are_never_reused(self) -> None:
        """A record seeded with a string id ("1") is not overwritten by a later create."""
        backend = MemoryBackend([{"id": "1", "email": "ann@example.com"}])
        created = backend.create("user", {"email": "bob@example.com"}, unique="email")
        assert str(created["id"]) != "1"
        assert backend.get("user", "1") == {"id": "1", "email": "ann@example.com"}

    def test_seeded_int_ids_advance_the_counter(self) -> None:
        """After seeding ids 1 and 5, the next record gets a fresh id."""
        backend = MemoryBackend([{"id": 1, "email": "a@x.io"}, {"id": 5, "email": "b@x.io"}])
        created = backend.create("user", {"email": "c@x.io"}, unique="email")
        assert created["id"] not in (1, 5)
        assert len(backend) == 3

    def test_seed_without_id_is_refused(self) -> None:
        """Every seeded record needs an id."""
        with pytest.raises(ConfigurationError):
            MemoryBackend([{"email": "a@x.io"}])


class TestTable:
    @pytest.mark.parametrize(
        "kwargs",
        [
            pytest.param({"name": ""}, id="empty-name"),
            pytest.param({"name": "1user"}, id="name-starts-with-digit"),
            pytest.param({"name": "user-x"}, id="name-with-dash"),
            pytest.param({"name": "user x"}, id="name-with-space"),
            pytest.param({"name": 'us"er'}, id="name-with-quote"),
            pytest.param({"name": "user;drop"}, id="name-with-semicolon"),
            pytest.param({"name": "user\n"}, id="name-with-newline"),
            pytest.param({"name": "é"}, id="name-non-ascii"),
            pytest.param({"name": "u" * 64}, id="name-too-long"),
            pytest.param({"name": None}, id="name-none"),
            pytest.param({"login_field": "e-mail"}, id="bad-login-field"),
            pytest.param({"password_field": "pass word"}, id="bad-password-field"),
            pytest.param({"hidden": ["ok", "not ok"]}, id="bad-hidden-field"),
            pytest.param({"hidden": "secret_note"}, id="hidden-as-a-string"),
            pytest.param({"hidden": ["id"]}, id="hidden-id"),
            pytest.param({"password_field": "id"}, id="password-field-id"),
            pytest.param({"access_ttl": 0}, id="zero-access-ttl"),
            pytest.param({"refresh_ttl": -1}, id="negative-refresh-ttl"),
            pytest.param({"access_ttl": float("nan")}, id="nan-access-ttl"),
            pytest.param({"refresh_ttl": float("inf")}, id="infinite-refresh-ttl"),
            pytest.param({"backend": object()}, id="not-a-backend"),
        ],
    )
    def test_invalid_configuration_is_refused(self, kwargs: dict[str, Any]) -> None:
        """Bad names, hidden fields, lifetimes or backends raise ConfigurationError."""
        args: dict[str, Any] = {"name": "user", "backend": MemoryBackend(), **kwargs}
        with pytest.raises(ConfigurationError):
            Table(args.pop("name"), args.pop("backend"), **args)

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("user", id="lower"),
            pytest.param("_x", id="underscore"),
            pytest.param("Admin2", id="mixed"),
            pytest.param("u" * 63, id="longest"),
        ],
    )
    def test_valid_names_are_accepted(self, name: str) -> None:
        """Identifier-like names up to 63 characters are accepted."""
        assert Table(name, MemoryBackend()).name == name

    def test_public_strips_password_hidden_and_password_changed_at(self) -> None:
        """Table.public removes the password hash, hidden fields and password_changed_at."""
        table = Table("user", MemoryBackend(), hidden=("secret_note",))
        record = {
            "id": 1,
            "email": "a@x.io",
            "password": "$argon2id$x",
            "secret_note": "s",
            "password_changed_at": 1700000000,
            "name": "Ann",
        }
        assert table.public(record) == {"id": 1, "email": "a@x.io", "name": "Ann"}
        assert "password" in record  # the input is left alone

    def test_public_strips_a_custom_password_field(self) -> None:
        """With password_field="pw_hash", that field is the one removed."""
        table = Table("user", MemoryBackend(), password_field="pw_hash")
        assert table.public({"id": 1, "pw_hash": "h", "password": "kept"}) == {
            "id": 1,
            "password": "kept",
        }

    @pytest.mark.parametrize(
        ("login_field", "raw", "normalized"),
        [
            pytest.param("email", "  Ann@Example.COM ", "ann@example.com", id="email"),
            pytest.param("email", "ANN", "ann", id="email-field-without-at"),
            pytest.param("username", "  Bob ", "Bob", id="username-keeps-case"),
            pytest.param(
                "username", "Bob@Example.com", "bob@example.com", id="username-that-is-an-email"
            ),
        ],
    )
    def test_normalize_login(self, login_field: str, raw: str, normalized: str) -> None:
        """Logins are trimmed; emails (and email-shaped values) are lower-cased."""
        assert (
            Table("user", MemoryBackend(), login_field=login_field).normalize_login(raw)
            == normalized
        )


class TestSQLiteConcurrency:
    def test_concurrent_creates_of_one_email_make_one_record(self, tmp_path: Path) -> None:
        """50 threads creating the same email at once: exactly one succeeds."""
        path = tmp_path / "race.db"
        backend = SQLiteBackend(path)
        workers = 50
        barrier = threading.Barrier(workers, timeout=10)

        def signup(i: int) -> str:
            try:
                barrier.wait()
                backend.create("user", {"email": "same@example.com", "n": i}, unique="email")
                return "created"
            except DuplicateRecordError:
                return "duplicate"
            finally:
                backend.close()  # each worker closes its own thread's connection

        with ThreadPoolExecutor(max_workers=workers) as pool:
            outcomes = list(pool.map(signup, range(workers)))
        assert outcomes.count("created") == 1
        assert outcomes.count("duplicate") == workers - 1
        conn = sqlite3.connect(path)
        try:
            (count,) = conn.execute('SELECT count(*) FROM "user"').fetchone()
        finally:
            conn.close()
        assert count == 1
        assert backend.find("user", "email", "same@example.com") is not None
        backend.close()

    def test_reads_from_many_threads(self, tmp_path: Path) -> None:
        """Several threads reading at once each see every record."""
        backend = SQLiteBackend(tmp_path / "reads.db")
        created = [
            backend.create("user", {"email": f"u{i}@x.io"}, unique="email") for i in range(20)
        ]
        barrier = threading.Barrier(8, timeout=10)

        def read_all(_: int) -> list[Any]:
            try:
                barrier.wait()
                return [backend.get("user", str(r["id"])) for r in created] + [
                    backend.find("user", "email", r["email"]) for r in created
                ]
            finally:
                backend.close()

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(read_all, range(8)))
        assert all(result == created + created for result in results)
        backend.close()

    def test_two_instances_on_one_file_share_records(self, tmp_path: Path) -> None:
        """Two SQLiteBackend objects on one file see each other's creates and updates, and
        share the unique index."""
        a = SQLiteBackend(tmp_path / "shared.db")
        b = SQLiteBackend(tmp_path / "shared.db")
        try:
            rec = a.create("user", {"email": "ann@example.com"}, unique="email")
            assert b.get("user", str(rec["id"])) == rec
            assert b.find("user", "email", "ann@example.com") == rec
            b.update("user", str(rec["id"]), {"name": "Ann"})
            assert a.get("user", str(rec["id"])) == {**rec, "name": "Ann"}
            with pytest.raises(DuplicateRecordError):
                b.create("user", {"email": "ann@example.com"}, unique="email")
        finally:
            a.close()
            b.close()

    def test_two_tables_in_one_file_are_separate(self, tmp_path: Path) -> None:
        """Tables user and admin in one file keep their own records and unique logins."""
        backend = SQLiteBackend(tmp_path / "two.db")
        try:
            user = backend.create(
                "user", {"email": "ann@example.com", "name": "User Ann"}, unique="email"
            )
            admin = backend.create(
                "admin", {"email": "ann@example.com", "name": "Admin Ann"}, unique="email"
            )
            assert cast(dict[str, Any], backend.get("user", str(user["id"])))["name"] == "User Ann"
            assert (
                cast(dict[str, Any], backend.get("admin", str(admin["id"])))["name"] == "Admin Ann"
            )
            assert backend.find("admin", "email", "ann@example.com") == admin
            backend.create("admin", {"email": "root@example.com"}, unique="email")
            assert backend.find("user", "email", "root@example.com") is None
        finally:
            backend.close()


class TestSQLiteOpening:
    def test_threads_opening_a_fresh_file_at_once_never_fail(self, tmp_path: Path) -> None:
        """24 threads opening one new file at once, 80 times over, never fail: the switch to
        WAL, which SQLite answers "database is locked" at once when two connections race it,
        is made once per opening and retried."""
        threads = 24
        for round_ in range(80):
            path = tmp_path / f"fresh{round_}.db"
            barrier = threading.Barrier(threads, timeout=10)

            def open_and_read(
                _: int, path: Path = path, barrier: threading.Barrier = barrier
            ) -> str:
                barrier.wait()
                backend = SQLiteBackend(path)
                try:
                    return "ok" if backend.get("user", "1") is None else "found"
                except sqlite3.OperationalError as exc:
                    return str(exc)
                finally:
                    backend.close()

            with ThreadPoolExecutor(max_workers=threads) as pool:
                outcomes = list(pool.map(open_and_read, range(threads)))
            assert outcomes == ["ok"] * threads, f"round {round_}: {set(outcomes)}"
