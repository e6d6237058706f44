"""The one home of sync/async: typed effects, the two drivers, the bridges, the background loop.

An endpoint is written once, as a generator that *yields* the I/O it needs as an
``Effect`` and receives the result (httpx's ``auth_flow``). ``run_sync`` drives it with
blocking calls (WSGI, the command line), ``run_async`` with awaited ones (ASGI). Each side of
an effect is its object's own method where the object has one -- a store or backend offering
both ``rotate`` and ``arotate`` is used natively on each side -- and a bridge otherwise: a
worker thread (or an inline call, for objects that declare ``inline = True``) for a sync method
under asyncio, the background loop for an async method under sync code.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async

from .exceptions import ConfigurationError

__all__ = [
    "Effect",
    "Flow",
    "Twin",
    "run_async",
    "run_on_loop",
    "run_sync",
    "stop_background_loop",
    "to_async",
    "to_sync",
    "twin",
]

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Twin(Generic[R]):
    """One operation with a blocking side and an awaitable side."""

    fn: Callable[..., R]
    afn: Callable[..., Awaitable[R]]

    def __call__(self, *args: Any, **kwargs: Any) -> Effect[R]:
        """The effect of calling this operation with these arguments."""
        return Effect(self.fn, self.afn, args, kwargs)


@dataclass(frozen=True, slots=True)
class Effect(Generic[R]):
    """One piece of I/O a flow asks for: ``fn(*args)``, or ``afn(*args)`` under asyncio."""

    fn: Callable[..., R]
    afn: Callable[..., Awaitable[R]]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


Flow = Generator[Effect[Any], Any, R]
"""A generator that yields effects, receives their results, and returns an ``R``."""


def run_sync(flow: Flow[R]) -> R:
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
        value: R = stop.value
        return value
    finally:
        flow.close()  # an exception that escaped the flow still runs its finally blocks now


async def run_async(flow: Flow[R]) -> R:
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
        value: R = stop.value
        return value
    finally:
        flow.close()  # also when the task is cancelled at an await


def to_async(fn: Callable[..., R], *, inline: bool) -> Callable[..., Awaitable[R]]:
    """An awaitable twin of a blocking call: inline when it never blocks (an in-process dict,
    a local file read), else in a worker thread so the event loop never waits on it."""
    if inline:

        async def call(*args: Any, **kwargs: Any) -> R:
            return fn(*args, **kwargs)

        return call
    return sync_to_async(fn, thread_sensitive=False)


def to_sync(afn: Callable[..., Awaitable[R]]) -> Callable[..., R]:
    """A blocking twin of a coroutine function: it runs on the background loop."""

    def call(*args: Any, **kwargs: Any) -> R:
        return run_on_loop(afn(*args, **kwargs))

    return call


def twin(obj: object, name: str, *, inline: bool | None = None) -> Twin[Any]:
    """Operation ``name`` of ``obj``: its own ``name`` and ``a<name>`` where it has them,
    bridged where it has one side only. ``inline`` defaults to the object's ``inline``."""
    fn = getattr(obj, name, None)
    afn = getattr(obj, "a" + name, None)
    if callable(fn) and callable(afn):
        return Twin(fn, afn)  # native on both sides: no thread hop, no background loop
    if callable(fn):
        if inline is None:
            inline = getattr(obj, "inline", False) is True
        return Twin(fn, to_async(fn, inline=inline))
    if callable(afn):
        return Twin(to_sync(afn), afn)
    raise ConfigurationError(f"{type(obj).__name__} has neither {name} nor a{name}")


# -- the background loop ----------------------------------------------------------------------
# One per process, started lazily, for async backends and stores called from sync code. Not
# asgiref's async_to_sync: outside a running loop it makes a new event loop per call, which
# breaks loop-bound connection pools and locks (and costs ~0.5-2 ms a call).

_loop: tuple[int, asyncio.AbstractEventLoop, threading.Thread] | None = None
_loop_lock = threading.Lock()
_orphans: list[asyncio.AbstractEventLoop] = []
"""Loops inherited through fork (their thread is gone): kept, as collecting one would warn of
an unclosed loop, and closing it would touch the parent's selector and self-pipe."""


def _forget_loop() -> None:
    """In a forked child the loop's thread is gone (and the lock may be held by a ghost)."""
    global _loop, _loop_lock
    if _loop is not None:
        _orphans.append(_loop[1])
    _loop = None
    _loop_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_loop)


def _background_loop() -> asyncio.AbstractEventLoop:
    """The process's background event loop, started on first use (and anew after a fork)."""
    global _loop
    current = _loop
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid():
            if _loop is not None:  # forked without register_at_fork's hook
                _orphans.append(_loop[1])
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="jwe-gate-async-backends", daemon=True
            )
            thread.start()
            _loop = (os.getpid(), loop, thread)
        return _loop[1]


def background_loop_running() -> bool:
    """Whether this process's background loop is running."""
    return _loop is not None and _loop[0] == os.getpid() and _loop[2].is_alive()


def stop_background_loop() -> None:
    """Stop and close the background loop (a later call from sync code starts a new one)."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop[0] != os.getpid():
            return
        _, loop, thread = _loop
        _loop = None
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    if not thread.is_alive():
        loop.close()


async def _awaiting(awaitable: Awaitable[T]) -> T:
    return await awaitable


def run_on_loop(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` on the background loop and wait for its result (context vars carry
    over: the loop's callback, and so the task, runs in a copy of the caller's context)."""
    coro = awaitable if isinstance(awaitable, Coroutine) else _awaiting(awaitable)
    loop = _background_loop()
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coro.close()
        raise RuntimeError(
            "a sync Table or store method was called from a coroutine running on jwe_gate's "
            "background loop, i.e. from inside an async backend: it would wait for itself "
            "forever. Await the async method (aget/afind/acreate/aupdate, ...) instead."
        )
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt while waiting: don't leave the call running
        raise
