"""Doubles that record or steer: a spying ``Hasher`` and a clock moved by hand."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import argon2

from jwe_gate import Hasher


class Clock:
    """A clock for ``Gate(clock=...)``: the real time when made, then moved only by ``advance``."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Work:
    """One argon2 computation a :class:`SpyHasher` saw."""

    kind: str
    """``hash`` or ``verify``."""
    against: str | None
    """For ``verify``: the stored hash it checked against."""
    thread: str
    on_loop: bool
    """Whether an asyncio event loop was running in that thread."""
    nice: int
    """That thread's niceness (its CPU priority; Linux keeps one per thread)."""
    policy: int | None
    """That thread's scheduling policy (``os.SCHED_IDLE``, ...), where the platform tells."""


def niceness() -> int:
    """The calling thread's niceness: Linux keeps one per thread; elsewhere, the process's."""
    linux = sys.platform.startswith("linux")
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if linux else 0)


def policy() -> int | None:
    """The calling thread's scheduling policy (Linux keeps one per thread), or None where
    Python cannot read it."""
    read = getattr(os, "sched_getscheduler", None)
    return None if read is None else int(read(0))


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class _Argon2Spy:
    """Stands in for a Hasher's argon2 ``PasswordHasher``, recording every computation."""

    def __init__(self, real: argon2.PasswordHasher, owner: SpyHasher) -> None:
        self._real = real
        self._owner = owner

    def _run(self, kind: str, against: str | None, fn: Callable[[], Any]) -> Any:
        o = self._owner
        on_loop = _loop_running()
        with o.spy_lock:
            name, nice = threading.current_thread().name, niceness()
            o.work.append(Work(kind, against, name, on_loop, nice, policy()))
            o.running += 1
            o.peak = max(o.peak, o.running)
        try:
            o.entered.set()
            if o.hold is not None and not on_loop:  # held on the loop, it would hang the test
                o.hold.wait(10)
            if o.delay:
                time.sleep(o.delay)
            return fn()
        finally:
            with o.spy_lock:
                o.running -= 1

    def hash(self, password: str | bytes, **kwargs: Any) -> str:
        return str(self._run("hash", None, lambda: self._real.hash(password, **kwargs)))

    def verify(self, hash: Any, password: str | bytes) -> Any:
        return self._run(
            "verify",
            hash if isinstance(hash, str) else repr(hash),
            lambda: self._real.verify(hash, password),
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class SpyHasher(Hasher):
    """A ``Hasher`` (argon2's cheapest profile by default) that records the calls the handlers
    make (``calls``: ``hash``, ``ahash``, ``verify``, ``averify``) and every argon2 computation
    (``work``), with the peak number running at once. Setting ``hold`` (an Event) makes each
    computation wait for it, ``delay`` (seconds) sleep first; ``entered`` is set when one
    starts."""

    def __init__(
        self, parameters: argon2.Parameters = argon2.profiles.CHEAPEST, **kwargs: Any
    ) -> None:
        super().__init__(parameters, **kwargs)
        self.calls: list[str] = []
        self.work: list[Work] = []
        self.running = 0
        self.peak = 0
        self.hold: threading.Event | None = None
        self.delay = 0.0
        self.entered = threading.Event()
        self.spy_lock = threading.Lock()
        self._ph = _Argon2Spy(self._ph, self)  # type: ignore[assignment]

    def pending(self) -> int:
        """How many hashes hold a slot now, running or queued."""
        with self._lock:
            return self._pending

    def reset(self) -> None:
        """Forget what was recorded so far."""
        with self.spy_lock:
            self.calls.clear()
            self.work.clear()
            self.peak = self.running
        self.entered.clear()

    def hash(self, password: str, *, client: str | None = None) -> str:
        self.calls.append("hash")
        return super().hash(password, client=client)

    async def ahash(self, password: str, *, client: str | None = None) -> str:
        self.calls.append("ahash")
        return await super().ahash(password, client=client)

    def verify(
        self, stored: str | None, password: str, *, client: str | None = None
    ) -> tuple[bool, bool]:
        self.calls.append("verify")
        return super().verify(stored, password, client=client)

    async def averify(
        self, stored: str | None, password: str, *, client: str | None = None
    ) -> tuple[bool, bool]:
        self.calls.append("averify")
        return await super().averify(stored, password, client=client)
