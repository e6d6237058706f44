"""Is this process one of several workers? In-memory stores split sessions and the throttle per
process, so a gate that uses them under several workers warns once, at start-up."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from ._storage.memory import MemoryOneTimeStore, MemoryRefreshStore, MemoryThrottleStore

__all__ = ["several_workers", "warn_if_memory_stores"]

logger = logging.getLogger("jwe_gate")


def _count(args: Sequence[str], flags: tuple[str, ...]) -> int:
    """The integer after any of ``flags`` (``-w 4``, ``--workers=4``) in ``args``, else 1."""
    for i, arg in enumerate(args):
        for flag in flags:
            value = None
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "=") and flag.startswith("--"):
                value = arg.split("=", 1)[1]
            elif flag == "-w" and arg.startswith("-w") and arg[2:].isdigit():
                value = arg[2:]
            if value is not None and value.isdigit():
                return int(value)
    return 1


def several_workers(
    environ: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
    in_child: bool | None = None,
) -> str | None:
    """Why this process looks like one of several workers, or None."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    if in_child is None:
        in_child = multiprocessing.parent_process() is not None
    concurrency = environ.get("WEB_CONCURRENCY", "")
    if concurrency.isdigit() and int(concurrency) > 1:
        return f"WEB_CONCURRENCY={concurrency}"
    program = os.path.basename(argv[0]) if argv else ""
    args = list(argv[1:])
    if "gunicorn" in program:
        args += shlex.split(environ.get("GUNICORN_CMD_ARGS", ""))
        if _count(args, ("-w", "--workers")) > 1:
            return "gunicorn with several workers"
    if "uvicorn" in program and _count(args, ("--workers",)) > 1:
        return "uvicorn with several workers"
    if in_child:
        return "a worker process started by multiprocessing"
    return None


def warn_if_memory_stores(stores: Sequence[object]) -> None:
    """Log a warning once if any of ``stores`` keeps its state in this process's memory while
    this process looks like one of several workers."""
    memory = [
        type(s).__name__
        for s in stores
        if isinstance(s, MemoryRefreshStore | MemoryThrottleStore | MemoryOneTimeStore)
    ]
    if not memory:
        return
    why = several_workers()
    if why is not None:
        # Each worker would keep its own sessions and counters: a refresh token spent on one
        # still works on another, and the throttle counts per worker. Say so, loudly, once.
        logger.warning(
            "jwe_gate: %s keep state in process memory, but this process is one of several "
            "workers (%s): sessions and the throttle are not shared between them; use "
            "Stores.sqlite(path), the SQLAlchemy or the Redis stores",
            ", ".join(sorted(set(memory))),
            why,
        )
