"""Async backends called from sync code (WSGI, Table.get...): one long-lived background loop,
shared by every thread, so loop-bound resources (locks, connection pools) work."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.util
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import pytest
from support.apps import admins, users
from support.clients import wrap

from jwe_gate import DuplicateRecordError, Gate, MemoryBackend, Table

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 10.0
"""Seconds a bridged call may take before the test calls it a deadlock (and fails, not hangs)."""

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("REQUEST_ID", default="unset")


def load_example(name: str) -> Any:
    """Import ``examples/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def in_threads(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own daemon thread at once; its result or exception, in order.

    Daemon threads joined with a timeout: a deadlocked bridge fails the test instead of hanging
    the run (a ThreadPoolExecutor would block interpreter exit on the stuck workers)."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "bridged calls deadlocked"
    return results


class LoopRecordingBackend:
    """An async backend over a MemoryBackend that records the loop (and context) of each call."""

    inline: ClassVar[bool] = False

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.memory = MemoryBackend(records)
        self.loops: list[int] = []
        self.request_ids: list[str] = []
        self.lock: asyncio.Lock | None = None  # loop-bound: fails if a second loop ever uses it

    async def _enter(self) -> None:
        self.loops.append(id(asyncio.get_running_loop()))
        self.request_ids.append(REQUEST_ID.get())
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            await asyncio.sleep(0)

    async def aget(self, table: str, id: str) -> dict[str, Any] | None:
        await self._enter()
        return self.memory.get(table, id)

    async def afind(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        await self._enter()
        return self.memory.find(table, field, value)

    async def acreate(
        self, table: str, fields: Mapping[str, Any], *, unique: str
    ) -> dict[str, Any]:
        await self._enter()
        return self.memory.create(table, fields, unique=unique)

    async def aupdate(
        self, table: str, id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        await self._enter()
        return self.memory.update(table, id, changes)


class TestOneLoop:
    def test_threads_share_one_loop(self) -> None:
        """200 sync calls from 8 threads at once all run on one event loop."""
        backend = LoopRecordingBackend(users())
        table = Table("user", backend)

        def work(t: int) -> None:
            for i in range(25):
                match i % 4:
                    case 0:
                        assert table.get("1") is not None
                    case 1:
                        assert table.find("bob@example.com") is not None
                    case 2:
                        table.create({"email": f"t{t}-{i}@x.io"})
                    case _:
                        assert table.update("2", {"name": f"Bob {t}"}) is not None

        results = in_threads([partial(work, t) for t in range(8)])
        assert results == [None] * 8
        assert len(backend.loops) == 200
        assert len(set(backend.loops)) == 1

    def test_sync_call_inside_a_running_loop_uses_the_bridge_loop(self) -> None:
        """A sync call from a thread running its own loop works, on the shared loop, not its own."""
        backend = LoopRecordingBackend(users())
        table = Table("user", backend)
        table.get("1")

        async def main() -> tuple[Any, int]:
            return table.get("2"), id(asyncio.get_running_loop())

        [(record, caller_loop)] = in_threads([lambda: asyncio.run(main())])
        assert record["name"] == "Bob"
        assert backend.loops[0] == backend.loops[1] != caller_loop

    def test_context_vars_reach_the_backend(self) -> None:
        """The caller's context variables are visible inside the bridged coroutine."""
        backend = LoopRecordingBackend(users())
        table = Table("user", backend)

        def call(rid: str) -> None:
            REQUEST_ID.set(rid)
            table.get("1")

        in_threads([partial(call, r) for r in ("a", "b", "c")])
        assert sorted(backend.request_ids) == ["a", "b", "c"]

    def test_sync_call_from_the_bridge_loop_raises(self) -> None:
        """A sync Table call made on the bridge loop itself raises instead of deadlocking."""
        table: Table

        class Reentrant(LoopRecordingBackend):
            async def aget(self, table_name: str, id: str) -> dict[str, Any] | None:
                return table.find("ann@example.com")  # sync, on the loop it would wait for

        table = Table("user", Reentrant(users()))
        [result] = in_threads([lambda: table.get("1")])
        assert isinstance(result, RuntimeError)
        assert "await the async method" in str(result).lower()

    def test_new_loop_after_fork(self) -> None:
        """A forked child, whose copy of the loop has no thread, starts its own and works."""
        script = """
import asyncio, gc, os, sys, warnings
warnings.simplefilter("error")
sys.unraisablehook = lambda unraisable: os._exit(4)  # e.g. a warning raised in a __del__
warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads, Python 3.12+
from jwe_gate import MemoryBackend, Table
class B:
    def __init__(self): self.m = MemoryBackend([{"id": 1}])
    async def aget(self, t, i): return {"loop": id(asyncio.get_running_loop()), "pid": os.getpid()}
    async def afind(self, t, f, v): return None
    async def acreate(self, t, f, *, unique): return self.m.create(t, f, unique=unique)
    async def aupdate(self, t, i, c): return None
table = Table("user", B())
parent = table.get("1")
pid = os.fork()
if pid == 0:
    child = table.get("1")
    gc.collect()  # the inherited loop must not be collected (an unclosed-loop warning)
    os._exit(0 if child["pid"] == os.getpid() else 3)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0, status
assert table.get("1") == parent
print("ok")
"""
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ok"


class TestExampleBackend:
    @pytest.mark.parametrize(
        "emails",
        [
            pytest.param([f"u{i}@x.io" for i in range(8)], id="all-distinct"),
            pytest.param([f"u{i % 4}@x.io" for i in range(8)], id="pairs"),
            pytest.param(["same@x.io"] * 8, id="one-email"),
        ],
    )
    def test_concurrent_creates_from_threads(self, emails: list[str]) -> None:
        """8 concurrent creates through the example's asyncio.Lock finish: one record per
        distinct email, the rest refused as duplicates."""
        example = load_example("custom_backend")

        class Slow(example.AsyncDictBackend):  # type: ignore[name-defined,misc]
            async def afind(self, *args: Any) -> Any:
                await asyncio.sleep(0.005)  # yield inside the lock: a racing create would slip in
                return await super().afind(*args)

        backend = Slow()
        table = Table("user", backend)
        results = in_threads([partial(table.create, {"email": e}) for e in emails])
        created = [r for r in results if isinstance(r, dict)]
        refused = [r for r in results if isinstance(r, DuplicateRecordError)]
        assert len(created) + len(refused) == 8, results
        assert sorted(r["email"] for r in created) == sorted(set(emails))
        assert len(backend._rows) == len(set(emails))
        with pytest.raises(DuplicateRecordError):
            table.create({"email": emails[0]})


class TestThroughWSGI:
    def test_async_backend_answers_under_wsgi(self, make_gate: Callable[..., Gate]) -> None:
        """gate.wsgi over an async backend: 200 for a valid token, 401 for an unknown record,
        every lookup on the one bridge loop."""
        backend = LoopRecordingBackend(users())
        gate = make_gate(
            tables=[
                Table("user", backend, hidden=("secret_note",)),
                Table("admin", MemoryBackend(admins())),
            ]
        )
        client = wrap(gate, "wsgi")
        for _ in range(3):
            res = client("GET", "/echo", [("Authorization", f"Bearer {gate.issue('user', 2)}")])
            assert res.status == 200
            assert res.json["record"] == {"id": 2, "name": "Bob", "email": "bob@example.com"}
        missing = client("GET", "/echo", [("Authorization", f"Bearer {gate.issue('user', 99)}")])
        assert missing.status == 401
        assert len(backend.loops) == 4
        assert len(set(backend.loops)) == 1
