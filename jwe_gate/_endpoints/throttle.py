"""The throttle: fixed-window counters per attempt, counted before the password is checked, so
however many attempts race, at most the limit reach a hash; signups counted per address; and the
marks of recent successes that keep an account's owner from being locked out by strangers."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

from .._passwords import Hasher
from .._sansio import refusals
from .._twins import Effect, Twin, twin
from ..exceptions import ConfigurationError, HasherBusyError
from .flow import Refused

__all__ = ["Throttle", "Throttler", "client_bucket"]

_MINUTES_15 = 15 * 60
_READ_WINDOW = 1.0
"""The window a read of a mark opens when there is none: short, so reads leave nothing lasting."""


@dataclass(frozen=True, slots=True)
class Throttle:
    """The throttle's limits (SPEC §Handlers), each a count per fixed window in seconds.

    Every login attempt is counted before its password is checked, and refused (429, with
    ``Retry-After``, before any lookup or hash) once a count passes its limit:

    * ``max_failures`` / ``window``: the account *from one client address* (an IPv6 address by
      its /64): the owner's own failures, forgiven by a success. 10 per 15 minutes.
    * ``address_max_failures`` / ``address_window``: the client address, whatever the account:
      larger, since many users share one NAT. 100 per 15 minutes.
    * ``account_max_failures`` / ``account_window``: the account from every address, so guesses
      spread over many addresses are limited too. 100 per hour. An address where the account
      logged in (or signed up) within ``trust_window`` (30 days; 0 turns it off) is exempt from
      this one counter, so however many addresses a stranger fills it from, the owner's own
      address keeps working.
    * ``signup_max`` / ``signup_window``: signups per client address. 20 per 15 minutes.

    Checked once, when built: a ``ConfigurationError`` names what is wrong."""

    max_failures: int = 10
    window: float = _MINUTES_15
    account_max_failures: int = 100
    account_window: float = 60 * 60
    address_max_failures: int = 100
    address_window: float = _MINUTES_15
    signup_max: int = 20
    signup_window: float = _MINUTES_15
    trust_window: float = 30 * 24 * 60 * 60

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type == "int":
                # bool is an int to Python, never a limit a user meant.
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigurationError(f"Throttle.{f.name} must be an int >= 1")
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"Throttle.{f.name} must be a number of seconds")
            minimum_ok = value >= 0 if f.name == "trust_window" else value > 0
            if not (minimum_ok and math.isfinite(value)):
                raise ConfigurationError(f"Throttle.{f.name} must be finite and positive")
        if self.address_max_failures < self.max_failures:
            # The address count includes every (account, address) count: a smaller limit there
            # would lock a whole NAT out before any one account's limit is reached.
            raise ConfigurationError(
                "Throttle.address_max_failures must be >= max_failures (many users share an "
                "address)"
            )


class Keys(NamedTuple):
    """The throttle's keys for one attempt at one account from one client address."""

    addr: str
    """The client address (an IPv6 one by its /64), whatever the account."""
    account: str
    """The account, from every address."""
    own: str
    """The account from this address: the owner's own failures, forgiven on a success."""
    known: str
    """The mark of a recent success at this account from this address."""
    bucket: str | None
    """The client's bucket (see ``client_bucket``), None when the address is unknown: the
    hasher's share is counted per bucket."""


Checked = tuple[Mapping[str, Any], bool]


def hasher_client(client: str | None) -> str | None:
    """The hasher's name for a client: its throttle bucket, or None when the server gave no
    address (every such client is one bucket to the throttle; the hasher cannot tell them apart,
    so it applies no per-client share to them)."""
    bucket = client_bucket(client)
    return None if bucket == "-" else bucket


class Throttler:
    """Counts attempts at one table's accounts in a ``ThrottleStore``."""

    def __init__(
        self,
        table: str,
        store: object,
        limits: Throttle,
        hasher: Hasher,
        password_field: str,
        clock: Callable[[], float],
    ) -> None:
        self._table = table
        self._hit: Twin[tuple[int, float]] = twin(store, "hit")
        self._take: Twin[int] = twin(store, "take")
        self._hasher = hasher
        self._password_field = password_field
        self._clock = clock
        self.limits = limits
        # (limit, window) of each counter, in the order they are counted: addr, account, own.
        self._limits = (
            (limits.address_max_failures, limits.address_window),
            (limits.account_max_failures, limits.account_window),
            (limits.max_failures, limits.window),
        )

    def keys(self, login: str, client: str | None) -> Keys:
        addr = client_bucket(client)
        account = f"{self._table}:{login}"
        return Keys(
            f"addr:{addr}",
            f"acct:{account}",
            f"acct:{account}:{addr}",
            f"known:{account}:{addr}",
            hasher_client(client),
        )

    @staticmethod
    def _counters(keys: Keys) -> tuple[str, str, str]:
        return keys.addr, keys.account, keys.own

    def count_signup(self, client: str | None) -> Generator[Effect[Any], Any, None]:
        """Count a signup from ``client``'s address, or refuse it (429) past the limit. Run
        before the lookup and the hash: a flood of signups costs one counter each."""
        key = f"signup:{client_bucket(client)}"
        window = self.limits.signup_window
        now = self._clock()
        count, reset_at = yield self._hit(key, window=window, now=now)
        if count > self.limits.signup_max:
            # Given back: a refused signup costs nothing, so retrying does not extend the wait.
            yield self._hit(key, window=window, now=now, amount=-1)
            raise Refused(refusals.busy(int(reset_at - now) + 1))

    def count_mail(
        self, email: str, client: str | None, per_address: int, per_account: int, window: float
    ) -> Generator[Effect[Any], Any, None]:
        """Count a mail request for ``email`` from ``client``, or refuse it (429) past a limit:
        nobody mail-bombs an inbox or burns the sending quota. Keyed on the email as given
        (normalized), whether or not an account has it, so a refusal reveals nothing."""
        now = self._clock()
        for key, limit in (
            (f"mail:addr:{client_bucket(client)}", per_address),
            (f"mail:acct:{self._table}:{email}", per_account),
        ):
            count, reset_at = yield self._hit(key, window=window, now=now)
            if count > limit:
                raise Refused(refusals.busy(int(reset_at - now) + 1))

    def check_password(
        self, keys: Keys, find: Effect[Any], password: str
    ) -> Generator[Effect[Any], Any, Checked]:
        """Count the attempt, look the record up with ``find`` and verify ``password``; refuse
        (403) if it does not match. Returns the record and whether its hash needs an upgrade."""
        if self._hasher.full(keys.bucket):
            # Refused before any counter or lookup: this attempt would be given back anyway, and
            # a flood past the hashing queue then costs no store writes (the 429 comes at once).
            raise HasherBusyError("password hashing queue is full")
        yield from self._reserve(keys)
        try:
            record = yield find
            stored = record.get(self._password_field) if record is not None else None
            # An unknown login is checked against a dummy hash: the same work, the same answer.
            ok, rehash = yield Effect(
                self._hasher.verify,
                self._hasher.averify,
                (stored, password),
                {"client": keys.bucket},
            )
        except Exception:
            # Nothing was checked (the table failed, the hasher was too busy): no guess was
            # answered, so the attempt gives its count back.
            yield from self._release(keys)
            raise
        if not ok or record is None:
            raise Refused(refusals.INVALID_CREDENTIALS)  # the attempt stays counted: a failure
        yield from self._forgive(keys)
        yield from self.trust(keys)
        return record, bool(rehash)

    def _reserve(self, keys: Keys) -> Generator[Effect[Any], Any, None]:
        """Count this attempt on every counter, or refuse it (429) if that puts one over its
        limit. Counting *before* the password is checked is what bounds concurrent guesses:
        each hit is atomic and returns the count including itself, so however many attempts
        race, at most ``limit`` of them get through to a hash. (Peeking first and counting after
        the check let 60 racing guesses all peek a count of 0.)

        ``own`` is counted last, so whatever it holds is held by the other two counters as
        well: taking it off them (``_forgive``) never takes off anything else. A known
        address (a recent success) is still *counted* on the account-wide counter -- so that
        stays exact -- but never *refused* by it."""
        now = self._clock()
        known = False
        if self.limits.trust_window > 0:
            # amount=0 reads the mark without counting; the 1 s window means an unknown pair
            # (every stranger's address) leaves a 0 behind for a second, not for 30 days.
            marks, _ = yield self._hit(keys.known, window=_READ_WINDOW, now=now, amount=0)
            known = marks > 0
        for i, (key, (limit, window)) in enumerate(
            zip(self._counters(keys), self._limits, strict=True)
        ):
            count, reset_at = yield self._hit(key, window=window, now=now)
            # Strangers can fill the account-wide counter from any number of addresses; the
            # owner's address (a recent success there) is exempt from it, so never locked out.
            if count > limit and not (i == 1 and known):
                # Refused before any hashing: a locked-out attempt costs the server nothing,
                # and, given back, it costs the client nothing either -- so the owner retrying
                # while a stranger holds the account does not lock out the owner's address.
                yield from self._release(keys, counted=i + 1)
                raise Refused(refusals.busy(int(reset_at - now) + 1))

    def _release(self, keys: Keys, *, counted: int = 3) -> Generator[Effect[Any], Any, None]:
        """Give back this attempt's count on the first ``counted`` counters (it was refused, or
        its password never checked)."""
        now = self._clock()
        back = 1
        if counted == 3:
            # Only what ``own`` still holds: a racing success may have taken this attempt's
            # count already, and taken it off the other two counters with its own. Given back
            # there a second time, it would take a guess on another account off the count.
            back = yield self._take(keys.own, now=now, at_most=1)
        if back:
            for key, (_, window) in zip(
                self._counters(keys)[: min(counted, 2)], self._limits, strict=False
            ):
                yield self._hit(key, window=window, now=now, amount=-back)

    def _forgive(self, keys: Keys) -> Generator[Effect[Any], Any, None]:
        """After a success, take the owner's own attempts (this account, this address, this
        one included) off every counter: a user with a typo streak is not left one mistake from
        a lockout, while failures on other accounts -- an attacker's guesses -- stay counted.

        ``take`` reads and deletes the count in one atomic step, so racing successes share it
        and subtract it once between them. (A separate read and delete let N racing successes
        subtract it N times, laundering the guesses on other accounts off the address's
        count.)"""
        now = self._clock()
        own = yield self._take(keys.own, now=now)
        if own:
            for key, (_, window) in zip(self._counters(keys)[:2], self._limits, strict=False):
                yield self._hit(key, window=window, now=now, amount=-own)

    def trust(self, keys: Keys) -> Generator[Effect[Any], Any, None]:
        """Mark this address as the account's own for ``trust_window`` seconds (after a login
        or signup with the right password): it is then exempt from the account-wide counter."""
        trust = self.limits.trust_window
        if trust <= 0:
            return
        now = self._clock()
        _, until = yield self._hit(keys.known, window=trust, now=now, amount=1)
        if until - now < trust / 2:
            # A fixed window would end 30 days after the first success (or a second after the
            # read's), however often the owner logs in: renewed at half-life, it stays known.
            yield self._take(keys.known, now=now)
            yield self._hit(keys.known, window=trust, now=now, amount=1)


def client_bucket(client: str | None) -> str:
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
