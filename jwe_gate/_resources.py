"""What a ``Gate`` opened, and how it lets go: its backends, stores, hasher and background
loop (``close`` / ``aclose``)."""

from __future__ import annotations

from collections.abc import Mapping

from ._endpoints import later
from ._passwords import Hasher
from ._storage.table import Table
from ._twins import background_loop_running, stop_background_loop

__all__ = ["Resources"]


class Resources:
    """The closing half of ``Gate``: it releases the objects the gate holds."""

    tables: Mapping[str, Table]
    refresh_store: object
    throttle_store: object
    once_store: object
    hasher: Hasher

    def _resources(self) -> list[object]:
        """The backends and stores this gate uses, each once."""
        found: dict[int, object] = {}
        for obj in (
            *(t.backend for t in self.tables.values()),
            self.refresh_store,
            self.throttle_store,
            self.once_store,
        ):
            found.setdefault(id(obj), obj)
        return list(found.values())

    def close(self) -> None:
        """Release what the gate opened: the hasher's threads, the SQLite connections of every
        thread (tables and stores), and the background loop when one of its backends or stores
        runs on it. Call it when the app stops: afterwards the endpoints that hash answer 503
        (tables and stores would reopen their connections on use)."""
        later.drain()  # the mails already answered for (forgot, magic) still go out
        self.hasher.close()
        uses_loop = False
        for obj in self._resources():
            close = getattr(obj, "close", None)
            if callable(close):
                close()
            # An async-only object is bridged to sync callers through the background loop.
            uses_loop |= not any(
                callable(getattr(obj, n, None)) for n in ("get", "rotate", "hit", "put")
            )
        if uses_loop and background_loop_running():
            stop_background_loop()

    async def aclose(self) -> None:
        """:meth:`close` for async code (the ASGI adapter calls it when the app's lifespan has
        ended): backends and stores with ``aclose`` are awaited on the running loop first."""
        for obj in self._resources():
            aclose = getattr(obj, "aclose", None)
            if callable(aclose):
                await aclose()
        self.close()
