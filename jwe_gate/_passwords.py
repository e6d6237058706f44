"""Passwords: the strength policy and a bounded argon2id hasher.

Hashing is memory-hard on purpose (the default profile takes 64 MiB and tens of milliseconds), so
it runs on a dedicated pool of ``max_concurrent`` threads, each hash on one thread (``_argon2``):
never on the event loop, and at the lowest CPU priority (``priority``). At most ``max_queue``
more wait; past that ``HasherBusyError`` becomes a 429. No one client holds more than
``max_per_client`` of those slots, so one address cannot starve the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from ._argon2 import OneThreadHasher
from .exceptions import ConfigurationError, HasherBusyError

__all__ = ["ForeignHashes", "Hasher", "PasswordPolicy"]

T = TypeVar("T")
logger = logging.getLogger("jwe_gate")

ForeignHashes = Callable[[str, str], bool | None]
"""Verifies a stored hash of another scheme (Django's PBKDF2, bcrypt, ...): ``(stored,
password)`` -> True (it matches), False (it does not), or None (not a scheme it knows)."""


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """What a new password must satisfy. The defaults are Xano's, plus a maximum length."""

    min_length: int = 8
    max_length: int = 256
    """In characters: a 10 MB "password" is a 400, not a CPU burn."""
    require_letter: bool = True
    require_digit: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.min_length <= self.max_length <= 4096:
            raise ConfigurationError("need 1 <= min_length <= max_length <= 4096")

    def problem(self, password: str) -> str | None:
        """Why ``password`` is refused, or None when it is acceptable."""
        if len(password) < self.min_length:
            return f"Password must be at least {self.min_length} characters."
        if len(password) > self.max_length:
            return f"Password must be at most {self.max_length} characters."
        # Some hashers and stores cut a string at NUL: "abc\0xyz" must never equal "abc".
        if "\x00" in password:
            return "Password must not contain NUL characters."
        if self.require_letter and not any(c.isalpha() for c in password):
            return "Password must contain a letter."
        if self.require_digit and not any(c.isdigit() for c in password):
            return "Password must contain a digit."
        return None


class Hasher:
    """argon2id hashing with bounded concurrency, shared by the sync and async handlers.

    Args:
        parameters: argon2 parameters (argon2-cffi's ``RFC_9106_LOW_MEMORY`` profile by
            default; ``argon2.profiles.CHEAPEST`` for tests only).
        max_concurrent: hashes running at once (memory: each takes ``memory_cost`` KiB).
        max_queue: hashes allowed to wait beyond those; more is ``HasherBusyError``.
        max_per_client: how many of those ``max_concurrent + max_queue`` slots (running or
            waiting) one client (the ``client=`` the endpoints pass: an address, an IPv6 /64)
            may hold at once; more from that client is ``HasherBusyError``, while others
            still find room. Default: a quarter of the slots (at least 1). With a single slot
            no share can be kept: fairness needs ``max_concurrent + max_queue >= 2``.
        priority: how the hashing threads give way to the rest of the server, on Linux.
            ``"idle"`` (the default): they take the ``SCHED_IDLE`` policy, so they run on the
            cores no other thread wants, and a request that wakes takes a core from them at
            once: other requests keep their latency through a login storm, and the hashes get
            every cycle the requests leave. The price: while other work keeps every core busy
            (the server's own requests, or other programs on the machine), hashes get almost
            none, so logins wait and past the queue are 429. An int from 0 to 19 lowers their
            niceness by that many steps instead (10: about a tenth of an equal share under full
            load, but a woken request may wait out a hash's time slice); 0 leaves the priority
            alone. Elsewhere than Linux (where priority is per process) nothing is changed.
        foreign: verifies hashes of other schemes that records brought along (say
            :func:`jwe_gate.integrations.django.django_hashes`). A match needs a rehash, so the
            login stores an argon2id hash in its place. Such a check costs what its scheme
            costs, not what argon2id costs: until an account's first login upgrades it, its
            login time differs from an unknown email's.
    """

    def __init__(
        self,
        parameters: Parameters = RFC_9106_LOW_MEMORY,
        *,
        max_concurrent: int | None = None,
        max_queue: int = 32,
        max_per_client: int | None = None,
        priority: int | Literal["idle"] = "idle",
        foreign: ForeignHashes | None = None,
    ) -> None:
        if foreign is not None and not callable(foreign):
            raise ConfigurationError("foreign must be a callable (stored, password) -> bool | None")
        self.foreign = foreign
        if parameters.type is not Type.ID:
            raise ConfigurationError("only argon2id is supported")
        # `is None`, not `or`: max_concurrent=0 must be refused below, not become the default.
        workers = min(4, os.cpu_count() or 1) if max_concurrent is None else max_concurrent
        if workers < 1 or max_queue < 0:
            raise ConfigurationError("max_concurrent must be >= 1 and max_queue >= 0")
        # bool is an int to Python, never a niceness a user meant; 19 is the kernel's limit.
        niceness = isinstance(priority, int) and not isinstance(priority, bool)
        if not (priority == "idle" or (niceness and 0 <= int(priority) <= 19)):
            raise ConfigurationError('priority must be "idle" or an int from 0 to 19')
        self.parameters = parameters
        self.priority = priority
        # One hash on one thread: the pool's threads are all the CPU hashing takes (_argon2).
        self._ph: PasswordHasher = OneThreadHasher.from_parameters(parameters)
        lower = priority != 0 and sys.platform.startswith("linux")
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="jwe_gate-hash",
            initializer=functools.partial(_lower_priority, priority) if lower else None,
        )
        self._limit = workers + max_queue
        share = max(1, self._limit // 4) if max_per_client is None else max_per_client
        if share < 1:
            raise ConfigurationError("max_per_client must be >= 1")
        self.max_per_client = min(share, self._limit)
        self._pending = 0
        self._by_client: dict[str, int] = {}
        self._lock = threading.Lock()
        self._dummy: str | None = None

    # -- the work, run in the pool ---------------------------------------------------------

    def _hash(self, password: str) -> str:
        return self._ph.hash(password)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, bool]:
        """(matches, needs rehash). A missing or malformed stored hash fails closed, after the
        same work as a real check, so its timing tells nothing either."""
        # Made on every path, so the first unknown-login check costs no more than any other.
        dummy = self.dummy_hash()
        if isinstance(stored, str) and not stored.startswith("$argon2") and self.foreign:
            verdict = self._verify_foreign(stored, password)
            if verdict is not None:
                # A match always needs a rehash: the record leaves the foreign scheme at once.
                return verdict, verdict
        if not isinstance(stored, str) or not stored.startswith("$argon2"):
            stored = None
        try:
            self._ph.verify(stored or dummy, password)
        except VerifyMismatchError:
            return False, False
        except (VerificationError, InvalidHashError, ValueError):
            # Malformed stored hash (a bad encoding fails before any work; a non-ASCII one is a
            # UnicodeEncodeError, which escaped as a 500): fail closed after the dummy's work.
            with contextlib.suppress(VerificationError, InvalidHashError, ValueError):
                self._ph.verify(dummy, password)
            return False, False
        if stored is None:
            return False, False  # the dummy hash can never log anyone in
        return True, self._ph.check_needs_rehash(stored)

    def _verify_foreign(self, stored: str, password: str) -> bool | None:
        """The ``foreign`` verifier's verdict; one that raises fails closed (False)."""
        assert self.foreign is not None
        try:
            verdict = self.foreign(stored, password)
        except Exception:
            # A broken verifier or a corrupt hash must never let anyone in, nor become a 500.
            logger.exception("foreign password verifier raised; the login is refused")
            return False
        return verdict if verdict is None else verdict is True

    def dummy_hash(self) -> str:
        """A hash of a random secret with the current parameters, for timing-equal misses."""
        if self._dummy is None:
            self._dummy = self._ph.hash(secrets.token_urlsafe(24))
        return self._dummy

    # -- admission -------------------------------------------------------------------------

    def _submit(self, fn: Callable[..., T], *args: Any, client: str | None = None) -> Future[T]:
        """Run ``fn`` on the pool, or raise ``HasherBusyError`` if the queue is full or
        ``client`` already holds its share of it."""
        with self._lock:
            if self._pending >= self._limit:
                raise HasherBusyError("password hashing queue is full")
            held = self._by_client.get(client, 0) if client is not None else 0
            # One address may hold only its share of the slots: a flood from it is refused
            # while every other address still finds room (SPEC: no client starves others).
            if client is not None and held >= self.max_per_client:
                raise HasherBusyError("this client's share of the hashing queue is full")
            self._pending += 1
            if client is not None:
                self._by_client[client] = held + 1
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._done(client)  # a closed pool must not keep the slot: it would leak into a 429
            raise
        future.add_done_callback(lambda _: self._done(client))
        return future

    def full(self, client: str | None = None) -> bool:
        """Whether a hash submitted now (for ``client``) would be refused: the queue is full,
        or ``client`` holds its share of it. A hint, since slots come and go: ``hash`` and
        ``verify`` still decide. The login asks it first, so a flood past the queue is refused
        before it costs a throttle count or a lookup."""
        with self._lock:
            if self._pending >= self._limit:
                return True
            held = self._by_client.get(client, 0) if client is not None else 0
            return client is not None and held >= self.max_per_client

    def _done(self, client: str | None = None) -> None:
        with self._lock:
            self._pending -= 1
            if client is not None:
                left = self._by_client[client] - 1
                if left:
                    self._by_client[client] = left
                else:
                    del self._by_client[client]  # bounded by the slots, not by clients ever seen

    def held_by(self, client: str) -> int:
        """How many slots ``client`` holds now, running or waiting (for inspection and tests)."""
        with self._lock:
            return self._by_client.get(client, 0)

    # -- the twin API ----------------------------------------------------------------------

    def hash(self, password: str, *, client: str | None = None) -> str:
        """Hash ``password`` (argon2id), counted against ``client``'s share when given."""
        return self._submit(self._hash, password, client=client).result()

    async def ahash(self, password: str, *, client: str | None = None) -> str:
        return await asyncio.wrap_future(self._submit(self._hash, password, client=client))

    def verify(
        self, stored: str | None, password: str, *, client: str | None = None
    ) -> tuple[bool, bool]:
        """Check ``password`` against ``stored`` (None: an unknown user, checked against a dummy
        hash so it takes the same time). Returns (matches, needs_rehash)."""
        return self._submit(self._verify, stored, password, client=client).result()

    async def averify(
        self, stored: str | None, password: str, *, client: str | None = None
    ) -> tuple[bool, bool]:
        return await asyncio.wrap_future(
            self._submit(self._verify, stored, password, client=client)
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(priority: int | Literal["idle"]) -> None:
    """Run in each hashing thread as it starts: on Linux, where policy and niceness are per
    thread, give this thread SCHED_IDLE (``"idle"``) or lower its niceness by ``priority``."""
    tid = threading.get_native_id()
    try:
        if priority == "idle":
            # Any thread that wakes preempts a SCHED_IDLE one at once: requests never wait a
            # hash's time slice (pid 0: the calling thread alone).
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            return
        now = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, min(19, now + priority))
    except OSError:
        # A sandbox may refuse it: hashing at the usual priority beats a pool that cannot start.
        logger.warning("could not lower the hashing threads' priority", exc_info=True)
