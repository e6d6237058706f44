"""The memory throttle store's cost per hit, at 0 and at 200k live counters, beside the old
approach (a dict rebuilt on every hit once 100k counters are held), in one run.

Every hit is a new key (an attacker's fresh address), as in a spray; the live counters' windows
have not ended, so nothing can be forgotten: the old store copied all of them on each hit.

Run: python benchmarks/bench_throttle_store.py [--live N] [--hits N]
"""

from __future__ import annotations

import argparse
import threading
import time

from jwe_gate._storage.memory import MemoryThrottleStore
from jwe_gate._storage.state import window_hit

NOW = 1_700_000_000.0
WINDOW = 15 * 60.0


class OldMemoryThrottleStore:
    """The store before issue 8: ``hit`` rebuilt the whole dict once it held 100k counters."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        with self._lock:
            count, reset_at = self._counts.get(key, (0, 0.0))
            count, reset_at = window_hit(count, reset_at, window=window, now=now, amount=amount)
            self._counts[key] = (count, reset_at)
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            return count, reset_at


def per_hit(store: object, live: int, hits: int) -> float:
    """Microseconds per hit of a new key, after ``live`` counters were put in."""
    hit = store.hit  # type: ignore[attr-defined]
    if isinstance(store, OldMemoryThrottleStore):
        # Filled directly: through hit, each of the last 100k fills would copy the dict too.
        store._counts.update((f"live{i}", (1, NOW + WINDOW)) for i in range(live))
    else:
        for i in range(live):
            hit(f"live{i}", window=WINDOW, now=NOW)
    start = time.perf_counter()
    for i in range(hits):
        hit(f"new{i}", window=WINDOW, now=NOW + 1)
    return (time.perf_counter() - start) / hits * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=200_000)
    parser.add_argument("--hits", type=int, default=2_000)
    args = parser.parse_args()
    print(f"{'store':<26}{'live counters':>14}{'µs per hit':>14}")
    for name, make in (
        ("MemoryThrottleStore", MemoryThrottleStore),
        ("old (rebuild)", OldMemoryThrottleStore),
    ):
        for live in (0, args.live):
            # The old store at 200k copies 200k entries per hit: fewer hits keep the run short.
            hits = args.hits if name != "old (rebuild)" or live <= 100_000 else 100
            print(f"{name:<26}{live:>14,}{per_hit(make(), live, hits):>14.1f}")


if __name__ == "__main__":
    main()
