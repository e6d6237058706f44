"""Workers for the cross-process races (run in spawned processes, so importable by name)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jwe_gate import DuplicateRecordError, SQLAlchemyBackend, SQLAlchemyRefreshStore, Table

NOW = 1_700_000_000.0


def h(name: str) -> str:
    """The SHA-256 hex digest stored for a token called ``name``."""
    return hashlib.sha256(name.encode()).hexdigest()


def rotate_worker(url: str, prefix: str, n: int, same_child: bool, barrier: Any, out: Any) -> None:
    """Rotate the token "a" of family "fam" ``n`` times at once (threads), after every process
    is ready; put the outcomes' values."""
    store: Any = SQLAlchemyRefreshStore(url, prefix=prefix)
    store.session("warm-up")  # connect before the start line

    def rotate(i: int) -> str:
        child = "b" if same_child else f"b{id(barrier)}-{i}"
        r = store.rotate("fam", h("a"), h(child), now=NOW + 1, expires_at=NOW + 3600, grace=10)
        return str(r.outcome.value)

    barrier.wait(30)
    with ThreadPoolExecutor(max_workers=n) as pool:
        out.put(list(pool.map(rotate, range(n))))
    store.close()


def signup_worker(url: str, prefix: str, n: int, barrier: Any, out: Any) -> None:
    """Create one email ``n`` times at once (threads) after every process is ready; put how
    each ended ("created" or "duplicate")."""
    backend: Any = SQLAlchemyBackend(url, prefix=prefix)
    users = Table("user", backend)
    users.find("warm-up@example.com")

    def create(i: int) -> str:
        try:
            users.create({"email": "same@example.com", "n": i})
        except DuplicateRecordError:
            return "duplicate"
        return "created"

    barrier.wait(30)
    with ThreadPoolExecutor(max_workers=n) as pool:
        out.put(list(pool.map(create, range(n))))
    backend.close()
