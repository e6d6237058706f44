"""Contract suites a backend or store proves itself with (as ``asgiref.testing`` does for ASGI
servers). They need pytest, which jwe_gate itself does not.

Subclass one and give it a fixture that makes a fresh, empty instance::

    import pytest
    from jwe_gate.testing import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def backend(self):
            return MyBackend(...)

Every suite drives its subject through the same bridges the gate uses (:mod:`jwe_gate._twins`),
so a sync, an async, or a two-sided implementation is tested by the one suite.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .exceptions import MissingDependencyError

try:
    import pytest
except ImportError as exc:  # pragma: no cover - the suites are for test runs
    raise MissingDependencyError("pytest", "test") from exc

from ._storage.protocols import Outcome, Rotation, Session
from ._storage.table import Table
from ._twins import twin
from .exceptions import BackendError, DuplicateRecordError

__all__ = ["BackendContract", "RefreshStoreContract", "ThrottleStoreContract"]

_NOW = 1_700_000_000.0
_TTL = 3600.0


def _ms() -> int:
    import time

    return int(time.time() * 1000)


class BackendContract:
    """SPEC §Storage for a table backend: give a ``backend`` fixture (a fresh, empty one).

    Records are created and read through :class:`~jwe_gate.Table`, as the gate does, so the
    invariants the table keeps (``id`` and ``created_at`` are never the caller's) are part of
    what is proven."""

    @pytest.fixture
    def table(self, backend: Any) -> Table:
        return Table("user", backend)

    def test_create_assigns_id_and_created_at_in_ms(self, table: Table) -> None:
        """create stores the fields and assigns an int id and a created_at in epoch ms."""
        before = _ms()
        record = table.create({"email": "ann@example.com", "name": "Ann"})
        after = _ms()
        assert record["email"] == "ann@example.com"
        assert record["name"] == "Ann"
        assert isinstance(record["id"], int | str)  # integer or UUID keys
        assert str(record["id"])
        assert isinstance(record["created_at"], int)
        assert before <= record["created_at"] <= after

    def test_create_ignores_caller_id_and_created_at(self, table: Table) -> None:
        """The storage layer, not the caller, decides id and created_at."""
        before = _ms()
        record = table.create({"email": "a@x.io", "id": 999, "created_at": 5})
        assert record["id"] != 999
        assert record["created_at"] >= before
        assert table.get("999") is None

    def test_ids_are_distinct(self, table: Table) -> None:
        """Every create gets a new id."""
        ids = {str(table.create({"email": f"u{i}@x.io"})["id"]) for i in range(5)}
        assert len(ids) == 5

    def test_get_by_string_id(self, table: Table) -> None:
        """get takes the id as a string and returns the stored record."""
        created = table.create({"email": "ann@example.com", "name": "Ann"})
        assert table.get(str(created["id"])) == created

    @pytest.mark.parametrize(
        "bad_id",
        [
            pytest.param("abc", id="letters"),
            pytest.param("1.0", id="float"),
            pytest.param("", id="empty"),
            pytest.param(" 1", id="leading-space"),
            pytest.param("1 ", id="trailing-space"),
            pytest.param("01", id="leading-zero"),
            pytest.param("+1", id="plus-sign"),
            pytest.param("-1", id="negative"),
            pytest.param("\u0661", id="arabic-indic-one"),
            pytest.param("9" * 19, id="beyond-int64"),
            pytest.param("9" * 40, id="huge"),
            pytest.param("2", id="unknown"),
        ],
    )
    def test_get_of_a_non_id_is_none(self, table: Table, bad_id: str) -> None:
        """Only the exact string of an existing id names a record; anything else is None."""
        created = table.create({"email": "ann@example.com"})
        if str(created["id"]) != bad_id:
            assert table.get(bad_id) is None

    def test_find_by_field(self, table: Table) -> None:
        """find returns the record whose field equals the value, or None."""
        table.create({"email": "ann@example.com", "name": "Ann"})
        bob = table.create({"email": "bob@example.com", "name": "Bob"})
        assert table.find("bob@example.com") == bob
        assert table.find("nobody@example.com") is None

    def test_duplicate_login_raises(self, table: Table) -> None:
        """A second create with the same unique value raises DuplicateRecordError (a
        BackendError) and leaves the first record alone."""
        first = table.create({"email": "ann@example.com", "name": "Ann"})
        with pytest.raises(DuplicateRecordError) as info:
            table.create({"email": "ann@example.com", "name": "Eve"})
        assert isinstance(info.value, BackendError)
        assert table.get(str(first["id"])) == first

    def test_concurrent_creates_of_one_login_make_one_record(self, table: Table) -> None:
        """20 threads creating one email at once: exactly one succeeds."""
        barrier = threading.Barrier(20, timeout=10)

        def create(i: int) -> str:
            barrier.wait()
            try:
                table.create({"email": "same@example.com", "n": i})
            except DuplicateRecordError:
                return "duplicate"
            return "created"

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = list(pool.map(create, range(20)))
        assert outcomes.count("created") == 1
        assert outcomes.count("duplicate") == 19

    def test_update_merges_and_returns(self, table: Table) -> None:
        """update merges the changes into the record, returns it, and stores it."""
        rec = table.create({"email": "ann@example.com", "name": "Ann", "n": 1})
        updated = table.update(str(rec["id"]), {"name": "Annie", "plan": "pro"})
        assert updated == {**rec, "name": "Annie", "plan": "pro"}
        assert table.get(str(rec["id"])) == updated

    def test_update_is_shallow(self, table: Table) -> None:
        """update replaces a field's value as given: None is stored, a dict is not merged."""
        rec = table.create({"email": "a@x.io", "name": "Ann", "prefs": {"a": 1}})
        updated = table.update(str(rec["id"]), {"name": None, "prefs": {"b": 2}})
        assert updated is not None
        assert updated["name"] is None
        assert updated["prefs"] == {"b": 2}
        assert table.get(str(rec["id"])) == updated

    def test_update_keeps_id_and_created_at(self, table: Table) -> None:
        """id and created_at belong to the storage layer: update does not change them."""
        rec = table.create({"email": "a@x.io"})
        updated = table.update(str(rec["id"]), {"id": 77, "created_at": 1, "x": 2})
        assert updated == {**rec, "x": 2}
        assert table.get("77") is None

    @pytest.mark.parametrize(
        "missing",
        [
            pytest.param("42", id="unknown"),
            pytest.param("abc", id="not-an-id"),
            pytest.param("", id="empty"),
        ],
    )
    def test_update_of_missing_id_is_none(self, table: Table, backend: Any, missing: str) -> None:
        """update of an id that names no record returns None and creates nothing."""
        table.create({"email": "a@x.io"})
        assert table.update(missing, {"name": "ghost"}) is None
        assert Table("user", backend, login_field="name").find("ghost") is None

    def test_tables_are_kept_apart(self, backend: Any) -> None:
        """Two tables on one backend never see each other's records."""
        users, admins = Table("user", backend), Table("admin", backend)
        ann = users.create({"email": "ann@example.com"})
        assert admins.find("ann@example.com") is None
        assert admins.get(str(ann["id"])) is None
        admins.create({"email": "ann@example.com"})  # the same login in another table is fine
        assert users.get(str(ann["id"])) == ann

    def test_the_async_side_sees_the_same_records(self, table: Table) -> None:
        """aget/afind/aupdate answer as get/find/update do."""
        import asyncio

        async def run() -> None:
            rec = await table.acreate({"email": "ann@example.com"})
            assert await table.aget(str(rec["id"])) == rec
            assert await table.afind("ann@example.com") == rec
            assert await table.aupdate(str(rec["id"]), {"n": 1}) == {**rec, "n": 1}

        asyncio.run(run())


def _h(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


class RefreshStoreContract:
    """SPEC §Sessions for a refresh store: give a ``refresh_store`` fixture (a fresh one)."""

    session = Session("fam-ann", "user", "1", _NOW - 5.25)

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
        self._call(
            store, "add", _h(token), session or self.session, expires_at=expires_at, now=_NOW
        )

    def _rotate(
        self, store: Any, token: str, child: str, *, at: float = 0.0, grace: float = 10.0
    ) -> Rotation:
        now = _NOW + at
        rotation: Rotation = self._call(
            store, "rotate", _h(token), _h(child), now=now, expires_at=now + _TTL, grace=grace
        )
        return rotation

    def test_rotate_spends_the_token_and_its_child_rotates(self, refresh_store: Any) -> None:
        """add, then rotate: ROTATED with the session; the child rotates next."""
        self._add(refresh_store, "a")
        first = self._rotate(refresh_store, "a", "b")
        assert first == Rotation(Outcome.ROTATED, self.session)
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
        assert self._call(refresh_store, "revoke", _h("a")) == self.session
        assert self._rotate(refresh_store, "a", "b").outcome is Outcome.INVALID
        assert self._call(refresh_store, "revoke", _h("unknown")) is None

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
