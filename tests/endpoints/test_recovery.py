"""§Account recovery through both adapters: password reset, email verification and magic-link
login, and every refusal of a one-time token (used, expired, of another purpose or table,
replaced by a newer one, killed by a password change)."""

from __future__ import annotations

import pytest
from support.clients import wrap
from support.mailbox import Mailbox
from support.recovery import (
    NEW_PASSWORD,
    PASSWORD,
    assert_refused_link,
    get,
    login,
    mailed_token,
    post,
    recovery_gate,
    signup,
)
from support.results import RawClient
from support.spies import Clock

from jwe_gate import Gate
from jwe_gate._endpoints import later


@pytest.fixture
def box() -> Mailbox:
    return Mailbox()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gate(box: Mailbox, clock: Clock) -> Gate:
    return recovery_gate(box, admin_mailer=box, clock=clock)


@pytest.fixture
def client(adapter: str, gate: Gate) -> RawClient:
    return wrap(gate, adapter)


# -- password reset --------------------------------------------------------------------------


def test_reset_sets_the_password_and_ends_every_old_session(
    client: RawClient, box: Mailbox
) -> None:
    """forgot mails a link; reset with its token answers a pair; every older access and
    refresh token is refused, the old password no longer logs in, the new one does."""
    first = signup(client)
    second = login(client).json
    token = mailed_token(client, box, "/auth/password/forgot")
    mail = box.mails[-1]
    assert mail.to == "zoe@x.com"
    assert f"https://app.example/reset?token={token}" in mail.text
    assert mail.html is not None
    assert token in mail.html
    res = post(client, "/auth/password/reset", {"token": token, "newPassword": NEW_PASSWORD})
    assert res.status == 200, res.json
    assert set(res.json) == {"authToken", "refreshToken"}
    assert res.header("cache-control") == "no-store"
    for old in (first, second):
        assert get(client, "/api/hello", old["authToken"]).status == 401
        refreshed = post(client, "/auth/refresh", {"refreshToken": old["refreshToken"]})
        assert refreshed.status == 401
    assert get(client, "/api/hello", res.json["authToken"]).status == 200
    assert login(client).status == 403
    assert login(client, password=NEW_PASSWORD).status == 200
    # Following the link proved the inbox: the email is verified too.
    me = get(client, "/auth/me", res.json["authToken"])
    assert me.json["email_verified"] is True


def test_a_weak_new_password_is_refused_without_spending_the_token(
    client: RawClient, box: Mailbox
) -> None:
    """A new password the policy refuses is a 400 naming newPassword; the link still works."""
    signup(client)
    token = mailed_token(client, box, "/auth/password/forgot")
    weak = post(client, "/auth/password/reset", {"token": token, "newPassword": "short"})
    assert weak.status == 400
    assert weak.json["payload"] == {"param": "newPassword"}
    ok = post(client, "/auth/password/reset", {"token": token, "newPassword": NEW_PASSWORD})
    assert ok.status == 200


# -- every refusal of a one-time token -------------------------------------------------------


def _reset(client: RawClient, token: str, prefix: str = "/auth") -> int:
    res = post(client, f"{prefix}/password/reset", {"token": token, "newPassword": NEW_PASSWORD})
    if res.status != 200:
        assert_refused_link(res)
    return res.status


def test_a_used_token_is_refused(client: RawClient, box: Mailbox) -> None:
    """A reset token works once: the second use is refused."""
    signup(client)
    token = mailed_token(client, box, "/auth/password/forgot")
    assert _reset(client, token) == 200
    assert _reset(client, token) == 400


@pytest.mark.parametrize(
    ("path", "spend", "lifetime"),
    [
        pytest.param("/auth/password/forgot", "/auth/password/reset", 30 * 60, id="reset-30min"),
        pytest.param("/auth/magic", "/auth/magic/login", 30 * 60, id="magic-30min"),
    ],
)
def test_an_expired_token_is_refused(
    client: RawClient, box: Mailbox, clock: Clock, path: str, spend: str, lifetime: int
) -> None:
    """A link past its lifetime is refused; just before it, it works."""
    signup(client)
    late = mailed_token(client, box, path)
    clock.advance(lifetime + 1)
    res = post(client, spend, {"token": late, "newPassword": NEW_PASSWORD})
    assert_refused_link(res)
    fresh = mailed_token(client, box, path)
    clock.advance(lifetime - 5)
    assert post(client, spend, {"token": fresh, "newPassword": NEW_PASSWORD}).status == 200


def test_a_verification_link_lives_two_days(client: RawClient, box: Mailbox, clock: Clock) -> None:
    """A verification link works after a day, and is refused after two."""
    tokens = signup(client)
    assert post(client, "/auth/verify/send", token=tokens["authToken"]).status == 202
    old = box.token()
    clock.advance(2 * 24 * 3600 + 1)
    assert_refused_link(post(client, "/auth/verify", {"token": old}))
    fresh = login(client).json["authToken"]
    assert post(client, "/auth/verify/send", token=fresh).status == 202
    clock.advance(24 * 3600)
    assert post(client, "/auth/verify", {"token": box.token()}).status == 200


@pytest.mark.parametrize(
    ("mailed_by", "spent_at"),
    [
        pytest.param("/auth/password/forgot", "/auth/magic/login", id="reset-as-magic"),
        pytest.param("/auth/magic", "/auth/password/reset", id="magic-as-reset"),
        pytest.param("/auth/magic", "/auth/verify", id="magic-as-verify"),
    ],
)
def test_a_token_of_another_purpose_is_refused_and_not_spent(
    client: RawClient, box: Mailbox, mailed_by: str, spent_at: str
) -> None:
    """A token posted to another purpose's endpoint is refused, and still works for its own."""
    signup(client)
    token = mailed_token(client, box, mailed_by)
    assert_refused_link(post(client, spent_at, {"token": token, "newPassword": NEW_PASSWORD}))
    own = "/auth/password/reset" if "forgot" in mailed_by else "/auth/magic/login"
    assert post(client, own, {"token": token, "newPassword": NEW_PASSWORD}).status == 200


def test_a_token_of_another_table_is_refused(client: RawClient, box: Mailbox) -> None:
    """A user-table reset token is refused by the admin table's reset, and works for users."""
    signup(client)
    token = mailed_token(client, box, "/auth/password/forgot")
    assert _reset(client, token, "/admin/auth") == 400
    assert _reset(client, token) == 200


def test_a_newer_token_kills_the_older(client: RawClient, box: Mailbox) -> None:
    """Two forgot requests: the first link is refused, the second works."""
    signup(client)
    first = mailed_token(client, box, "/auth/password/forgot")
    second = mailed_token(client, box, "/auth/password/forgot")
    assert first != second
    assert _reset(client, first) == 400
    assert _reset(client, second) == 200


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("password", id="password-change"),
        pytest.param("reset", id="password-reset"),
    ],
)
def test_a_password_change_kills_every_pending_token(
    client: RawClient, box: Mailbox, change: str
) -> None:
    """After a password change (or another reset), pending reset and magic links are refused."""
    tokens = signup(client)
    reset_token = mailed_token(client, box, "/auth/password/forgot")
    magic_token = mailed_token(client, box, "/auth/magic")
    if change == "password":
        res = post(
            client,
            "/auth/password",
            {"password": PASSWORD, "newPassword": NEW_PASSWORD},
            token=tokens["authToken"],
        )
        assert res.status == 200
        assert _reset(client, reset_token) == 400
    else:
        assert _reset(client, reset_token) == 200
    assert_refused_link(post(client, "/auth/magic/login", {"token": magic_token}))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("A" * 43, id="well-formed-unknown"),
        pytest.param("A" * 44, id="too-long"),
        pytest.param("../../etc", id="junk"),
    ],
)
def test_tokens_never_issued_are_refused(client: RawClient, token: str) -> None:
    """Unknown or malformed tokens get the same 400 as a used one, at every spending endpoint."""
    for path in ("/auth/password/reset", "/auth/verify", "/auth/magic/login"):
        assert_refused_link(post(client, path, {"token": token, "newPassword": NEW_PASSWORD}))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"token": 5}, id="number"),
        pytest.param({"token": ""}, id="empty"),
    ],
)
def test_a_missing_token_is_a_400_naming_it(client: RawClient, body: dict[str, object]) -> None:
    """No token at all is an input error naming the field."""
    res = post(client, "/auth/magic/login", body)
    assert res.status == 400
    assert res.json["payload"] == {"param": "token"}


# -- email verification ----------------------------------------------------------------------


def test_verify_then_a_verified_rule_passes(client: RawClient, box: Mailbox) -> None:
    """An unverified email is refused (403) by a verified=True rule; verify/send mails a link,
    verify answers the record (now verified), and the rule lets the same token through."""
    tokens = signup(client)
    access = tokens["authToken"]
    denied = get(client, "/api/verified/x", access)
    assert denied.status == 403
    assert denied.json["code"] == "ERROR_CODE_ACCESS_DENIED"
    assert get(client, "/api/hello", access).status == 200  # other rules do not care
    sent = post(client, "/auth/verify/send", token=access)
    assert sent.status == 202
    assert f"https://app.example/verify?token={box.token()}" in box.mails[-1].text
    res = post(client, "/auth/verify", {"token": box.token()})
    assert res.status == 200
    assert res.json["email"] == "zoe@x.com"
    assert res.json["email_verified"] is True
    assert "password" not in res.json
    assert get(client, "/api/verified/x", access).status == 200
    # Already verified: no further mail.
    count = len(box.mails)
    assert post(client, "/auth/verify/send", token=access).status == 202
    assert len(box.mails) == count


def test_verify_send_needs_a_token(client: RawClient) -> None:
    """verify/send without an access token is a 401."""
    res = post(client, "/auth/verify/send")
    assert res.status == 401
    assert res.header("www-authenticate") is not None


def test_a_changed_email_is_unverified_again(gate: Gate, client: RawClient, box: Mailbox) -> None:
    """Writing the email through the table clears email_verified."""
    tokens = signup(client)
    post(client, "/auth/verify/send", token=tokens["authToken"])
    assert post(client, "/auth/verify", {"token": box.token()}).status == 200
    table = gate.table("user")
    record = table.find("zoe@x.com")
    assert record is not None
    assert record["email_verified"] is True
    changed = table.update(str(record["id"]), {"email": "zoe@elsewhere.com"})
    assert changed is not None
    assert changed["email_verified"] is False
    assert get(client, "/api/verified/x", tokens["authToken"]).status == 403


# -- magic links -----------------------------------------------------------------------------


def test_magic_link_logs_in(client: RawClient, box: Mailbox, gate: Gate) -> None:
    """magic mails a sign-in link; magic/login answers a working pair once, and the email counts
    as verified."""
    signup(client)
    token = mailed_token(client, box, "/auth/magic")
    assert f"https://app.example/magic?token={token}" in box.mails[-1].text
    res = post(client, "/auth/magic/login", {"token": token})
    assert res.status == 200, res.json
    access = res.json["authToken"]
    record = gate.table("user").find("zoe@x.com")
    assert record is not None
    assert gate.verify(access).sub == str(record["id"])
    assert get(client, "/api/verified/x", access).status == 200
    refreshed = post(client, "/auth/refresh", {"refreshToken": res.json["refreshToken"]})
    assert refreshed.status == 200
    assert_refused_link(post(client, "/auth/magic/login", {"token": token}))


@pytest.mark.parametrize("path", ["/auth/password/forgot", "/auth/magic"])
def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    client: RawClient, box: Mailbox, path: str
) -> None:
    """forgot and magic answer an unknown email exactly as a known one, and mail nobody."""
    signup(client)
    known = post(client, path, {"email": "zoe@x.com"})
    unknown = post(client, path, {"email": "nobody@x.com"})
    box.wait(1)
    assert later.drain()
    assert (known.status, known.body) == (unknown.status, unknown.body) == (202, known.body)
    assert [m.to for m in box.mails] == ["zoe@x.com"]
