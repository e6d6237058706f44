"""The auth endpoints: signup, login, me, refresh, logout, password.

Each endpoint is written once, as a generator that *yields* the I/O it needs (a table read, a
hash, a store update) as an :class:`Effect` and receives the result -- the pattern of httpx's
``auth_flow``. Two ~15-line drivers run a flow: :func:`run_sync` for WSGI and the command line,
:func:`run_async` for ASGI. No flow knows which one runs it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from asgiref.sync import sync_to_async

from ._http import Refusal, Response, json_response
from ._passwords import Hasher, PasswordPolicy
from ._rules import Mode
from ._stores import Outcome, RefreshStore, Rotation, Session, ThrottleStore
from ._tables import PASSWORD_CHANGED_AT, Table, millis, password_stamp
from ._user import AuthInfo, AuthUser
from .exceptions import ConfigurationError, DuplicateRecordError, HasherBusyError

if TYPE_CHECKING:
    from ._gate import Gate

__all__ = [
    "ENDPOINTS",
    "AuthService",
    "Effect",
    "HandlerRequest",
    "Throttle",
    "run_async",
    "run_sync",
]

logger = logging.getLogger("jwe_gate")

ENDPOINTS: Mapping[str, tuple[str, Mode]] = {
    # name: (HTTP method, gate mode). Logout is "optional" so a client whose access token has
    # expired can still log out with its refresh token alone.
    "signup": ("POST", "public"),
    "login": ("POST", "public"),
    "refresh": ("POST", "public"),
    "me": ("GET", "required"),
    "logout": ("POST", "optional"),
    "password": ("POST", "required"),
}

_REFRESH_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME_MAX = 200
_LOGIN_MAX = 254
# Token answers carry credentials (and /me a record): no browser or proxy cache may keep a
# copy (RFC 6749 §5.1).
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))


# -- values ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandlerRequest:
    """What an endpoint needs of a request."""

    method: str
    body: bytes
    client: str | None = None
    """The client address (for the login throttle)."""
    user: AuthUser | None = None
    auth: AuthInfo | None = None


@dataclass(frozen=True, slots=True)
class Throttle:
    """Login throttling. An attempt counts against the client address (an IPv6 address by its
    /64) and against the account *from that address*; a third, account-wide counter has a short
    window so a stranger can hold an owner's account for ``account_window`` seconds at most. The
    attempt is counted before the password is checked, and refused (429) past a limit; a
    success takes the account's count for that address off all three counters."""

    max_failures: int = 10
    window: float = 15 * 60
    account_max_failures: int = 100
    account_window: float = 60

    def __post_init__(self) -> None:
        if min(self.max_failures, self.account_max_failures) < 1 or \
                min(self.window, self.account_window) <= 0:
            raise ConfigurationError("throttle limits and windows must be positive")


class _Keys(NamedTuple):
    """The throttle's three counters for one attempt, in the order they are counted."""

    addr: str
    """The client address (an IPv6 one by its /64)."""
    account: str
    """The account, from every address (a short window)."""
    own: str
    """The account from this address: the owner's own failures, forgiven on a success."""


@dataclass(frozen=True, slots=True)
class Effect:
    """One piece of I/O a flow asks for: ``fn(*args)``, or ``afn(*args)`` under asyncio."""

    fn: Callable[..., Any]
    afn: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Flow = Generator[Effect, Any, Response]


def run_sync(flow: Flow) -> Response:
    """Drive a flow with blocking calls."""
    try:
        effect = next(flow)
        while True:
            try:
                result = effect.fn(*effect.args, **effect.kwargs)
            except Exception as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        response: Response = stop.value
        return response


async def run_async(flow: Flow) -> Response:
    """Drive a flow with awaited calls."""
    try:
        effect = next(flow)
        while True:
            try:
                result = await effect.afn(*effect.args, **effect.kwargs)
            except Exception as exc:
                effect = flow.throw(exc)
            else:
                effect = flow.send(result)
    except StopIteration as stop:
        response: Response = stop.value
        return response


def _bridge(fn: Callable[..., Any], inline: bool) -> Callable[..., Awaitable[Any]]:
    """An awaitable twin of a sync store method: inline when cheap, else in a worker thread."""
    if inline:
        async def call(*args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)
        return call
    return sync_to_async(fn, thread_sensitive=False)


# -- errors ------------------------------------------------------------------------------


def _input_error(param: str, message: str) -> Refusal:
    return Refusal(400, "ERROR_CODE_INPUT_ERROR", message, {"param": param})


INVALID_CREDENTIALS = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "Invalid Credentials.")
ACCOUNT_IN_USE = Refusal(403, "ERROR_CODE_ACCESS_DENIED", "This account is already in use.")
# Every 401 carries WWW-Authenticate (SPEC §Errors); a refresh token was present, so invalid_token.
REFRESH_INVALID = Refusal(401, "ERROR_CODE_UNAUTHORIZED", "Invalid refresh token.",
                            headers=(("www-authenticate", 'Bearer error="invalid_token"'),))
NOT_AUTHENTICATED = Refusal(401, "ERROR_CODE_UNAUTHORIZED",
                              "Unauthorized - Authentication Required",
                              headers=(("www-authenticate", "Bearer"),))
BODY_TOO_LARGE = Refusal(413, "ERROR_CODE_INPUT_ERROR", "Request body too large.",
                           {"param": "body"})


def _busy(retry_after: int) -> Refusal:
    return Refusal(429, "ERROR_CODE_TOO_MANY_REQUESTS", "Too many requests.",
                     headers=(("retry-after", str(max(1, retry_after))),))


def _method_not_allowed(method: str) -> Refusal:
    return Refusal(405, "ERROR_CODE_BAD_REQUEST", "Method not allowed.",
                     headers=(("allow", method),))


class _Refused(Exception):
    """Raised inside a flow to answer with ``error`` at once."""

    def __init__(self, error: Refusal) -> None:
        self.error = error


# -- the service -------------------------------------------------------------------------


class AuthService:
    """The auth endpoints of one table. Build it through :meth:`Gate.auth_service`."""

    def __init__(self, gate: Gate, table: Table, *, hasher: Hasher, policy: PasswordPolicy,
                 refresh_store: RefreshStore, throttle_store: ThrottleStore, throttle: Throttle,
                 refresh_grace: float, render: Callable[[Refusal], Response],
                 extras: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None) -> None:
        self.gate = gate
        self.table = table
        self.hasher = hasher
        self.policy = policy
        self.refresh_store = refresh_store
        self.throttle_store = throttle_store
        self.throttle = throttle
        self.grace = refresh_grace
        self.render = render
        self.extras = extras
        self._child_key = gate.keys.derive_secret(b"jwe_gate refresh-token child v1")
        rs, ts = refresh_store, throttle_store
        r_inline = getattr(rs, "inline", False) is True
        t_inline = getattr(ts, "inline", False) is True
        self._rs = {n: (getattr(rs, n), _bridge(getattr(rs, n), r_inline))
                    for n in ("add", "rotate", "revoke", "revoke_family", "revoke_subject")}
        self._ts = {n: (getattr(ts, n), _bridge(getattr(ts, n), t_inline))
                    for n in ("hit", "take")}

    # -- entry points ----------------------------------------------------------------------

    def flow(self, endpoint: str, request: HandlerRequest) -> Flow:
        """The flow answering ``request`` at ``endpoint`` (one of :data:`ENDPOINTS`)."""
        return self._guard(endpoint, request)

    def handle(self, endpoint: str, request: HandlerRequest) -> Response:
        """Answer ``request`` with blocking I/O."""
        return run_sync(self.flow(endpoint, request))

    async def ahandle(self, endpoint: str, request: HandlerRequest) -> Response:
        """Answer ``request`` without blocking the event loop."""
        return await run_async(self.flow(endpoint, request))

    def _guard(self, endpoint: str, request: HandlerRequest) -> Flow:
        method = ENDPOINTS[endpoint][0]
        if request.method != method and not (method == "GET" and request.method == "HEAD"):
            return self.render(_method_not_allowed(method))
        try:
            response: Response = yield from getattr(self, "_" + endpoint)(request)
        except _Refused as refused:
            return self.render(refused.error)
        except HasherBusyError:
            return self.render(_busy(1))
        return response

    # -- effects ---------------------------------------------------------------------------

    def _store(self, name: str, *args: Any, **kwargs: Any) -> Effect:
        fn, afn = self._rs[name]
        return Effect(fn, afn, args, kwargs)

    def _thr(self, name: str, *args: Any, **kwargs: Any) -> Effect:
        fn, afn = self._ts[name]
        return Effect(fn, afn, args, kwargs)

    def _now(self) -> float:
        return self.gate.clock()

    # -- input -----------------------------------------------------------------------------

    @staticmethod
    def _json(body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # deep nesting ([[[[...) raised a 503, not a 400
            raise _Refused(_input_error("body", "Request body must be a JSON object.")) from None
        if not isinstance(data, dict):
            raise _Refused(_input_error("body", "Request body must be a JSON object."))
        return data

    @staticmethod
    def _text(data: Mapping[str, Any], name: str, *, max_len: int, required: bool = True) -> str:
        value = data.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            raise _Refused(_input_error(name, f"Missing param: {name}"))
        # Lone surrogates cannot be encoded: they made hashing (and rendering) raise, a 503.
        if len(value) > max_len or "\x00" in value or _SURROGATE.search(value):
            # Checked before any hashing: an oversized field costs nothing.
            raise _Refused(_input_error(name, f"Invalid value for {name}."))
        return value

    def _login_value(self, data: Mapping[str, Any]) -> str:
        field = self.table.login_field
        value = self.table.normalize_login(self._text(data, field, max_len=_LOGIN_MAX))
        if field == "email" and not _EMAIL.fullmatch(value):
            raise _Refused(_input_error(field, "Invalid email address."))
        # No real login has a control character; refusing them keeps CR/LF out of the logs and
        # stops look-alike accounts that differ from another only by an invisible character.
        if not value or any(ord(c) < 0x20 for c in value):
            raise _Refused(_input_error(field, f"Invalid value for {field}."))
        return value

    def _secret(self, data: Mapping[str, Any], name: str) -> str:
        return self._text(data, name, max_len=self.policy.max_length)

    # -- sessions --------------------------------------------------------------------------

    def _token_hash(self, token: str) -> str:
        # The table is hashed in: another table's refresh token is unknown here, so posting it
        # to the wrong endpoint can neither spend nor revoke it.
        return hashlib.sha256(f"{self.table.name}:{token}".encode()).hexdigest()

    def _child(self, parent: str) -> str:
        # The child is derived from the parent with a keyed hash, so a racing second use of the
        # parent inside the grace window is answered with the same child, and the store still
        # holds only hashes.
        digest = hmac.new(self._child_key, parent.encode(), hashlib.sha256).digest()
        return _b64(digest)

    def _access(self, record: Mapping[str, Any], family: str) -> str:
        # The app's extras function sees the record as the app does: never the password hash.
        extras = dict(self.extras(self.table.public(record))) if self.extras else {}
        return self.gate.issue(self.table.name, record["id"], extras=extras, session=family,
                               password_stamp=password_stamp(record))

    def _start_session(self, record: Mapping[str, Any]) -> Generator[Effect, Any, Response]:
        now = self._now()
        family = secrets.token_urlsafe(16)
        refresh = secrets.token_urlsafe(32)  # 256 bits of randomness
        session = Session(family, self.table.name, str(record["id"]), now)
        yield self._store("add", self._token_hash(refresh), session,
                          expires_at=now + self.table.refresh_ttl, now=now)
        return self._tokens(self._access(record, family), refresh)

    @staticmethod
    def _tokens(access: str, refresh: str) -> Response:
        return json_response(200, {"authToken": access, "refreshToken": refresh}, _NO_STORE)

    # -- throttle --------------------------------------------------------------------------

    def _throttle_keys(self, login: str, client: str | None) -> _Keys:
        addr = _client_bucket(client)
        account = f"{self.table.name}:{login}"
        return _Keys(f"addr:{addr}", f"acct:{account}", f"acct:{account}:{addr}")

    def _limits(self) -> tuple[tuple[int, float], tuple[int, float], tuple[int, float]]:
        """(limit, window) of each counter, in the order of :class:`_Keys`."""
        t = self.throttle
        return ((t.max_failures, t.window), (t.account_max_failures, t.account_window),
                (t.max_failures, t.window))

    def _reserve(self, keys: _Keys) -> Generator[Effect, Any, None]:
        """Count this attempt on every counter, or refuse it (429) if that puts one over its
        limit. Counting *before* the password is checked is what bounds concurrent guesses:
        each hit is atomic and returns the count including itself, so however many attempts
        race, at most ``limit`` of them get through to a hash. (Peeking first and counting after
        the check let 60 racing guesses all peek a count of 0.)

        ``own`` is counted last, so whatever it holds is held by the other two counters as
        well: taking it off them (:meth:`_forgive`) never takes off anything else."""
        now = self._now()
        for i, (key, (limit, window)) in enumerate(zip(keys, self._limits(), strict=True)):
            count, reset_at = yield self._thr("hit", key, window=window, now=now)
            if count > limit:
                # Refused before any hashing: a locked-out attempt costs the server nothing,
                # and, given back, it costs the client nothing either -- so the owner retrying
                # while a stranger holds the account does not lock out the owner's address.
                yield from self._release(keys, counted=i + 1)
                raise _Refused(_busy(int(reset_at - now) + 1))

    def _release(self, keys: _Keys, *, counted: int = 3) -> Generator[Effect, Any, None]:
        """Give back this attempt's count on the first ``counted`` counters (it was refused, or
        its password never checked)."""
        now = self._now()
        back = 1
        if counted == 3:
            # Only what ``own`` still holds: a racing success may have taken this attempt's
            # count already, and taken it off the other two counters with its own. Given back
            # there a second time, it would take a guess on another account off the count.
            back = yield self._thr("take", keys.own, now=now, at_most=1)
        if back:
            for key, (_, window) in zip(keys[:min(counted, 2)], self._limits(), strict=False):
                yield self._thr("hit", key, window=window, now=now, amount=-back)

    def _check_password(self, keys: _Keys, find: Effect,
                        password: str) -> Generator[Effect, Any, tuple[Mapping[str, Any], bool]]:
        """Count the attempt, look the record up with ``find`` and verify ``password``; refuse
        (403) if it does not match. Returns the record and whether its hash needs an upgrade."""
        yield from self._reserve(keys)
        try:
            record = yield find
            stored = record.get(self.table.password_field) if record is not None else None
            # An unknown login is checked against a dummy hash: the same work, the same answer.
            ok, rehash = yield Effect(self.hasher.verify, self.hasher.averify, (stored, password))
        except Exception:
            # Nothing was checked (the table failed, the hasher was too busy): no guess was
            # answered, so the attempt gives its count back.
            yield from self._release(keys)
            raise
        if not ok or record is None:
            raise _Refused(INVALID_CREDENTIALS)  # the attempt stays counted: a failure
        yield from self._forgive(keys)
        return record, bool(rehash)

    def _forgive(self, keys: _Keys) -> Generator[Effect, Any, None]:
        """After a success, take the owner's own attempts (this account, this address, this
        one included) off every counter: a user with a typo streak is not left one mistake from
        a lockout, while failures on other accounts -- an attacker's guesses -- stay counted.

        ``take`` reads and deletes the count in one atomic step, so racing successes share it
        and subtract it once between them. (A separate read and delete let N racing successes
        subtract it N times, laundering the guesses on other accounts off the address's
        count.)"""
        now = self._now()
        own = yield self._thr("take", keys.own, now=now)
        if own:
            for key, (_, window) in zip(keys[:2], self._limits(), strict=False):
                yield self._thr("hit", key, window=window, now=now, amount=-own)

    # -- endpoints -------------------------------------------------------------------------

    def _signup(self, request: HandlerRequest) -> Flow:
        data = self._json(request.body)
        login = self._login_value(data)
        password = self._secret(data, "password")
        name = self._text(data, "name", max_len=_NAME_MAX, required=False)
        problem = self.policy.problem(password)
        if problem:
            raise _Refused(_input_error("password", problem))
        existing = yield Effect(self.table.find, self.table.afind, (login,))
        if existing is not None:
            raise _Refused(ACCOUNT_IN_USE)  # checked first so a taken email costs no hash
        hashed = yield Effect(self.hasher.hash, self.hasher.ahash, (password,))
        fields = {"name": name, self.table.login_field: login,
                  self.table.password_field: hashed}
        try:
            record = yield Effect(self.table.create, self.table.acreate, (fields,))
        except DuplicateRecordError:
            raise _Refused(ACCOUNT_IN_USE) from None  # lost a race with a concurrent signup
        return (yield from self._start_session(record))

    def _login(self, request: HandlerRequest) -> Flow:
        data = self._json(request.body)
        login = self._login_value(data)
        password = self._secret(data, "password")
        keys = self._throttle_keys(login, request.client)
        record, rehash = yield from self._check_password(
            keys, Effect(self.table.find, self.table.afind, (login,)), password)
        if rehash:
            new_hash = yield Effect(self.hasher.hash, self.hasher.ahash, (password,))
            yield Effect(self.table.update, self.table.aupdate,
                         (str(record["id"]), {self.table.password_field: new_hash}))
        return (yield from self._start_session(record))

    def _me(self, request: HandlerRequest) -> Flow:
        if request.user is None:
            raise _Refused(NOT_AUTHENTICATED)
        yield from ()  # a flow is a generator even when it needs no I/O
        return json_response(200, dict(request.user.record), _NO_STORE)

    def _refresh_token(self, data: Mapping[str, Any]) -> str:
        token = data.get("refreshToken")
        if not isinstance(token, str) or not token:
            raise _Refused(_input_error("refreshToken", "Missing param: refreshToken"))
        if not _REFRESH_TOKEN.fullmatch(token):
            # Not a token we could have minted: refused without a store round trip, so junk of
            # any size or alphabet never costs a hash and a query.
            raise _Refused(REFRESH_INVALID)
        return token

    def _refresh(self, request: HandlerRequest) -> Flow:
        token = self._refresh_token(self._json(request.body))
        child = self._child(token)
        now = self._now()
        rotation: Rotation = yield self._store(
            "rotate", self._token_hash(token), self._token_hash(child), now=now,
            expires_at=now + self.table.refresh_ttl, grace=self.grace)
        if rotation.outcome is Outcome.REUSED:
            logger.warning("refresh token reused: family %s of %s %s revoked",
                           rotation.session.family if rotation.session else "?",
                           self.table.name, rotation.session.subject if rotation.session else "?")
        if rotation.outcome not in (Outcome.ROTATED, Outcome.GRACE) or rotation.session is None:
            raise _Refused(REFRESH_INVALID)
        session = rotation.session
        if session.table != self.table.name:
            raise _Refused(REFRESH_INVALID)  # a refresh token never crosses tables
        record = yield Effect(self.table.get, self.table.aget, (session.subject,))
        if record is None:
            # The record is gone: end the family for good, so it cannot mint tokens again should
            # the id be reused by a new record.
            yield self._store("revoke_family", session.family)
            raise _Refused(REFRESH_INVALID)
        if password_stamp(record) > millis(session.created_at):
            # The family began before the password's last change. The change revokes it, but
            # should that revoke have failed, or a login with the old password have slipped in
            # between, a thief's copy must still not mint tokens: refuse it and end it here.
            yield self._store("revoke_family", session.family)
            raise _Refused(REFRESH_INVALID)
        return self._tokens(self._access(record, session.family), child)

    def _logout(self, request: HandlerRequest) -> Flow:
        family = _session_of(request.auth)
        if family is None:
            data = self._json(request.body) if request.body.strip() else {}
            if "refreshToken" not in data:
                if request.user is not None:
                    return Response(204, _NO_STORE)  # a token with no session: nothing to end
                raise _Refused(NOT_AUTHENTICATED)
            token = self._refresh_token(data)
            session = yield self._store("revoke", self._token_hash(token))
            if session is None or session.table != self.table.name:
                raise _Refused(REFRESH_INVALID)
        else:
            yield self._store("revoke_family", family)
        return Response(204, _NO_STORE)

    def _password(self, request: HandlerRequest) -> Flow:
        if request.user is None:
            raise _Refused(NOT_AUTHENTICATED)
        data = self._json(request.body)
        old = self._secret(data, "password")
        new = self._secret(data, "newPassword")
        problem = self.policy.problem(new)
        if problem:
            raise _Refused(_input_error("newPassword", problem))
        subject = request.user.identity
        keys = self._throttle_keys(f"id:{subject}", request.client)
        yield from self._check_password(
            keys, Effect(self.table.get, self.table.aget, (subject,)), old)
        hashed = yield Effect(self.hasher.hash, self.hasher.ahash, (new,))
        # Every session of the record ends *before* the password changes: if revoking fails,
        # the change is not made, rather than made with a thief's session still alive. (A family
        # started in between is refused at refresh: it predates the change.) This client gets
        # a fresh session.
        yield self._store("revoke_subject", self.table.name, subject)
        record = yield Effect(self.table.update, self.table.aupdate, (subject, {
            self.table.password_field: hashed, PASSWORD_CHANGED_AT: millis(self._now())}))
        if record is None:
            raise _Refused(NOT_AUTHENTICATED)
        return (yield from self._start_session(record))


def _client_bucket(client: str | None) -> str:
    """The throttle's name for a client address. An IPv6 host is routinely given a whole /64
    (SLAAC and privacy addresses pick the low 64 bits freely), so counting per address would
    give one host 2**64 fresh counters: IPv6 is counted per /64. IPv4 is counted as is, and
    anything not an address (a Unix socket, a test client's name) as given."""
    if not client:
        return "-"
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(ip, ipaddress.IPv4Address):
        return client
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)  # an IPv4 client on a dual-stack socket: its IPv4 address
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


def _session_of(auth: AuthInfo | None) -> str | None:
    if auth is None or auth.claims is None:
        return None
    sid = auth.claims.raw.get("sid")
    return sid if isinstance(sid, str) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
