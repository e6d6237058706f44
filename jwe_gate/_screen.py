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
        answer = self._check(decision, tick)
        since = self._read_at(decision, tick)
        self._recent.keep(
            key, decision, answer, tick=since, counted=table, generation=changes, epoch=epoch
        )
        return answer

    async def aauthenticate(
        self, view: RequestView, *, key: Hashable | None = None
    ) -> Allow | Refusal | Response:
        now = self._clock()
        key = view.key() if key is None else key
        known = self._recent.get(key, now=now, tick=monotonic())
        if known is not None:
            return known
        decision: Decision = self._policy.decide(view, now=now)
        if not isinstance(decision, Lookup):
            return decision
        table = self._tables[decision.table]
        # Before the stores: see authenticate.
        tick, changes, epoch = monotonic(), table.changes, self._recent.epoch
        answer = await self._acheck(decision, tick)
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

    def _check(self, decision: Lookup, tick: float) -> Allow | Refusal:
        """The session and the record of a verified token, read from the stores."""
        liveness, family = self._liveness, decision.session
        if liveness is not None and family is not None:
            try:
                live: bool | BaseException = liveness.check(family, tick)
            except Exception as exc:  # the core decides what a failed check means
                live = exc
            if live is not True:
                return self._policy.conclude(decision, None, live=live)
        record: Any
        try:
            record = self._tables[decision.table].get(decision.claims.sub)
        except Exception as exc:  # the core decides what a failed lookup means
            record = exc
        return self._policy.conclude(decision, record)

    async def _acheck(self, decision: Lookup, tick: float) -> Allow | Refusal:
        """``_check`` without blocking the event loop."""
        liveness, family = self._liveness, decision.session
        if liveness is not None and family is not None:
            try:
                live: bool | BaseException = await liveness.acheck(family, tick)
            except Exception as exc:  # the core decides what a failed check means
                live = exc
            if live is not True:
                return self._policy.conclude(decision, None, live=live)
        record: Any
        try:
            record = await self._tables[decision.table].aget(decision.claims.sub)
        except Exception as exc:  # the core decides what a failed lookup means
            record = exc
        return self._policy.conclude(decision, record)
