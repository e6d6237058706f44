"""The contract suites of refresh and throttle stores (SPEC §Sessions, §Handlers)."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from .._storage.protocols import Outcome, Rotation, Session
from .._twins import twin

__all__ = ["OneTimeStoreContract", "RefreshStoreContract", "ThrottleStoreContract"]

_NOW = 1_700_000_000.0
_TTL = 3600.0


def _h(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class RefreshStoreContract:
    """SPEC §Sessions for a refresh store: give a ``refresh_store`` fixture (a fresh one)."""

    session = Session("fam-ann", "user", "1", _NOW - 5.25)

    @pytest.fixture(autouse=True)
    def _families(self) -> None:
        self.family_of: dict[str, str] = {}
        """Each token name's family, as the endpoints read it from the token itself."""

    def _call(self, store: Any, op: str, *args: Any, **kwargs: Any) -> Any:
        return twin(store, op).fn(*args, **kwargs)

    def _add(
        self,
        store: Any,
        token: str,
        session: Session | None = None,
        *,
        expires_at: float = _NOW + _TTL,
    ) -> None:
        session = session or self.session
        self.family_of[token] = session.family
        self._call(store, "add", _h(token), session, expires_at=expires_at, now=_NOW)

    def _rotate(
        self, store: Any, token: str, child: str, *, at: float = 0.0, grace: float = 10.0
    ) -> Rotation:
        now = _NOW + at
        family = self.family_of.get(token, "fam-unknown")
        self.family_of.setdefault(child, family)
        rotation: Rotation = self._call(
            store,
            "rotate",
            family,
            _h(token),
            _h(child),
            now=now,
            expires_at=now + _TTL,
            grace=grace,
        )
        return rotation

    def test_rotate_spends_the_token_and_its_child_rotates(self, refresh_store: Any) -> None:
        """add, then rotate: ROTATED with the session; the child rotates next."""
        self._add(refresh_store, "a")
        first = self._rotate(refresh_store, "a", "b")
        assert (first.outcome, first.session) == (Outcome.ROTATED, self.session)
        assert self._rotate(refresh_store, "b", "c", at=20).outcome is Outcome.ROTATED

    def test_unknown_and_expired_tokens_are_invalid(self, refresh_store: Any) -> None:
        """A token never added, or past its expiry, is INVALID with no session."""
        assert self._rotate(refresh_store, "nope", "x") == Rotation(Outcome.INVALID)
        self._add(refresh_store, "a", expires_at=_NOW + 1)
        assert self._rotate(refresh_store, "a", "b", at=1) == Rotation(Outcome.INVALID)

    def test_grace_answers_the_same_child_once_spent(self, refresh_store: Any) -> None:
        """Within the grace window the spent parent with the same child is GRACE."""
        self._add(refresh_store, "a")
        self._rotate(refresh_store, "a", "b")
        assert self._rotate(refresh_store, "a", "b", at=5).outcome is Outcome.GRACE

    def test_an_older_token_is_stale_with_the_head_to_check_it(self, refresh_store: Any) -> None:
        """A token older than the parent is STALE: nothing changes, and the answer names the
        head and the generation (the endpoint derives forward from the token to judge it)."""
        self._add(refresh_store, "a")
        self._rotate(refresh_store, "a", "b")
        self._rotate(refresh_store, "b", "c", at=1)
        stale = self._rotate(refresh_store, "a", "b", at=2)
        assert (stale.outcome, stale.session) == (Outcome.STALE, self.session)
        assert (stale.head, stale.generation) == (_h("c"), 2)
        assert self._rotate(refresh_store, "c", "d", at=3).outcome is Outcome.ROTATED

    def test_reuse_revokes_the_family(self, refresh_store: Any) -> None:
        """A spent token presented after the grace window is REUSED; the family is gone."""
        self._add(refresh_store, "a")
        self._rotate(refresh_store, "a", "b")
        assert self._rotate(refresh_store, "a", "b", at=30).outcome is Outcome.REUSED
        assert self._rotate(refresh_store, "b", "c", at=31).outcome is Outcome.INVALID

    def test_grace_off_makes_any_second_use_a_reuse(self, refresh_store: Any) -> None:
        """With grace 0 the parent's second use is a reuse, at once."""
        self._add(refresh_store, "a")
        self._rotate(refresh_store, "a", "b", grace=0)
        assert self._rotate(refresh_store, "a", "b", grace=0).outcome is Outcome.REUSED

    def test_racing_rotations_never_fork_the_family(self, refresh_store: Any) -> None:
        """20 threads rotating one token to different children: one ROTATED, never GRACE (a
        different child is no retry), so the family never has two unspent tokens."""
        self._add(refresh_store, "a")
        barrier = threading.Barrier(20, timeout=10)

        def rotate(i: int) -> Outcome:
            barrier.wait()
            return self._rotate(refresh_store, "a", f"child{i}").outcome

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = list(pool.map(rotate, range(20)))
        assert outcomes.count(Outcome.ROTATED) == 1
        assert set(outcomes) <= {Outcome.ROTATED, Outcome.REUSED, Outcome.INVALID}

    def test_revoke_returns_the_session_and_ends_the_family(self, refresh_store: Any) -> None:
        """revoke names the token's session; its family rotates no more."""
        self._add(refresh_store, "a")
        family = self.session.family
        assert self._call(refresh_store, "revoke", family, _h("unknown")) is None
        assert self._rotate(refresh_store, "a", "b").outcome is Outcome.ROTATED  # not revoked
        assert self._call(refresh_store, "revoke", family, _h("a")) == self.session  # the parent
        assert self._rotate(refresh_store, "b", "c").outcome is Outcome.INVALID

    def test_revoke_family_and_subject(self, refresh_store: Any) -> None:
        """revoke_family ends one family; revoke_subject every family of a record but keep."""
        other = Session("fam-2", "user", "1", _NOW)
        third = Session("fam-3", "user", "1", _NOW)
        stranger = Session("fam-4", "user", "2", _NOW)
        self._add(refresh_store, "a")
        self._add(refresh_store, "b", other)
        self._add(refresh_store, "c", third)
        self._add(refresh_store, "d", stranger)
        self._call(refresh_store, "revoke_family", self.session.family)
        assert self._rotate(refresh_store, "a", "a2").outcome is Outcome.INVALID
        self._call(refresh_store, "revoke_subject", "user", "1", keep="fam-3")
        assert self._rotate(refresh_store, "b", "b2").outcome is Outcome.INVALID
        assert self._rotate(refresh_store, "c", "c2").outcome is Outcome.ROTATED
        assert self._rotate(refresh_store, "d", "d2").outcome is Outcome.ROTATED

    def test_session_is_live_until_revoked(self, refresh_store: Any) -> None:
        """session(family) names a live family's session; None once revoked or unknown."""
        self._add(refresh_store, "a")
        assert self._call(refresh_store, "session", self.session.family) == self.session
        assert self._call(refresh_store, "session", "fam-unknown") is None
        self._rotate(refresh_store, "a", "b")
        assert self._call(refresh_store, "session", self.session.family) == self.session
        self._call(refresh_store, "revoke_family", self.session.family)
        assert self._call(refresh_store, "session", self.session.family) is None

    def test_reuse_ends_the_session(self, refresh_store: Any) -> None:
        """After reuse detection the family's session is no longer live."""
        self._add(refresh_store, "a")
        self._rotate(refresh_store, "a", "b")
        self._rotate(refresh_store, "a", "b", at=30)
        assert self._call(refresh_store, "session", self.session.family) is None


class ThrottleStoreContract:
    """SPEC §Handlers (throttle) for a throttle store: give a ``throttle_store`` fixture."""

    def _hit(
        self, store: Any, key: str, *, at: float = 0.0, window: float = 60.0, amount: int = 1
    ) -> tuple[int, float]:
        result: tuple[int, float] = twin(store, "hit").fn(
            key, window=window, now=_NOW + at, amount=amount
        )
        return result

    def _take(self, store: Any, key: str, *, at: float = 0.0, at_most: int | None = None) -> int:
        taken: int = twin(store, "take").fn(key, now=_NOW + at, at_most=at_most)
        return taken

    def test_hits_count_within_a_fixed_window(self, throttle_store: Any) -> None:
        """Each hit returns the count including itself and the window's end."""
        assert self._hit(throttle_store, "k") == (1, _NOW + 60)
        assert self._hit(throttle_store, "k", at=30) == (2, _NOW + 60)

    def test_an_ended_window_restarts(self, throttle_store: Any) -> None:
        """A hit after the window's end starts a new window at 1."""
        self._hit(throttle_store, "k")
        assert self._hit(throttle_store, "k", at=60) == (1, _NOW + 120)

    def test_a_zero_hit_reads_without_counting(self, throttle_store: Any) -> None:
        """hit with amount 0 returns the count as it is; an unknown key reads 0."""
        self._hit(throttle_store, "k")
        self._hit(throttle_store, "k")
        assert self._hit(throttle_store, "k", at=10, amount=0) == (2, _NOW + 60)
        assert self._hit(throttle_store, "k", at=20, amount=0) == (2, _NOW + 60)
        assert self._hit(throttle_store, "unknown", amount=0)[0] == 0
        assert self._hit(throttle_store, "k", at=61, amount=0)[0] == 0  # an ended window

    def test_ended_windows_leave_the_live_counts_alone(self, throttle_store: Any) -> None:
        """Ended windows of another length, forgotten as the store goes, leave live counts."""
        self._hit(throttle_store, "live", window=1000)
        for i in range(100):
            self._hit(throttle_store, f"k{i}", at=0 if i < 50 else 10, window=5)
        assert self._hit(throttle_store, "live", at=10) == (2, _NOW + 1000)
        assert self._hit(throttle_store, "k0", at=10, amount=0)[0] == 0

    def test_negative_amounts_never_go_below_zero(self, throttle_store: Any) -> None:
        """Giving back more than was counted leaves 0."""
        self._hit(throttle_store, "k")
        assert self._hit(throttle_store, "k", amount=-5)[0] == 0

    def test_take_returns_the_count_and_forgets_the_key(self, throttle_store: Any) -> None:
        """take reads and deletes in one step; the next take is 0."""
        for _ in range(3):
            self._hit(throttle_store, "k")
        assert self._take(throttle_store, "k") == 3
        assert self._take(throttle_store, "k") == 0
        assert self._hit(throttle_store, "k")[0] == 1

    def test_take_at_most_leaves_the_rest(self, throttle_store: Any) -> None:
        """take with at_most takes no more than that."""
        for _ in range(3):
            self._hit(throttle_store, "k")
        assert self._take(throttle_store, "k", at_most=1) == 1
        assert self._hit(throttle_store, "k", amount=0)[0] == 2

    def test_take_of_an_ended_window_is_zero(self, throttle_store: Any) -> None:
        """Nothing is taken from a window that has ended."""
        self._hit(throttle_store, "k")
        assert self._take(throttle_store, "k", at=61) == 0

    def test_racing_takes_share_the_count(self, throttle_store: Any) -> None:
        """20 racing takes of one key: one gets it all, the others 0."""
        for _ in range(5):
            self._hit(throttle_store, "k")
        barrier = threading.Barrier(20, timeout=10)

        def take(_: int) -> int:
            barrier.wait()
            return self._take(throttle_store, "k")

        with ThreadPoolExecutor(max_workers=20) as pool:
            taken = sorted(pool.map(take, range(20)))
        assert taken == [0] * 19 + [5]

    def test_racing_hits_count_every_one(self, throttle_store: Any) -> None:
        """40 racing hits count to 40."""
        barrier = threading.Barrier(40, timeout=10)

        def hit(_: int) -> int:
            barrier.wait()
            return self._hit(throttle_store, "k")[0]

        with ThreadPoolExecutor(max_workers=40) as pool:
            counts = sorted(pool.map(hit, range(40)))
        assert counts == list(range(1, 41))


class OneTimeStoreContract:
    """SPEC §Account recovery for a one-time token store: give a ``once_store`` fixture."""

    def _call(self, store: Any, op: str, *args: Any, **kwargs: Any) -> Any:
        return twin(store, op).fn(*args, **kwargs)

    def _put(
        self,
        store: Any,
        token: str,
        *,
        purpose: str = "reset",
        table: str = "user",
        subject: str = "1",
        ttl: float = 1800.0,
    ) -> None:
        self._call(
            store,
            "put",
            _h(token),
            purpose=purpose,
            table=table,
            subject=subject,
            expires_at=_NOW + ttl,
            now=_NOW,
        )

    def _take(
        self, store: Any, token: str, *, purpose: str = "reset", table: str = "user", at: float = 0
    ) -> str | None:
        subject: str | None = self._call(
            store, "take", _h(token), purpose=purpose, table=table, now=_NOW + at
        )
        return subject

    def test_a_token_is_taken_once(self, once_store: Any) -> None:
        """take gives the subject once; the second take of the same token is None."""
        self._put(once_store, "t")
        assert self._take(once_store, "t") == "1"
        assert self._take(once_store, "t") is None

    def test_a_token_is_bound_to_its_purpose_and_table(self, once_store: Any) -> None:
        """Another purpose or table gets None and spends nothing."""
        self._put(once_store, "t")
        assert self._take(once_store, "t", purpose="verify") is None
        assert self._take(once_store, "t", table="admin") is None
        assert self._take(once_store, "t") == "1"

    def test_an_expired_token_is_refused(self, once_store: Any) -> None:
        """At or after its expiry a token is None."""
        self._put(once_store, "t", ttl=10)
        assert self._take(once_store, "t", at=10) is None
        assert self._take(once_store, "unknown") is None

    def test_a_new_token_kills_the_last_of_its_purpose(self, once_store: Any) -> None:
        """A second token for the same record and purpose kills the first; other purposes and
        records keep theirs."""
        self._put(once_store, "first")
        self._put(once_store, "verify", purpose="verify")
        self._put(once_store, "bob", subject="2")
        self._put(once_store, "second")
        assert self._take(once_store, "first") is None
        assert self._take(once_store, "second") == "1"
        assert self._take(once_store, "verify", purpose="verify") == "1"
        assert self._take(once_store, "bob") == "2"

    def test_drop_kills_a_records_tokens(self, once_store: Any) -> None:
        """drop of one purpose, then of every purpose; other records keep theirs."""
        self._put(once_store, "reset")
        self._put(once_store, "magic", purpose="magic")
        self._put(once_store, "bob", subject="2")
        self._call(once_store, "drop", "user", "1", purpose="magic")
        assert self._take(once_store, "magic", purpose="magic") is None
        self._call(once_store, "drop", "user", "1")
        assert self._take(once_store, "reset") is None
        assert self._take(once_store, "bob") == "2"

    def test_racing_takes_spend_a_token_once(self, once_store: Any) -> None:
        """20 threads taking one token: exactly one gets the subject."""
        self._put(once_store, "t")
        barrier = threading.Barrier(20, timeout=10)

        def take(_: int) -> str | None:
            barrier.wait()
            return self._take(once_store, "t")

        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(take, range(20)))
        assert results.count("1") == 1
        assert results.count(None) == 19
