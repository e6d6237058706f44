"""§Sessions and §Scaling out on Redis, across processes: several spawned processes, each with
its own client and threads, race on one refresh token and on one one-time token. The Lua
scripts are atomic, so exactly one rotation and exactly one take win."""

from __future__ import annotations

import hashlib
import multiprocessing
import queue
from collections.abc import Iterator
from typing import Any

import pytest
from support.redisdb import drop_keys, new_prefix, race_worker, require_redis, sync_client

from jwe_gate import Outcome, RedisOneTimeStore, RedisRefreshStore, Session

NOW = 1_700_000_000.0
PROCESSES, THREADS = 5, 10  # 50 racers


def h(name: str) -> str:
    """The SHA-256 hex digest stored for a token called ``name``."""
    return hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix (Redis must be running); its keys are deleted after the test."""
    require_redis()
    value = new_prefix()
    yield value
    drop_keys(value)


def _race(op: str, prefix: str, args: tuple[Any, ...]) -> list[str]:
    """Every answer of PROCESSES spawned processes x THREADS threads running ``op`` at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=race_worker, args=(op, prefix, THREADS, barrier, results, args))
        for _ in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    answers: list[str] = []
    try:
        for _ in procs:
            answers.extend(results.get(timeout=120))
    except queue.Empty:  # pragma: no cover - a worker died: its exit code says why
        pytest.fail(f"a racer gave no answer: {[p.exitcode for p in procs]}")
    finally:
        for proc in procs:
            proc.join(timeout=60)
    assert all(proc.exitcode == 0 for proc in procs)
    return answers


def test_fifty_rotations_of_one_token_from_several_processes_rotate_once(prefix: str) -> None:
    """50 racers in 5 processes present one refresh token with 50 different children: exactly
    one ROTATED; the others are a reuse (the family is revoked) or find it revoked; never a
    fork, never GRACE for a different child."""
    client = sync_client()
    store = RedisRefreshStore(client, prefix=prefix)
    store.add(h("t0"), Session("fam-race", "user", "1", NOW), expires_at=NOW + 600, now=NOW)
    answers = _race("rotate", prefix, ("fam-race", h("t0"), NOW + 1))
    assert len(answers) == PROCESSES * THREADS
    assert answers.count(Outcome.ROTATED.value) == 1
    assert set(answers) <= {Outcome.ROTATED.value, Outcome.REUSED.value, Outcome.INVALID.value}
    client.close()


def test_fifty_takes_of_one_token_from_several_processes_have_one_winner(prefix: str) -> None:
    """50 racers in 5 processes take one one-time token: exactly one gets its subject."""
    client = sync_client()
    once = RedisOneTimeStore(client, prefix=prefix)
    once.put(h("r"), purpose="reset", table="user", subject="42", expires_at=NOW + 60, now=NOW)
    answers = _race("take", prefix, (h("r"), NOW + 1))
    assert sorted(answers) == ["42"] + ["None"] * (PROCESSES * THREADS - 1)
    client.close()
