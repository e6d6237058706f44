"""§Storage ("with expiry so nothing grows without bound") and issue 8 §3: the bundled throttle
stores forget ended windows a few per call -- bounded work per hit, however many counters are
live -- so their size stays bounded by the windows still running."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwe_gate._storage.memory import MemoryThrottleStore
from jwe_gate._storage.sqlite import SQLiteThrottleStore

NOW = 1_700_000_000.0
PER_CALL = 4
"""The most ended counters one call may forget: the stores' ``prune_per_call``."""


def held(store: Any) -> int:
    """How many counters ``store`` holds, ended ones not yet forgotten included."""
    if isinstance(store, MemoryThrottleStore):
        return len(store._counts)
    with store._use() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jwe_gate_throttle").fetchone()[0])


@pytest.fixture
def make_store(tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """``make_store("memory" | "sqlite")``: a fresh store of that kind."""
    opened: list[SQLiteThrottleStore] = []

    def make(kind: str) -> Any:
        if kind == "memory":
            return MemoryThrottleStore()
        store = SQLiteThrottleStore(tmp_path / "throttle.db")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.mark.parametrize(
    ("kind", "ended"),
    [
        pytest.param("memory", 2_000, id="memory-2k"),
        pytest.param("memory", 100_050, id="memory-100k"),
        pytest.param("sqlite", 2_000, id="sqlite-2k"),
    ],
)
def test_ended_counters_are_forgotten_a_few_per_hit(
    make_store: Callable[[str], Any], kind: str, ended: int
) -> None:
    """Once many windows have ended, each hit forgets at most ``prune_per_call`` of them (bounded
    work, never the whole store at once), and in time only the live counters are left."""
    store = make_store(kind)
    if kind == "sqlite":  # one transaction to fill it: the test is about the hits after
        with store._tx() as conn:
            conn.executemany(
                "INSERT INTO jwe_gate_throttle (key, count, reset_at) VALUES (?, 1, ?)",
                ((f"old{i}", NOW + 60) for i in range(ended)),
            )
    else:
        for i in range(ended):
            store.hit(f"old{i}", window=60, now=NOW)
    assert held(store) == ended
    later = NOW + 61
    store.hit("live", window=60, now=later)
    sizes = [held(store)]
    per_call = PER_CALL
    for _ in range(ended // per_call + 1):
        store.hit("live", window=60, now=later)
        sizes.append(held(store))
    dropped = [before - after for before, after in itertools.pairwise(sizes)]
    assert max(dropped) <= per_call
    assert sizes[0] >= ended + 1 - per_call
    assert sizes[-1] == 1
    assert store.hit("live", window=60, now=later, amount=0)[0] == len(sizes)
    assert store.prune_per_call == PER_CALL


@pytest.mark.parametrize("kind", [pytest.param("memory"), pytest.param("sqlite")])
def test_size_stays_bounded_by_the_live_windows(
    make_store: Callable[[str], Any], kind: str
) -> None:
    """A new key every second, each with a 60 s window: the store never holds more than the
    live windows and a few ended ones, however long it runs."""
    store = make_store(kind)
    biggest = 0
    for i in range(3_000):
        store.hit(f"k{i}", window=60, now=NOW + i)
        biggest = max(biggest, held(store))
    assert biggest <= 61 + PER_CALL
    assert store.prune_per_call == PER_CALL


def test_taken_and_restarted_keys_are_pruned_by_their_current_window() -> None:
    """A key taken, or restarted in a later window, is forgotten when *its current* window
    ends, never earlier (the queue's stale entry is skipped)."""
    store = MemoryThrottleStore()
    store.hit("a", window=10, now=NOW)
    store.hit("a", window=10, now=NOW + 11)  # restarted: ends at NOW + 21
    store.hit("b", window=10, now=NOW)
    assert store.take("b", now=NOW + 1) == 1
    store.hit("b", window=10, now=NOW + 2)  # ends at NOW + 12
    for _ in range(5):
        store.hit("other", window=1000, now=NOW + 11.5)
    assert store.hit("a", window=10, now=NOW + 11.5, amount=0) == (1, NOW + 21)
    assert store.hit("b", window=10, now=NOW + 11.5, amount=0) == (1, NOW + 12)
