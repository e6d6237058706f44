"""Account recovery (SPEC §Account recovery): one-time tokens, and the endpoints that mail and
spend them -- password forgot/reset, email verify/send and verify, magic link and login."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Generator, Mapping
from typing import Any

from .._mail.message import Mail
from .._mail.recovery import Recovery
from .._passwords import PasswordPolicy
from .._sansio import refusals
from .._sansio.http import json_response
from .._sansio.records import EMAIL_VERIFIED, PASSWORD_CHANGED_AT, millis
from .._sansio.request import HandlerRequest
from .._storage.table import Table
from .._twins import Effect, Flow, Twin, twin
from . import inputs
from .flow import NO_STORE, EndpointFlow, Later, Refused
from .sessions import Sessions
from .throttle import Throttler

__all__ = ["ACCEPTED", "OnceTokens", "RecoveryFlows"]

logger = logging.getLogger("jwe_gate")

# One body for every accepted mail request: an unknown email reads exactly as a known one.
ACCEPTED = json_response(
    202, {"message": "If the address has an account, a mail is on its way."}, NO_STORE
)


def _hash(token: str) -> str:
    # Only the hash is stored: a copy of the store (a backup, a read replica) holds no link
    # that works. The token has 256 random bits, so a plain SHA-256 is enough (no salt, no
    # stretching: nobody can guess one to test against it).
    return hashlib.sha256(b"jwe_gate one-time v1:" + token.encode()).hexdigest()


class OnceTokens:
    """One table's one-time tokens, kept (as hashes) in a ``OneTimeStore``."""

    def __init__(self, table: str, store: object, clock: Callable[[], float]) -> None:
        self._table = table
        self._clock = clock
        self._put: Twin[None] = twin(store, "put")
        self._take: Twin[str | None] = twin(store, "take")
        self._drop: Twin[None] = twin(store, "drop")

    def issue(self, purpose: str, subject: str, ttl: float) -> Flow[str]:
        """A new token of ``purpose`` for record ``subject``; the record's earlier one of that
        purpose dies in the same store step."""
        token = secrets.token_urlsafe(32)  # 256 random bits, 43 base64url characters
        now = self._clock()
        yield self._put(
            _hash(token),
            purpose=purpose,
            table=self._table,
            subject=subject,
            expires_at=now + ttl,
            now=now,
        )
        return token

    def spend(self, token: str, purpose: str) -> Flow[str]:
        """The subject of ``token``, now spent; a 400 when it does not count (unknown, spent,
        expired, of another purpose or table). Racing spends of one token: one wins."""
        subject = yield self._take(
            _hash(token), purpose=purpose, table=self._table, now=self._clock()
        )
        if subject is None:
            logger.info("one-time %s token of %s refused", purpose, self._table)
            raise Refused(refusals.LINK_INVALID)
        return str(subject)

    def drop(self, subject: str) -> Generator[Effect[Any], Any, None]:
        """Kill every unused token of record ``subject``: its password changed."""
        yield self._drop(self._table, subject)


class RecoveryFlows:
    """The account-recovery endpoints of one table."""

    def __init__(
        self,
        table: Table,
        recovery: Recovery,
        once: OnceTokens,
        sessions: Sessions,
        throttler: Throttler,
        policy: PasswordPolicy,
        hash_password: Callable[[str, str | None], Effect[str]],
        clock: Callable[[], float],
    ) -> None:
        self.table = table
        self.recovery = recovery
        self._once = once
        self._sessions = sessions
        self._throttler = throttler
        self._policy = policy
        self._hash_password = hash_password
        self._clock = clock
        self._send: Twin[None] = twin(recovery.mailer, "send")

    def flows(self) -> dict[str, Callable[[HandlerRequest], EndpointFlow]]:
        """The endpoint flows of the purposes this table's ``Recovery`` has a link for."""
        every = {
            "password/forgot": ("reset", self.forgot),
            "password/reset": ("reset", self.reset),
            "verify/send": ("verify", self.verify_send),
            "verify": ("verify", self.verify),
            "magic": ("magic", self.magic),
            "magic/login": ("magic", self.magic_login),
        }
        links = self.recovery.links
        return {name: flow for name, (purpose, flow) in every.items() if purpose in links}

    # -- mailing ---------------------------------------------------------------------------

    def _mail(self, purpose: str, record: Mapping[str, Any]) -> Flow[Mail]:
        """A new token of ``purpose`` for ``record``, in the mail that carries its link."""
        email = str(record[self.table.login_field])
        ttl = self.recovery.ttl(purpose)
        token = yield from self._once.issue(purpose, str(record["id"]), ttl)
        name = record.get("name")
        return self.recovery.mail(purpose, email, token, name if isinstance(name, str) else "")

    def _count(self, email: str, request: HandlerRequest) -> Generator[Effect[Any], Any, None]:
        r = self.recovery
        yield from self._throttler.count_mail(
            email, request.client, r.mail_per_address, r.mail_per_account, r.mail_window
        )

    def _accept_then_mail(self, purpose: str, request: HandlerRequest) -> EndpointFlow:
        """forgot and magic: count the request, answer 202, and only then look the email up
        and mail it. The answer -- status, body, time -- is the same whether or not the email
        has an account (no enumeration); a failing mail server is logged, never answered."""
        data = inputs.json_object(request.body)
        email = inputs.login_value(data, self.table.login_field, self.table.normalize_login)
        yield from self._count(email, request)
        job = self._mail_if_known(purpose, email)
        return Later(ACCEPTED.status, ACCEPTED.headers, ACCEPTED.body, job)

    def _mail_if_known(self, purpose: str, email: str) -> Flow[None]:
        record = yield self.table.effect("find", email)
        if record is None:
            logger.info("%s mail for an unknown %s address: none sent", purpose, self.table.name)
            return
        mail = yield from self._mail(purpose, record)
        yield self._send(mail)

    def _token(self, request: HandlerRequest) -> tuple[dict[str, Any], str]:
        data = inputs.json_object(request.body)
        return data, inputs.one_time_token(data, refusals.LINK_INVALID)

    # -- the endpoints ---------------------------------------------------------------------

    def forgot(self, request: HandlerRequest) -> EndpointFlow:
        """POST password/forgot: 202; mails a reset link when the email has an account."""
        return (yield from self._accept_then_mail("reset", request))

    def magic(self, request: HandlerRequest) -> EndpointFlow:
        """POST magic: 202; mails a sign-in link when the email has an account."""
        return (yield from self._accept_then_mail("magic", request))

    def reset(self, request: HandlerRequest) -> EndpointFlow:
        """POST password/reset: spend the token, set the new password, end every session of
        the record and kill its other one-time tokens; answers a new pair."""
        data, token = self._token(request)
        new = inputs.text(data, "newPassword", max_len=self._policy.max_length)
        problem = self._policy.problem(new)
        if problem:  # checked before the token is spent: a weak password does not waste it
            raise Refused(refusals.input_error("newPassword", problem))
        subject = yield from self._once.spend(token, "reset")
        hashed = yield self._hash_password(new, request.client)
        # As a password change: every session ends *before* the password changes, so a failed
        # revoke leaves the old password, not a thief's session under the new one. The stamp
        # then refuses every access token minted before it.
        yield from self._sessions.end_all(subject)
        changes = {
            self.table.password_field: hashed,
            PASSWORD_CHANGED_AT: millis(self._clock()),
            EMAIL_VERIFIED: True,  # the link came to this address: it is the owner's
        }
        record = yield self.table.effect("update", subject, changes)
        if record is None:
            raise Refused(refusals.LINK_INVALID)  # the record is gone
        yield from self._once.drop(subject)
        return (yield from self._sessions.start(record))

    def verify_send(self, request: HandlerRequest) -> EndpointFlow:
        """POST verify/send (with a token): mails a verification link now, so a failing mail
        server is the caller's 503; an address already verified gets no mail."""
        if request.user is None:
            raise Refused(refusals.MISSING)
        record = request.user.record
        if record.get(EMAIL_VERIFIED) is True:
            yield from ()
            return ACCEPTED
        email = str(record.get(self.table.login_field) or "")
        yield from self._count(email, request)
        mail = yield from self._mail("verify", {**record, "id": request.user.identity})
        yield self._send(mail)
        return ACCEPTED

    def verify(self, request: HandlerRequest) -> EndpointFlow:
        """POST verify: spend the token; the record's email is verified; answers the record."""
        _, token = self._token(request)
        subject = yield from self._once.spend(token, "verify")
        record = yield self.table.effect("update", subject, {EMAIL_VERIFIED: True})
        if record is None:
            raise Refused(refusals.LINK_INVALID)  # the record is gone
        if record.get(EMAIL_VERIFIED) is not True:
            # A table with no place for the field (an app table without the column or a JSON
            # column) would say "verified" and forget it: a 503, and the log says why.
            raise RuntimeError(f"table {self.table.name!r} cannot store {EMAIL_VERIFIED!r}")
        return json_response(200, self.table.public(record), NO_STORE)

    def magic_login(self, request: HandlerRequest) -> EndpointFlow:
        """POST magic/login: spend the token for a new session (and a verified email)."""
        _, token = self._token(request)
        subject = yield from self._once.spend(token, "magic")
        record = yield self.table.effect("get", subject)
        if record is None:
            raise Refused(refusals.LINK_INVALID)  # the record is gone
        if record.get(EMAIL_VERIFIED) is not True:
            # The link came to this address: following it proves the inbox is the owner's.
            record = (yield self.table.effect("update", subject, {EMAIL_VERIFIED: True})) or record
        return (yield from self._sessions.start(record))
