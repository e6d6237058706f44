"""§Account recovery in the Django integration: ``JWEGateMiddleware`` serves the recovery
endpoints (sync stack and async stack) on ``DjangoBackend``, whose records keep
``email_verified``: reset, verification and magic-link login complete."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import argon2
import pytest
from support import django_env

django_env.configure()

from django.test import AsyncClient, Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from support.mailbox import Mailbox  # noqa: E402
from support.recovery import NEW_PASSWORD, PASSWORD, links  # noqa: E402

from jwe_gate import Gate, KeyRing, Recovery, Rule, Table  # noqa: E402
from jwe_gate._endpoints import later  # noqa: E402
from jwe_gate.integrations.django import DjangoBackend, hasher  # noqa: E402


@pytest.fixture
def box() -> Iterator[Mailbox]:
    django_env.empty_database()
    mailbox = Mailbox()
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", DjangoBackend(), recovery=Recovery(mailbox, **links()))],
        rules=[Rule("/health", "public")],
        auth_routes={"/auth": "user"},
        hasher=hasher(parameters=argon2.profiles.CHEAPEST),
    )
    with override_settings(JWE_GATE=gate):
        yield mailbox
    later.drain()
    gate.close()
    django_env.empty_database()


Requests = list[tuple[str, dict[str, Any], str | None]]


def _sync(requests: Requests, box: Mailbox, mails: int = 0) -> list[Any]:
    client = Client()
    out = []
    for path, body, token in requests:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        res = client.post(path, json.dumps(body), "application/json", headers=headers)
        out.append((res.status_code, json.loads(res.content or b"null")))
    return out


def _async(requests: Requests, box: Mailbox, mails: int = 0) -> list[Any]:
    async def run() -> list[Any]:
        client = AsyncClient()
        out = []
        for path, body, token in requests:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            res = await client.post(path, json.dumps(body), "application/json", headers=headers)
            out.append((res.status_code, json.loads(res.content or b"null")))
        # A mail sent after the answer is a task on this loop: let it finish before the loop
        # ends (a server's loop outlives its requests).
        for _ in range(500):
            if len(box.mails) >= mails:
                break
            await asyncio.sleep(0.01)
        return out

    return asyncio.run(run())


@pytest.mark.parametrize(
    "stack", [pytest.param(_sync, id="sync"), pytest.param(_async, id="async")]
)
def test_recovery_through_the_django_middleware(box: Mailbox, stack: Any) -> None:
    """Signup, verify/send and verify, forgot and reset, magic and magic/login, on Django."""
    ((status, pair),) = stack(
        [("/auth/signup", {"email": "zoe@x.com", "password": PASSWORD}, None)], box
    )
    assert status == 200
    assert pair is not None
    ((status, _),) = stack([("/auth/verify/send", {}, pair["authToken"])], box, 1)
    assert status == 202
    ((status, record),) = stack([("/auth/verify", {"token": box.token()}, None)], box)
    assert status == 200
    assert record["email_verified"] is True
    ((status, _),) = stack([("/auth/password/forgot", {"email": "zoe@x.com"}, None)], box, 2)
    assert status == 202
    box.wait(2)
    reset = {"token": box.token(), "newPassword": NEW_PASSWORD}
    ((status, fresh),) = stack([("/auth/password/reset", reset, None)], box)
    assert status == 200
    assert set(fresh) == {"authToken", "refreshToken"}
    ((status, _),) = stack([("/auth/magic", {"email": "zoe@x.com"}, None)], box, 3)
    assert status == 202
    box.wait(3)
    ((status, signed),) = stack([("/auth/magic/login", {"token": box.token()}, None)], box)
    assert status == 200
    assert "authToken" in signed
