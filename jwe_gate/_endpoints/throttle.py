"""The login throttle: three fixed-window counters per attempt, counted before the password is
checked, so however many attempts race, at most the limit reach a hash."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._passwords import Hasher
from .._sansio import refusals
from .._twins import Effect, Twin, twin
from ..exceptions import ConfigurationError
from .flow import Refused

__all__ = ["Throttle", "Throttler", "client_bucket"]


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
        if (
            min(self.max_failures, self.account_max_failures) < 1
            or min(self.window, self.account_window) <= 0
        ):
            raise ConfigurationError("throttle limits and windows must be positive")


class Keys(NamedTuple):
    """The throttle's three counters for one attempt, in the order they are counted."""

    addr: str
    """The client address (an IPv6 one by its /64)."""
    account: str
    """The account, from every address (a short window)."""
    own: str
    """The account from this address: the owner's own failures, forgiven on a success."""


Checked = tuple[Mapping[str, Any], bool]


class Throttler:
    """Counts attempts at one table's accounts in a :class:`ThrottleStore`."""

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
        # (limit, window) of each counter, in the order of Keys.
        self._limits = (
            (limits.max_failures, limits.window),
            (limits.account_max_failures, limits.account_window),
            (limits.max_failures, limits.window),
        )

    def keys(self, login: str, client: str | None) -> Keys:
        addr = client_bucket(client)
        account = f"{self._table}:{login}"
        return Keys(f"addr:{addr}", f"acct:{account}", f"acct:{account}:{addr}")

    def check_password(
        self, keys: Keys, find: Effect[Any], password: str
    ) -> Generator[Effect[Any], Any, Checked]:
        """Count the attempt, look the record up with ``find`` and verify ``password``; refuse
        (403) if it does not match. Returns the record and whether its hash needs an upgrade."""
        yield from self._reserve(keys)
        try:
            record = yield find
            stored = record.get(self._password_field) if record is not None else None
            # An unknown login is checked against a dummy hash: the same work, the same answer.
            ok, rehash = yield Effect(self._hasher.verify, self._hasher.averify, (stored, password))
        except Exception:
            # Nothing was checked (the table failed, the hasher was too busy): no guess was
            # answered, so the attempt gives its count back.
            yield from self._release(keys)
            raise
        if not ok or record is None:
            raise Refused(refusals.INVALID_CREDENTIALS)  # the attempt stays counted: a failure
        yield from self._forgive(keys)
        return record, bool(rehash)

    def _reserve(self, keys: Keys) -> Generator[Effect[Any], Any, None]:
        """Count this attempt on every counter, or refuse it (429) if that puts one over its
        limit. Counting *before* the password is checked is what bounds concurrent guesses:
        each hit is atomic and returns the count including itself, so however many attempts
        race, at most ``limit`` of them get through to a hash. (Peeking first and counting after
        the check let 60 racing guesses all peek a count of 0.)

        ``own`` is counted last, so whatever it holds is held by the other two counters as
        well: taking it off them (:meth:`_forgive`) never takes off anything else."""
        now = self._clock()
        for i, (key, (limit, window)) in enumerate(zip(keys, self._limits, strict=True)):
            count, reset_at = yield self._hit(key, window=window, now=now)
            if count > limit:
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
            for key, (_, window) in zip(keys[: min(counted, 2)], self._limits, strict=False):
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
            for key, (_, window) in zip(keys[:2], self._limits, strict=False):
                yield self._hit(key, window=window, now=now, amount=-own)


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
