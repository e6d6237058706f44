"""The account endpoints: signup, login, me, and the password change."""

from __future__ import annotations

from collections.abc import Callable

from .._passwords import Hasher, PasswordPolicy
from .._sansio import refusals
from .._sansio.http import json_response
from .._sansio.records import EMAIL_VERIFIED, PASSWORD_CHANGED_AT, millis
from .._sansio.request import HandlerRequest
from .._storage.table import Table
from .._twins import Effect
from ..exceptions import DuplicateRecordError, FieldValueError
from . import inputs
from .flow import NO_STORE, EndpointFlow, Refused
from .recovery import OnceTokens
from .sessions import Sessions
from .throttle import Throttler, hasher_client

__all__ = ["Account"]


class Account:
    """The account endpoints of one table."""

    def __init__(
        self,
        table: Table,
        hasher: Hasher,
        policy: PasswordPolicy,
        sessions: Sessions,
        throttler: Throttler,
        clock: Callable[[], float],
        once: OnceTokens | None = None,
    ) -> None:
        self.table = table
        self._once = once
        self._hasher = hasher
        self._policy = policy
        self._sessions = sessions
        self._throttler = throttler
        self._clock = clock

    def _login(self, data: dict[str, object]) -> str:
        return inputs.login_value(data, self.table.login_field, self.table.normalize_login)

    def _secret(self, data: dict[str, object], name: str) -> str:
        return inputs.text(data, name, max_len=self._policy.max_length)

    def hash_password(self, password: str, client: str | None) -> Effect[str]:
        # Counted against the client's share of the hasher: one address cannot take it all.
        return Effect(
            self._hasher.hash, self._hasher.ahash, (password,), {"client": hasher_client(client)}
        )

    def signup(self, request: HandlerRequest) -> EndpointFlow:
        data = inputs.json_object(request.body)
        login = self._login(data)
        password = self._secret(data, "password")
        name = inputs.text(data, "name", max_len=inputs.NAME_MAX, required=False)
        more = inputs.signup_extras(data, self.table.signup_fields)
        problem = self._policy.problem(password)
        if problem:
            raise Refused(refusals.input_error("password", problem))
        # Counted per address before the lookup and the hash: a signup flood costs a counter.
        yield from self._throttler.count_signup(request.client)
        existing = yield self.table.effect("find", login)
        if existing is not None:
            raise Refused(refusals.ACCOUNT_IN_USE)  # checked first so a taken email costs no hash
        hashed = yield self.hash_password(password, request.client)
        fields = {
            **more,
            "name": name,
            self.table.login_field: login,
            self.table.password_field: hashed,
            # Unverified until the owner follows a verification (or sign-in, or reset) link.
            EMAIL_VERIFIED: False,
        }
        try:
            record = yield self.table.effect("create", fields)
        except DuplicateRecordError:
            raise Refused(refusals.ACCOUNT_IN_USE) from None  # lost a race with another signup
        except FieldValueError as exc:
            if exc.field == self.table.password_field:
                raise  # the table cannot hold our hash: its fault, not the client's (a 503, logged)
            # Input the table cannot hold is the client's error (400 naming it), not a 503.
            raise Refused(refusals.input_error(exc.field, str(exc))) from None
        # The creator knows the password: the signup's address is the owner's own from now on.
        yield from self._throttler.trust(self._throttler.keys(login, request.client))
        return (yield from self._sessions.start(record))

    def login(self, request: HandlerRequest) -> EndpointFlow:
        data = inputs.json_object(request.body)
        login = self._login(data)
        password = self._secret(data, "password")
        keys = self._throttler.keys(login, request.client)
        # The session dates from before the record is read, by one stamp unit (password stamps
        # are whole milliseconds): a password change that lands while this (old) password is
        # being checked is then strictly newer than the session, so it ends it.
        read_at = self._clock() - 0.001
        record, rehash = yield from self._throttler.check_password(
            keys, self.table.effect("find", login), password
        )
        if rehash:
            new_hash = yield self.hash_password(password, request.client)
            yield self.table.effect(
                "update", str(record["id"]), {self.table.password_field: new_hash}
            )
        return (yield from self._sessions.start(record, since=read_at))

    def me(self, request: HandlerRequest) -> EndpointFlow:
        if request.user is None:
            raise Refused(refusals.MISSING)
        yield from ()  # a flow is a generator even when it needs no I/O
        return json_response(200, dict(request.user.record), NO_STORE)

    def password(self, request: HandlerRequest) -> EndpointFlow:
        if request.user is None:
            raise Refused(refusals.MISSING)
        data = inputs.json_object(request.body)
        old = self._secret(data, "password")
        new = self._secret(data, "newPassword")
        problem = self._policy.problem(new)
        if problem:
            raise Refused(refusals.input_error("newPassword", problem))
        subject = request.user.identity
        keys = self._throttler.keys(f"id:{subject}", request.client)
        yield from self._throttler.check_password(keys, self.table.effect("get", subject), old)
        hashed = yield self.hash_password(new, request.client)
        # Every session of the record ends *before* the password changes: if revoking fails,
        # the change is not made, rather than made with a thief's session still alive. (A family
        # started in between is refused at refresh: it predates the change.) This client gets
        # a fresh session.
        yield from self._sessions.end_all(subject)
        record = yield self.table.effect(
            "update",
            subject,
            {self.table.password_field: hashed, PASSWORD_CHANGED_AT: millis(self._clock())},
        )
        if record is None:
            raise Refused(refusals.MISSING)
        if self._once is not None:
            yield from self._once.drop(subject)  # a pending reset or sign-in link dies with it
        return (yield from self._sessions.start(record))
