"""The shape the package keeps: no import cycles, one sync/async home, settings groups, storage
invariants once, and resources the gate releases."""

from __future__ import annotations

import ast
import asyncio
import sqlite3
import threading
from collections.abc import Generator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

import jwe_gate
from jwe_gate import (
    ConfigurationError,
    EndpointSettings,
    Gate,
    KeyRing,
    MemoryBackend,
    MemoryRefreshStore,
    SessionSettings,
    SQLiteBackend,
    SQLiteRefreshStore,
    SQLiteThrottleStore,
    Table,
    TokenSettings,
)
from jwe_gate._twins import Effect, background_loop_running, run_async, run_sync, twin

PACKAGE = Path(jwe_gate.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Every package module and the package modules it imports -- anywhere in the file,
    ``TYPE_CHECKING`` blocks and function bodies included."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        here = name.split(".") if is_pkg else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                mod = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def test_no_import_cycles() -> None:
    """No module of the package reaches itself through its imports (TYPE_CHECKING included)."""
    graph = _imports()
    assert "jwe_gate._gate" in graph["jwe_gate"]  # the reader sees relative imports
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for dep in graph[node]:
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            elif len(path) < 30:
                visit(dep, [*path, dep])

    for start in graph:
        if start != "jwe_gate":  # the package re-exports everything: it is the root
            visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("jwe_gate._asgi", id="asgi"),
        pytest.param("jwe_gate._wsgi", id="wsgi"),
        pytest.param("jwe_gate._endpoints.service", id="endpoints"),
    ],
)
def test_adapters_and_endpoints_never_import_the_gate(module: str) -> None:
    """The adapters and the endpoint services get what they use, never the Gate."""
    assert not any(dep.startswith("jwe_gate._gate") for dep in _all_deps(module))


def test_the_sansio_core_imports_no_io() -> None:
    """Nothing under _sansio imports asyncio, threads, storage, twins or JOSE."""
    forbidden = {"asyncio", "threading", "sqlite3", "jwcrypto", "asgiref"}
    for path in (PACKAGE / "_sansio").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        names |= {
            (n.module or "").split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and not n.level
        }
        relative = {
            (n.module or "")
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level == 2
        }
        assert not names & forbidden, path.name
        assert not {m for m in relative if m.split(".")[0] in ("_storage", "_twins", "_tokens")}


def _all_deps(module: str) -> set[str]:
    graph = _imports()
    seen: set[str] = set()
    todo = [module]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_module_is_over_400_lines() -> None:
    """Every module stays readable in one sitting."""
    long = {
        p.name: n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}


# -- the drivers ------------------------------------------------------------------------------


def _flow(log: list[str]) -> Generator[Effect[Any], Any, str]:
    try:
        got = yield Effect(lambda: "sync", _async_value("async"))
        log.append(got)
        yield Effect(_raise, _araise)
        return "unreachable"
    finally:
        log.append("closed")


def _async_value(value: str) -> Any:
    async def call() -> str:
        return value

    return call


def _raise() -> None:
    raise KeyError("boom")


async def _araise() -> None:
    raise KeyError("boom")


@pytest.mark.parametrize(
    "colour", [pytest.param("sync", id="run_sync"), pytest.param("async", id="run_async")]
)
def test_drivers_close_the_flow_when_an_effect_raises(colour: str) -> None:
    """Each driver sends results in, throws failures in, and closes the flow in finally."""
    log: list[str] = []

    def drive() -> str:
        if colour == "sync":
            return run_sync(_flow(log))
        return asyncio.run(run_async(_flow(log)))

    with pytest.raises(KeyError):
        drive()
    assert log == [colour, "closed"]


class _TwoSided:
    """A store offering both sides: each must be used natively."""

    inline: ClassVar[bool] = False

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def hit(self, key: str) -> int:
        self.calls.append(("sync", threading.current_thread().name))
        return 1

    async def ahit(self, key: str) -> int:
        self.calls.append(("async", threading.current_thread().name))
        return 2


def test_a_two_sided_object_is_used_natively_on_each_side() -> None:
    """twin() takes an object's own sync and async methods: no thread hop, no background loop."""
    store = _TwoSided()
    op = twin(store, "hit")
    main = threading.current_thread().name
    assert run_sync(_one(op("k"))) == 1
    assert asyncio.run(run_async(_one(op("k")))) == 2
    assert store.calls == [("sync", main), ("async", main)]


def _one(effect: Effect[int]) -> Generator[Effect[Any], Any, int]:
    result: int = yield effect
    return result


class _DualBackend(MemoryBackend):
    """MemoryBackend with async twins that record their use."""

    def __init__(self) -> None:
        super().__init__()
        self.async_calls = 0

    async def aget(self, table: str, id: str) -> dict[str, Any] | None:
        self.async_calls += 1
        return self.get(table, id)

    async def afind(self, table: str, field: str, value: Any) -> dict[str, Any] | None:
        self.async_calls += 1
        return self.find(table, field, value)

    async def acreate(
        self, table: str, fields: Mapping[str, Any], *, unique: str
    ) -> dict[str, Any]:
        self.async_calls += 1
        return self.create(table, fields, unique=unique)

    async def aupdate(
        self, table: str, id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        self.async_calls += 1
        return self.update(table, id, changes)


def test_a_dual_backend_is_used_on_its_native_side() -> None:
    """Sync calls use the sync methods (no background loop); async calls the async ones."""
    backend = _DualBackend()
    table = Table("user", backend)
    record = table.create({"email": "a@x.io"})
    assert table.get(str(record["id"])) == record
    assert backend.async_calls == 0
    assert asyncio.run(table.aget(str(record["id"]))) == record
    assert backend.async_calls == 1


# -- storage invariants -----------------------------------------------------------------------


def test_two_tables_on_one_memory_backend_are_apart() -> None:
    """A user's record is not an admin's: each table has its own records and ids."""
    backend = MemoryBackend([{"id": 1, "email": "seed@x.io"}])
    users, admins = Table("user", backend), Table("admin", backend)
    ann = users.create({"email": "ann@x.io"})
    assert admins.find("ann@x.io") is None
    assert admins.get(str(ann["id"])) is None
    assert users.find("seed@x.io") == admins.find("seed@x.io") == {"id": 1, "email": "seed@x.io"}


def test_an_admin_token_never_names_a_user_of_the_same_id() -> None:
    """With user and admin on one MemoryBackend, an admin token finds no user record."""
    backend = MemoryBackend()
    gate = Gate(keys=KeyRing.generate(), tables=[Table("user", backend), Table("admin", backend)])
    admin = gate.table("admin").create({"email": "root@x.io"})
    assert gate.table("user").get(str(admin["id"])) is None


# -- settings -----------------------------------------------------------------------------------


def test_settings_groups_and_flat_keywords_agree() -> None:
    """A group and the flat keywords it replaces build the same gate; both at once is an
    error naming the keyword."""
    keys = KeyRing.generate()
    table = Table("user", MemoryBackend())
    grouped = Gate(
        keys=keys,
        tables=[table],
        tokens=TokenSettings(leeway=5, cache_size=0),
        sessions=SessionSettings(refresh_grace=0),
        endpoints=EndpointSettings(max_body_bytes=10),
    )
    flat = Gate(
        keys=keys, tables=[table], leeway=5, token_cache_size=0, refresh_grace=0, max_body_bytes=10
    )
    assert grouped.settings == flat.settings
    assert grouped.codec.leeway == 5.0
    with pytest.raises(ConfigurationError, match="leeway"):
        Gate(keys=keys, tables=[table], tokens=TokenSettings(), leeway=5)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: SessionSettings(refresh_grace=-1), id="negative-grace"),
        pytest.param(lambda: EndpointSettings(max_body_bytes=0), id="no-body"),
        pytest.param(lambda: EndpointSettings(hasher="argon2"), id="hasher-type"),  # type: ignore[arg-type]
    ],
)
def test_settings_are_checked_when_built(bad: Any) -> None:
    """A bad setting is a ConfigurationError at construction, never per request."""
    with pytest.raises(ConfigurationError):
        bad()


# -- resources ----------------------------------------------------------------------------------


def test_close_releases_sqlite_connections_of_every_thread(tmp_path: Path) -> None:
    """Gate.close closes the connections that other threads opened; the gate works after."""
    db = tmp_path / "app.db"
    backend = SQLiteBackend(db)
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", backend)],
        refresh_store=SQLiteRefreshStore(db),
        throttle_store=SQLiteThrottleStore(db),
    )
    record = gate.table("user").create({"email": "a@x.io"})
    opened: list[sqlite3.Connection] = []

    def read() -> None:
        gate.table("user").get(str(record["id"]))
        with backend._use() as conn:
            opened.append(conn)

    worker = threading.Thread(target=read)
    worker.start()
    worker.join()
    gate.close()
    with pytest.raises(sqlite3.ProgrammingError):
        opened[0].execute("SELECT 1")  # closed by the main thread's close()
    assert gate.table("user").get(str(record["id"])) == record  # reopens on use
    gate.close()


def test_close_stops_the_background_loop_and_the_hasher() -> None:
    """After Gate.close the async-backend loop and the hasher's pool are gone; use restarts
    them."""
    gate = _load_example().gate
    gate.table("user").create({"email": "a@x.io"})  # sync call: starts the loop
    assert background_loop_running()
    gate.close()
    assert not background_loop_running()
    assert gate.table("user").find("a@x.io") is not None  # a new loop, on demand
    gate.close()


def _load_example() -> Any:
    import importlib.util

    path = PACKAGE.parent / "examples" / "custom_backend.py"
    spec = importlib.util.spec_from_file_location("example_custom_backend_close", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_asgi_lifespan_shutdown_closes_the_gate(tmp_path: Path) -> None:
    """After the app's lifespan ends, the gate's SQLite connections are closed."""
    backend = SQLiteBackend(tmp_path / "app.db")
    gate = Gate(keys=KeyRing.generate(), tables=[Table("user", backend)])
    gate.table("user").create({"email": "a@x.io"})
    with backend._use() as conn:
        opened = conn
    inbox = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async def receive() -> dict[str, Any]:
        return inbox.pop(0)

    async def send(message: Any) -> None:
        return None

    asyncio.run(gate.asgi(app)({"type": "lifespan"}, receive, send))
    with pytest.raises(sqlite3.ProgrammingError):
        opened.execute("SELECT 1")


def test_memory_refresh_store_needs_no_close() -> None:
    """A gate of in-memory parts closes cleanly, twice."""
    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        refresh_store=MemoryRefreshStore(),
    )
    gate.close()
    gate.close()


def test_the_route_table_is_bounded_and_changes_no_answer() -> None:
    """Remembered (method, path) answers equal fresh ones; the table never outgrows its bound,
    and long paths are never remembered."""
    from jwe_gate import Rule
    from jwe_gate._sansio.decision import _ROUTE_CACHE, _ROUTE_CACHE_PATH

    gate = Gate(
        keys=KeyRing.generate(),
        tables=[Table("user", MemoryBackend())],
        rules=[Rule("/health", "public"), Rule("/blog/**", "optional")],
    )
    policy = gate.policy
    paths = ["/health", "/blog/x", "/api", "/HEALTH", "/a/../b", "/blog"]
    first = [policy._route("GET", p) for p in paths]
    assert [policy._route("GET", p) for p in paths] == first
    assert [policy._match("GET", p) for p in paths] == first
    for i in range(_ROUTE_CACHE + 100):
        policy._route("GET", f"/flood/{i}")
    assert len(policy._routes) <= _ROUTE_CACHE
    long_path = "/blog/" + "x" * _ROUTE_CACHE_PATH
    assert policy._route("GET", long_path) == policy._match("GET", long_path)
    assert not any(key[1] == long_path for key in policy._routes)


def test_stores_bundle_fills_the_three_stores(tmp_path: Path) -> None:
    """``Gate(stores=Stores.sqlite(path))`` uses one file's three stores; giving a single store
    beside it is refused."""
    from jwe_gate import SQLiteOneTimeStore, Stores

    stores = Stores.sqlite(tmp_path / "s.db")
    gate = Gate(keys=KeyRing.generate(), tables=[Table("user", MemoryBackend())], stores=stores)
    assert (gate.refresh_store, gate.throttle_store, gate.once_store) == (
        stores.refresh,
        stores.throttle,
        stores.once,
    )
    assert isinstance(gate.once_store, SQLiteOneTimeStore)
    with pytest.raises(ConfigurationError, match="not both"):
        Gate(
            keys=KeyRing.generate(),
            tables=[Table("user", MemoryBackend())],
            stores=stores,
            refresh_store=MemoryRefreshStore(),
        )
    gate.close()
