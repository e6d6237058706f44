"""Work done after an endpoint has answered: the lookups and mails of ``password/forgot`` and
``magic``. Under asyncio it is a task on the running loop (the ASGI adapter awaits it once the
response is sent, as Starlette's background tasks run); under blocking code, a small pool of
worker threads, bounded, so a flood of requests cannot queue unbounded work. A failing job is
logged, never answered: the answer went out before it started."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from .._twins import Flow, run_async, run_sync

__all__ = ["MAX_PENDING", "astart", "start"]

logger = logging.getLogger("jwe_gate")

MAX_PENDING = 256
"""Jobs queued or running in the worker threads at most; past it a job is dropped (and logged).
The mail throttle keeps honest traffic far below it."""
_WORKERS = 2

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_slots = threading.BoundedSemaphore(MAX_PENDING)
_tasks: set[asyncio.Task[None]] = set()
"""Running tasks, held so the loop does not collect them midway."""
_futures: set[Future[None]] = set()
"""Jobs queued or running in the worker threads (for ``drain``)."""


def _forget_pool() -> None:
    """In a forked child the pool's threads are gone: start anew."""
    global _pool, _pool_lock, _slots
    _pool, _pool_lock, _slots = None, threading.Lock(), threading.BoundedSemaphore(MAX_PENDING)
    _futures.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="jwe-gate-later")
        return _pool


def _run(job: Flow[Any], what: str) -> None:
    try:
        run_sync(job)
    except Exception:
        logger.exception("%s failed after its answer", what)


async def _arun(job: Flow[Any], what: str) -> None:
    try:
        await run_async(job)
    except Exception:
        logger.exception("%s failed after its answer", what)


def start(job: Flow[Any], what: str) -> Future[None] | None:
    """Run ``job`` in a worker thread; None when too many are pending (then it is dropped)."""
    slots = _slots
    if not slots.acquire(blocking=False):
        job.close()
        logger.error("%s dropped: %d jobs already pending", what, MAX_PENDING)
        return None
    future = _executor().submit(_run, job, what)
    _futures.add(future)

    def done(f: Future[None]) -> None:
        _futures.discard(f)
        slots.release()

    future.add_done_callback(done)
    return future


def drain(timeout: float = 5.0) -> bool:
    """Wait until the worker threads' jobs queued so far are done (a closing gate lets the
    mails in flight go out); False when ``timeout`` passed first."""
    pending = list(_futures)
    if not pending:
        return True
    _, not_done = wait(pending, timeout=timeout)
    return not not_done


def astart(job: Flow[Any], what: str) -> asyncio.Task[None]:
    """Run ``job`` as a task on the running loop."""
    task = asyncio.get_running_loop().create_task(_arun(job, what))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task
