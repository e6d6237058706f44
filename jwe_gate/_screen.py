"""Authenticating one request: recall -> decide -> fetch -> conclude, written once per colour.

The policy (``_sansio.decision``) decides everything that needs no I/O; this reads the session
and the record a verified token needs, and remembers an allowed answer for at most
``recheck_after`` seconds (``_sansio.recent``), so the same request again costs no store round
trip, no decryption and no view.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from time import monotonic
from typing import Any

from ._endpoints.liveness import Liveness
from ._sansio.decision import Allow, Decision, Lookup, Policy
from ._sansio.http import Refusal, Response
from ._sansio.recent import Recent
from ._sansio.request import RequestView
from ._storage.table import Table
from ._twins import Effect, Flow, run_async, run_sync

__all__ = ["Screen"]


class Screen:
    """What ``Gate.authenticate`` / ``aauthenticate`` / ``recall`` run."""

    __slots__ = ("_clock", "_liveness", "_policy", "_recent", "_tables")

    def __init__(
        self,
        policy: Policy,
        tables: Mapping[str, Table],
        liveness: Liveness | None,
        recent: Recent,
        clock: Callable[[], float],
    ) -> None:
        self._policy = policy
        self._tables = tables
        self._liveness = liveness
        self._recent = recent
        self._clock = clock

    def recall(self, key: Hashable) -> Allow | None:
        """The answer remembered for the request ``key`` stands for, or None. No I/O."""
        return self._recent.get(key, now=self._clock(), tick=monotonic())

    def authenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response:
        return run_sync(self._flow(view, key))

    async def aauthenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response:
        return await run_async(self._flow(view, key))

    def _flow(self, view: RequestView, key: Hashable | None) -> Flow[Allow | Refusal | Response]:
        """The whole check, written once: its two reads are effects that ``run_sync`` makes
        blocking calls and ``run_async`` awaits."""
        now = self._clock()
        key = view.key() if key is None else key
        known = self._recent.get(key, now=now, tick=monotonic())
        if known is not None:
            return known
        decision: Decision = self._policy.decide(view, now=now)
        if not isinstance(decision, Lookup):
            return decision
        table = self._tables[decision.table]
        # Read before the stores are: the memory never outlives what they said by more than
        # its ttl, nor a change or a revocation made through this gate meanwhile.
        tick, changes, epoch = monotonic(), table.changes, self._recent.epoch
        liveness, family = self._liveness, decision.session
        if liveness is not None and family is not None:
            try:
                live: bool | BaseException = yield Effect(
                    liveness.check, liveness.acheck, (family, tick)
                )
            except Exception as exc:  # the core decides what a failed check means
                live = exc
            if live is not True:
                return self._policy.conclude(decision, None, live=live)
        record: Any
        try:
            record = yield table.effect("get", decision.claims.sub)
        except Exception as exc:  # the core decides what a failed lookup means
            record = exc
        answer = self._policy.conclude(decision, record)
        since = self._read_at(decision, tick)
        self._recent.keep(
            key, decision, answer, tick=since, counted=table, generation=changes, epoch=epoch
        )
        return answer

    def _read_at(self, decision: Lookup, tick: float) -> float:
        """When what the check relied on was read: ``tick``, or earlier when the session's
        liveness came from the liveness memory (the answer must not outlive that read by more
        than the ttl either, or a revocation elsewhere could wait two seconds)."""
        family = decision.session
        if self._liveness is None or family is None:
            return tick
        read_at = self._liveness.read_at(family)
        return tick if read_at is None else min(tick, read_at)
