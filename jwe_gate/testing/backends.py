"""The contract suite of table backends (SPEC §Storage)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from .._storage.table import Table
from ..exceptions import BackendError, DuplicateRecordError

__all__ = ["BackendContract"]


def _ms() -> int:
    return int(time.time() * 1000)


class BackendContract:
    """SPEC §Storage for a table backend: give a ``backend`` fixture (a fresh, empty one).

    Records are created and read through ``jwe_gate.Table``, as the gate does, so the
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
