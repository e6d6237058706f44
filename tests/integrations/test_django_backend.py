"""§Storage and §Handlers on Django's ORM: ``DjangoBackend`` passes the public backend contract
on ``auth.User`` (and a second model for a second table), maps Django's fields, hides inactive
users, makes one record of racing signups, refuses values too long for their columns as input,
and a login verifies Django's PBKDF2 hashes and upgrades them to argon2id -- which Django's own
``check_password`` still verifies.

This module runs on SQLite here, and on PostgreSQL and MariaDB in processes of their own
(tests/integrations/test_django_databases.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import argon2
import pytest
from support import django_env

django_env.configure()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.hashers import check_password, identify_hasher  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from jwe_gate import (  # noqa: E402
    ConfigurationError,
    FieldValueError,
    Gate,
    KeyRing,
    Rule,
    Table,
    Throttle,
)
from jwe_gate.integrations.django import DjangoBackend, django_hashes, hasher  # noqa: E402
from jwe_gate.integrations.django.models import RecordData  # noqa: E402
from jwe_gate.testing import BackendContract  # noqa: E402

User = get_user_model()
PASSWORD = "s3cret-pass1"
MODELS = {"user": "auth.User", "admin": "djangoapp.Staff"}


@pytest.fixture(autouse=True)
def empty() -> Iterator[None]:
    django_env.empty_database()
    yield
    django_env.empty_database()


class ThreadTidyBackend(DjangoBackend):
    """A DjangoBackend that closes a worker thread's connection after each create, as Django's
    request cycle does for a view (the contract's racing threads run outside any request)."""

    def create(self, table: str, fields: Any, *, unique: str) -> Any:
        try:
            return super().create(table, fields, unique=unique)
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()


class TestDjangoBackendContract(BackendContract):
    """The contract suite on ``auth.User`` (table ``user``) and a model of its own
    (``admin``): the project's model unchanged, the gate's extra fields beside it."""

    @pytest.fixture
    def backend(self) -> DjangoBackend:
        return ThreadTidyBackend(MODELS)


def make_gate(**kwargs: Any) -> Gate:
    kwargs.setdefault("keys", KeyRing.generate())
    kwargs.setdefault("tables", [Table("user", DjangoBackend(MODELS))])
    kwargs.setdefault("rules", [Rule("/health", "public"), Rule("/blog/**", "optional")])
    kwargs.setdefault("auth_routes", {"/auth": "user"})
    kwargs.setdefault("hasher", hasher(parameters=argon2.profiles.CHEAPEST))
    return Gate(**kwargs)


def login(client: Client, email: str, password: str) -> Any:
    return client.post(
        "/auth/login", json.dumps({"email": email, "password": password}), "application/json"
    )


def signup(client: Client, email: str, **more: str) -> Any:
    body = {"email": email, "password": PASSWORD, **more}
    return client.post("/auth/signup", json.dumps(body), "application/json")


def test_records_map_django_fields() -> None:
    """A user made by Django's create_user is found by its email (case-insensitively), with
    name <- first_name, created_at <- date_joined (epoch ms) and Django's flags."""
    made = User.objects.create_user("ann", "Ann@Example.com", PASSWORD, first_name="Ann")
    table = Table("user", DjangoBackend())
    record = table.find("ann@example.com")
    assert record is not None
    assert record["id"] == made.pk
    assert record["email"] == "Ann@example.com"  # as Django stored it (domain lower-cased)
    assert record["name"] == "Ann"
    assert record["username"] == "ann"
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert record["created_at"] == (made.date_joined - epoch) // dt.timedelta(milliseconds=1)
    assert (record["is_active"], record["is_staff"], record["is_superuser"]) == (True, False, False)
    assert table.public(record).keys() >= {"id", "email", "name", "created_at"}
    assert "password" not in table.public(record)


def test_signup_stores_a_django_user() -> None:
    """A record the gate creates is a real auth.User row: the email as its username too, the
    name as first_name, and no extra column needed."""
    table = Table("user", DjangoBackend())
    record = table.create({"email": "bob@example.com", "name": "Bob", "plan": "pro"})
    row = User.objects.get(pk=record["id"])
    assert (row.username, row.email, row.first_name) == (
        "bob@example.com",
        "bob@example.com",
        "Bob",
    )
    assert RecordData.objects.get(table="user", key=str(row.pk)).data == {"plan": "pro"}
    assert record["plan"] == "pro"


@pytest.mark.parametrize(
    "existing",
    [
        pytest.param(
            {"username": "carol", "email": "Carol@example.com"}, id="same-email-other-case"
        ),
        pytest.param({"username": "carol@example.com", "email": ""}, id="email-taken-as-username"),
    ],
)
def test_a_login_taken_by_django_is_a_duplicate(existing: dict[str, str]) -> None:
    """An email Django already holds (another case, or as someone's username) is in use:
    auth.User's email column is not unique, the backend still refuses a second account."""
    from jwe_gate.exceptions import DuplicateRecordError

    User.objects.create_user(password=PASSWORD, **existing)
    table = Table("user", DjangoBackend())
    with pytest.raises(DuplicateRecordError):
        table.create({"email": "carol@example.com", "name": "C"})
    assert User.objects.count() == 1


def test_concurrent_signups_on_auth_user_make_one_record() -> None:
    """20 threads signing up one email on auth.User (no unique email column): one record."""
    from jwe_gate.exceptions import DuplicateRecordError

    table = Table("user", DjangoBackend())
    barrier = threading.Barrier(20, timeout=10)

    def create(i: int) -> str:
        barrier.wait()
        try:
            table.create({"email": "same@example.com", "name": str(i)})
        except DuplicateRecordError:
            return "duplicate"
        finally:
            from django.db import connection

            connection.close()
        return "created"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(create, range(20)))
    assert outcomes.count("created") == 1
    assert User.objects.filter(email="same@example.com").count() == 1


def test_racing_signups_through_the_endpoint_make_one_account() -> None:
    """20 threads posting one email to /auth/signup at once: one 200, nineteen 403 (the
    account is in use), one auth.User row and one row of the gate's data."""
    gate = make_gate(
        throttle=Throttle(signup_max=100),
        hasher=hasher(parameters=argon2.profiles.CHEAPEST, max_queue=64, max_per_client=64),
    )
    barrier = threading.Barrier(20, timeout=10)

    def post(i: int) -> tuple[int, str]:
        barrier.wait()
        try:
            answer = signup(Client(), "race@example.com", name=str(i))
            return answer.status_code, json.loads(answer.content).get("code", "")
        finally:
            connection.close()

    with override_settings(JWE_GATE=gate), ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(post, range(20)))
    gate.close()
    assert sorted(status for status, _ in answers) == [200] + [403] * 19
    assert {code for status, code in answers if status == 403} == {"ERROR_CODE_ACCESS_DENIED"}
    assert User.objects.filter(email="race@example.com").count() == 1
    assert RecordData.objects.filter(table="user").count() == 1


LONG_EMAIL = "a" * 140 + "@example.com"  # 152 characters: an email, but not a username
LONG_NAME = "n" * 151  # the endpoint takes 200, auth.User's first_name holds 150


@pytest.mark.parametrize(
    ("email", "more", "field"),
    [
        pytest.param(LONG_EMAIL, {}, "email", id="email-longer-than-username"),
        pytest.param("nia@example.com", {"name": LONG_NAME}, "name", id="name-longer-than-column"),
    ],
)
def test_a_value_too_long_for_its_column_is_a_400(
    email: str, more: dict[str, str], field: str
) -> None:
    """A signup whose email (copied into auth.User's 150-character username) or name does not
    fit its column is a 400 naming the field -- never the database's error (a 503) -- and
    leaves no row."""
    gate = make_gate()
    with override_settings(JWE_GATE=gate):
        answer = signup(Client(), email, **more)
    gate.close()
    assert answer.status_code == 400, answer.content
    body = json.loads(answer.content)
    assert (body["code"], body["payload"]) == ("ERROR_CODE_INPUT_ERROR", {"param": field})
    assert field in body["message"]
    assert User.objects.count() == 0
    assert RecordData.objects.count() == 0


def test_values_that_fit_are_stored_whole() -> None:
    """An email of exactly 150 characters and a 150-character name are stored as given."""
    email = "b" * 138 + "@example.com"
    record = Table("user", DjangoBackend()).create({"email": email, "name": "m" * 150})
    row = User.objects.get(pk=record["id"])
    assert (row.username, row.email, row.first_name) == (email, email, "m" * 150)


def test_an_update_too_long_for_its_column_is_refused() -> None:
    """update with a value its column cannot hold raises FieldValueError naming the field and
    changes nothing."""
    table = Table("user", DjangoBackend())
    record = table.create({"email": "oz@example.com", "name": "Oz"})
    with pytest.raises(FieldValueError) as info:
        table.update(str(record["id"]), {"name": LONG_NAME})
    assert info.value.field == "name"
    assert User.objects.get(pk=record["id"]).first_name == "Oz"


def test_inactive_users_are_not_found() -> None:
    """is_active=False hides a record from get and find, as Django's ModelBackend refuses
    inactive users; active_field=None turns that off."""
    made = User.objects.create_user("dan", "dan@example.com", PASSWORD, is_active=False)
    table = Table("user", DjangoBackend())
    assert table.find("dan@example.com") is None
    assert table.get(str(made.pk)) is None
    assert Table("user", DjangoBackend(active_field=None)).get(str(made.pk)) is not None


@pytest.mark.parametrize(
    ("kwargs", "table", "message"),
    [
        pytest.param({}, "admin", "no model for table", id="unmapped-table"),
        pytest.param({"models": {"user": "auth.Nope"}}, "user", "no Django model", id="no-model"),
        pytest.param(
            {"models": {"user": "auth.Group"}}, "user", "has no field for the login", id="no-login"
        ),
        pytest.param({"fields": {"name": "nickname"}}, "user", "no field 'nickname'", id="bad-map"),
    ],
)
def test_configuration_errors_at_start_up(kwargs: dict[str, Any], table: str, message: str) -> None:
    """A table without a model, or a field the gate needs that the model lacks, is a
    ConfigurationError when the Table is made."""
    with pytest.raises(ConfigurationError, match=message):
        Table(table, DjangoBackend(**kwargs))


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param("pbkdf2_sha256$1000$salt$bad", False, id="pbkdf2-wrong"),
        pytest.param("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", None, id="native-argon2"),
        pytest.param("!unusable", None, id="unusable"),
        pytest.param("plain", None, id="not-a-hash"),
    ],
)
def test_django_hashes_verdicts(stored: str, expected: bool | None) -> None:
    """django_hashes answers only for hashes Django's PASSWORD_HASHERS know."""
    assert django_hashes(stored, PASSWORD) is expected


def test_login_upgrades_a_pbkdf2_hash_to_argon2id() -> None:
    """A user made by create_user (PBKDF2) logs in through the gate; the stored hash becomes
    argon2id in Django's encoding, which the next login and Django's check_password verify."""
    made = User.objects.create_user("eve", "eve@example.com", PASSWORD)
    assert identify_hasher(made.password).algorithm == "pbkdf2_sha256"
    gate = make_gate()
    with override_settings(JWE_GATE=gate):
        client = Client()
        wrong = login(client, "eve@example.com", "wrong-pass1")
        assert wrong.status_code == 403
        assert User.objects.get(pk=made.pk).password == made.password
        first = login(client, "eve@example.com", PASSWORD)
        assert first.status_code == 200, first.content
        stored = User.objects.get(pk=made.pk).password
        assert stored.startswith("argon2$argon2id$")
        assert check_password(PASSWORD, stored)  # Django's admin login still works
        assert login(client, "eve@example.com", PASSWORD).status_code == 200
        assert User.objects.get(pk=made.pk).password == stored  # current parameters: kept
    gate.close()


def test_a_wrong_password_leaves_the_pbkdf2_hash() -> None:
    """A failed login changes nothing: the PBKDF2 hash stays until a correct login."""
    made = User.objects.create_user("fay", "fay@example.com", PASSWORD)
    gate = make_gate()
    with override_settings(JWE_GATE=gate):
        assert login(Client(), "fay@example.com", "wrong-pass1").status_code == 403
    assert User.objects.get(pk=made.pk).password == made.password
    gate.close()


def test_the_async_side_runs_the_orm() -> None:
    """acreate/afind/aget run the ORM from asyncio (asgiref's sync_to_async)."""
    backend = DjangoBackend()

    async def run() -> tuple[Any, Any]:
        made = await backend.acreate("user", {"email": "gus@example.com"}, unique="email")
        return made, await backend.afind("user", "email", "gus@example.com")

    made, found = asyncio.run(run())
    assert found == made
    assert User.objects.get(pk=made["id"]).email == "gus@example.com"
