"""Gates with account recovery, and the requests the recovery tests send."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import argon2

from jwe_gate import Gate, Hasher, KeyRing, MemoryBackend, Recovery, Rule, Table
from support.apps import AUTH_ROUTES, DEFAULT_RULES, admins, users
from support.mailbox import Mailbox
from support.results import RawClient, Result

PASSWORD = "correct horse 1"
NEW_PASSWORD = "battery staple 2"
JSON = ("Content-Type", "application/json")
VERIFIED_RULES = (*DEFAULT_RULES, Rule("/api/verified/**", "required", verified=True))


def links(app: str = "https://app.example", **options: Any) -> dict[str, Any]:
    """Recovery keywords: a link for every purpose on ``app``, plus ``options``."""
    return {
        "reset_url": f"{app}/reset?token={{token}}",
        "verify_url": f"{app}/verify?token={{token}}",
        "magic_url": f"{app}/magic?token={{token}}",
        **options,
    }


def recovery_gate(
    mailer: Any,
    *,
    keys: KeyRing | None = None,
    backend: Any = None,
    admin_mailer: Any = None,
    recovery: dict[str, Any] | None = None,
    table: dict[str, Any] | None = None,
    **gate: Any,
) -> Gate:
    """A gate whose ``user`` table (and ``admin``, with ``admin_mailer``) recovers accounts
    through ``mailer``; argon2's cheapest profile; ``/api/verified/**`` needs a verified email."""
    admin = Table(
        "admin",
        MemoryBackend(admins()),
        recovery=None if admin_mailer is None else Recovery(admin_mailer, **links()),
    )
    user = Table(
        "user",
        backend if backend is not None else MemoryBackend(users()),
        hidden=("secret_note",),
        recovery=Recovery(mailer, **links(**(recovery or {}))),
        **(table or {}),
    )
    gate.setdefault("rules", VERIFIED_RULES)
    gate.setdefault("auth_routes", AUTH_ROUTES)
    gate.setdefault("hasher", Hasher(argon2.profiles.CHEAPEST))
    return Gate(keys=keys or KeyRing.generate(), tables=[user, admin], **gate)


def post(
    client: RawClient,
    path: str,
    data: Any = None,
    *,
    token: str | None = None,
    addr: str = "127.0.0.1",
    headers: Sequence[tuple[str, str]] = (),
) -> Result:
    """POST ``data`` as JSON, with a bearer ``token`` when given."""
    hdrs = [JSON, *headers]
    if token is not None:
        hdrs.append(("Authorization", f"Bearer {token}"))
    body = json.dumps(data).encode() if data is not None else b""
    return client("POST", path, hdrs, body=body, client_addr=addr)


def get(client: RawClient, path: str, token: str) -> Result:
    return client("GET", path, [("Authorization", f"Bearer {token}")])


def signup(client: RawClient, email: str = "zoe@x.com", name: str = "Zoe") -> dict[str, str]:
    res = post(client, "/auth/signup", {"name": name, "email": email, "password": PASSWORD})
    assert res.status == 200, res.json
    return dict(res.json)


def login(client: RawClient, email: str = "zoe@x.com", password: str = PASSWORD) -> Result:
    return post(client, "/auth/login", {"email": email, "password": password})


def mailed_token(client: RawClient, box: Mailbox, path: str, email: str = "zoe@x.com") -> str:
    """Ask ``path`` (forgot or magic) for a mail to ``email``; the token of its link."""
    before = len(box.mails)
    res = post(client, path, {"email": email})
    assert res.status == 202, res.json
    box.wait(before + 1)
    return box.token()


def assert_refused_link(res: Result) -> None:
    """``res`` is the one answer for a one-time token that does not count."""
    assert res.status == 400, res.json
    assert res.json == {
        "code": "ERROR_CODE_INPUT_ERROR",
        "message": "Invalid or expired token.",
        "payload": {"param": "token"},
    }
