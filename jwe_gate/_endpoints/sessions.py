"""Sessions: refresh-token families. Starting one, rotating its refresh token (with reuse
detection), and ending it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Generator, Mapping
from typing import Any

from .._sansio import refusals
from .._sansio.cookies import CookieTransport
from .._sansio.http import Refusal
from .._sansio.records import millis, password_stamp
from .._sansio.request import HandlerRequest
from .._sansio.user import AuthInfo
from .._storage.protocols import Outcome, Rotation, Session
from .._storage.table import Table
from .._tokens import TokenCodec
from .._twins import Effect, Twin, twin
from . import inputs
from .flow import EndpointFlow, Refused, ended, token_pair
from .liveness import Liveness

__all__ = ["Sessions"]

logger = logging.getLogger("jwe_gate")

ExtrasFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class Sessions:
    """The sessions of one table, kept in a ``RefreshStore``."""

    def __init__(
        self,
        table: Table,
        store: object,
        codec: TokenCodec,
        *,
        grace: float,
        clock: Callable[[], float],
        extras: ExtrasFn | None = None,
        liveness: Liveness | None = None,
        cookies: CookieTransport | None = None,
    ) -> None:
        self.table = table
        self._liveness = liveness
        self._cookies = cookies
        self._codec = codec
        self._grace = grace
        self._clock = clock
        self._extras = extras
        self._child_key = codec.keys.derive_secret(b"jwe_gate refresh-token child v1")
        self._add: Twin[None] = twin(store, "add")
        self._rotate: Twin[Rotation] = twin(store, "rotate")
        self._revoke: Twin[Session | None] = twin(store, "revoke")
        self._revoke_family_op: Twin[None] = twin(store, "revoke_family")
        self._revoke_subject: Twin[None] = twin(store, "revoke_subject")

    def _forget(self, family: str | None = None) -> None:
        # What this process revoked is refused here at once, not after the liveness memory.
        if self._liveness is not None:
            self._liveness.forget(family)

    def _revoke_family(self, family: str) -> Generator[Effect[Any], Any, None]:
        yield self._revoke_family_op(family)
        self._forget(family)

    def _hash(self, token: str) -> str:
        # The table is hashed in: another table's refresh token is unknown here, so posting it
        # to the wrong endpoint can neither spend nor revoke it.
        return hashlib.sha256(f"{self.table.name}:{token}".encode()).hexdigest()

    def _child(self, parent: str) -> str:
        # The child is derived from the parent with a keyed hash, so a racing second use of the
        # parent inside the grace window is answered with the same child, the store holds only
        # hashes, and an older token of the family can be recognised by deriving forward from
        # it. It keeps the parent's family id in front.
        digest = hmac.new(self._child_key, parent.encode(), hashlib.sha256).digest()
        return _b64(_raw(parent)[:_FAMILY_BYTES] + digest[:_SECRET_BYTES])

    def _descends(self, token: str, head: str | None, generation: int) -> bool:
        """Whether ``token`` is an older token of the family whose current one hashes to
        ``head``: derive forward from it, at most ``generation`` (and _MAX_WALK) steps."""
        for _ in range(min(generation, _MAX_WALK)):
            token = self._child(token)
            if self._hash(token) == head:
                return True
        return False

    def _access(self, record: Mapping[str, Any], family: str) -> str:
        # The app's extras function sees the record as the app does: never the password hash.
        extras = dict(self._extras(self.table.public(record))) if self._extras else {}
        return self._codec.mint(
            self.table.name,
            record["id"],
            ttl=self.table.access_ttl,
            now=self._clock(),
            extras=extras,
            session=family,
            password_stamp=password_stamp(record),
        )

    def start(self, record: Mapping[str, Any], *, since: float | None = None) -> EndpointFlow:
        """A new session for ``record``: a token pair. ``since``: when the record it was proven
        against was read (a login), so a password change made meanwhile still ends it."""
        now = self._clock()
        raw = secrets.token_bytes(_FAMILY_BYTES + _SECRET_BYTES)  # 256 bits of randomness
        family, refresh = _b64(raw[:_FAMILY_BYTES]), _b64(raw)
        session = Session(
            family, self.table.name, str(record["id"]), now if since is None else since
        )
        yield self._add(
            self._hash(refresh), session, expires_at=now + self.table.refresh_ttl, now=now
        )
        return token_pair(self._access(record, family), refresh, family)

    def _body(self, request: HandlerRequest) -> dict[str, Any]:
        # In cookie mode the credential may be the cookie alone: an empty body is no fields.
        if self._cookies is not None and not request.body.strip():
            return {}
        return inputs.json_object(request.body)

    def _cookie_token(self, request: HandlerRequest) -> str | None:
        """The refresh token in this table's cookie (cookie mode, no ``refreshToken`` in the
        body), once the CSRF token signed for its session came with it; None: no cookie."""
        if self._cookies is None:
            return None
        found = self._cookies.refresh_token(request.view, self.table.name)
        if isinstance(found, Refusal):
            raise Refused(found)
        if found is None:
            return None
        try:
            token = inputs.refresh_token({"refreshToken": found})
        except Refused as refused:
            raise Refused(refused.error, ended=True) from None  # junk in our cookie: clear it
        # A POST the browser authenticates by cookie: without the double-submit token (bound to
        # the cookie's session), another site's form could spend or end the session.
        if not self._cookies.csrf_ok(request.view, self.table.name, _family_of(token)):
            raise Refused(refusals.CSRF)
        return token

    def refresh(self, request: HandlerRequest) -> EndpointFlow:
        """POST refresh: spend the refresh token (the body's, else the cookie's) for a new pair
        of the same family."""
        data = self._body(request)
        token = None if "refreshToken" in data else self._cookie_token(request)
        if token is None:
            return (yield from self._refresh(inputs.refresh_token(data)))
        try:
            return (yield from self._refresh(token))
        except Refused as refused:
            # The cookie's session is over (spent, revoked, expired): its cookies go too.
            raise Refused(refused.error, ended=refused.error.status == 401) from None

    def _refresh(self, token: str) -> EndpointFlow:
        child = self._child(token)
        now = self._clock()
        rotation = yield self._rotate(
            _family_of(token),
            self._hash(token),
            self._hash(child),
            now=now,
            expires_at=now + self.table.refresh_ttl,
            grace=self._grace,
        )
        if (
            rotation.outcome is Outcome.STALE
            and rotation.session is not None
            and self._descends(token, rotation.head, rotation.generation)
        ):
            # An older token of the family presented again: a reuse, like the parent's.
            yield from self._revoke_family(rotation.session.family)
            rotation = Rotation(Outcome.REUSED, rotation.session)
        if rotation.outcome is Outcome.REUSED and rotation.session is not None:
            self._forget(rotation.session.family)  # the store revoked it: its tokens too
        if rotation.outcome is Outcome.REUSED:
            logger.warning(
                "refresh token reused: family %s of %s %s revoked",
                rotation.session.family if rotation.session else "?",
                self.table.name,
                rotation.session.subject if rotation.session else "?",
            )
        if rotation.outcome not in (Outcome.ROTATED, Outcome.GRACE) or rotation.session is None:
            raise Refused(refusals.REFRESH_INVALID)
        session = rotation.session
        if session.table != self.table.name:
            raise Refused(refusals.REFRESH_INVALID)  # a refresh token never crosses tables
        record = yield self.table.effect("get", session.subject)
        if record is None:
            # The record is gone: end the family for good, so it cannot mint tokens again should
            # the id be reused by a new record.
            yield from self._revoke_family(session.family)
            raise Refused(refusals.REFRESH_INVALID)
        if password_stamp(record) > millis(session.created_at):
            # The family began before the password's last change. The change revokes it, but
            # should that revoke have failed, or a login with the old password have slipped in
            # between, a thief's copy must still not mint tokens: refuse it and end it here.
            yield from self._revoke_family(session.family)
            raise Refused(refusals.REFRESH_INVALID)
        return token_pair(self._access(record, session.family), child, session.family)

    def logout(self, request: HandlerRequest) -> EndpointFlow:
        """POST logout: end the token's session, or the refresh token's; with ``{"all": true}``
        every session of the record."""
        data = _logout_body(request)
        everything = data.get("all", False)
        if not isinstance(everything, bool):
            raise Refused(refusals.input_error("all", "Invalid value for all."))
        family = _session_of(request.auth)
        subject = request.user.identity if request.user is not None else None
        if (family is None and subject is None) or (family is None and "refreshToken" in data):
            cookie = None if "refreshToken" in data else self._cookie_token(request)
            if "refreshToken" not in data and cookie is None:
                # No credential counts: the refused token's own answer (expired, invalid); in
                # cookie mode, a refused (dead) access cookie is cleared with it.
                gone = self._cookies is not None and request.refused is not None
                raise Refused(request.refused or refusals.MISSING, ended=gone)
            token = cookie or inputs.refresh_token(data)
            session = yield self._revoke(_family_of(token), self._hash(token))
            if session is None or session.table != self.table.name:
                # Already ended (or never ours): a cookie's session is cleared all the same.
                raise Refused(refusals.REFRESH_INVALID, ended=cookie is not None)
            family, subject = session.family, session.subject
            self._forget(family)
        if everything and subject is not None:
            yield from self.end_all(subject)
        elif family is not None:
            yield from self._revoke_family(family)
        # else: a token with no session (gate.issue) and nothing to end
        return ended(family)

    def end_all(
        self, subject: str, *, keep: str | None = None
    ) -> Generator[Effect[Any], Any, None]:
        """End every session of record ``subject`` (but ``keep``)."""
        yield self._revoke_subject(self.table.name, subject, keep=keep)
        self._forget()


_FAMILY_BYTES = 16
"""A refresh token is 32 random bytes, base64url (43 characters): its first 16 name its family
(the session), so a store keeps one record per session however often it is refreshed."""
_SECRET_BYTES = 16
_MAX_WALK = 4096
"""How many generations back an older token is still recognised as a reuse (at ~3 µs a step);
older ones are refused as invalid, without revoking the family."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _family_of(token: str) -> str:
    """The family a (well-formed, 43-character) refresh token names."""
    return _b64(_raw(token)[:_FAMILY_BYTES])


def _logout_body(request: HandlerRequest) -> dict[str, Any]:
    """The logout body. With an access token the token is the credential, so a body that is not
    a JSON object (``null``, nothing) says nothing; without one it must be an object."""
    if not request.body.strip():
        return {}
    if request.user is not None:
        try:
            return inputs.json_object(request.body)
        except Refused:
            return {}
    return inputs.json_object(request.body)


def _session_of(auth: AuthInfo | None) -> str | None:
    if auth is None or auth.claims is None:
        return None
    sid = auth.claims.raw.get("sid")
    return sid if isinstance(sid, str) else None
