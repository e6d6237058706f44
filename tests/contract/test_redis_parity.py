"""The Lua scripts of the Redis stores against :mod:`jwe_gate._storage.state`: the same stories,
told to the Redis store and to the pure state machine (a model that stores what
``state.rotation`` / ``window_hit`` / ``window_take`` say), must get the same answers at every
step -- outcomes, heads, generations, counts and windows, to the last bit of each float."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from support.redisdb import FLAVOURS, close_client, drop_keys, make_store, new_prefix, require_redis

from jwe_gate import Outcome, Rotation, Session
from jwe_gate._storage.state import FamilyState, Step, rotation, window_hit, window_take
from jwe_gate._twins import twin

NOW = 1_700_000_000.0
SESSION = Session("fam", "user", "1", NOW - 0.1)


@pytest.fixture
def prefix() -> Iterator[str]:
    """A fresh key prefix (Redis must be running); its keys are deleted after the test."""
    require_redis()
    value = new_prefix()
    yield value
    drop_keys(value)


@dataclass
class _Model:
    """One family as the pure state machine keeps it."""

    state: FamilyState
    generation: int = 0

    def rotate(
        self, token: str, child: str, *, now: float, expires_at: float, grace: float
    ) -> Rotation:
        outcome, step = rotation(
            self.state, token_hash=token, child_hash=child, now=now, grace=grace
        )
        if outcome is Outcome.INVALID:
            return Rotation(Outcome.INVALID)
        if step is Step.ADVANCE:
            self.state = replace(
                self.state, head=child, prev=self.state.head, rotated_at=now, expires_at=expires_at
            )
            self.generation += 1
        elif step is Step.REVOKE:
            self.state = replace(self.state, revoked=True)
        return Rotation(outcome, SESSION, self.state.head, self.generation)


def _pick(rng: random.Random, model: _Model, seen: list[str]) -> tuple[str, str]:
    """A token and a child to present: mostly the head or its parent (with the stored child or
    another), else an older token of the family or a stranger's guess."""
    roll = rng.random()
    fresh = f"t{len(seen)}"
    if roll < 0.45:
        return model.state.head, fresh
    if roll < 0.8 and model.state.prev is not None:
        return model.state.prev, model.state.head if rng.random() < 0.7 else fresh
    return rng.choice([*seen, "stranger"]), fresh


def _advance(rng: random.Random) -> float:
    """How far the clock moves: nothing, a little, to the grace window's edge, or past it."""
    return rng.choice([0.0, 0.0, 0.25, 0.25, 1.0, 5.0, 9.75, 10.0, 10.000001, 30.0, 0.1 + 0.2])


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in range(12)])
def test_rotation_stories_match_the_state_machine(prefix: str, flavour: str, seed: int) -> None:
    """Every step of a random story (rotations of the head, the parent, older tokens and
    strangers, in and out of the grace window and on its edge; revocations; expiries; new
    sessions) gets the same Rotation from the Lua script as from state.rotation, and the same
    liveness afterwards; each story meets all five outcomes."""
    rng = random.Random(seed)
    store, client = make_store("refresh", flavour, f"{prefix}{seed}:")
    seen: list[str] = []
    outcomes: set[Outcome] = set()
    at = 0.0

    def start() -> _Model:
        token = f"t{len(seen)}"
        seen.append(token)
        ttl = rng.choice([3600.0, 3600.0, 20.0])
        twin(store, "add").fn(token, SESSION, expires_at=NOW + at + ttl, now=NOW + at)
        return _Model(FamilyState(token, None, NOW + at, NOW + at + ttl, revoked=False))

    try:
        model = start()
        for _ in range(300):
            at += _advance(rng)
            now = NOW + at
            roll = rng.random()
            if roll < 0.03:
                model.state = replace(model.state, revoked=True)
                twin(store, "revoke_family").fn("fam")
            elif roll < 0.06:
                token = rng.choice([*seen, "stranger"])
                hit = token in (model.state.head, model.state.prev)
                if hit:
                    model.state = replace(model.state, revoked=True)
                assert twin(store, "revoke").fn("fam", token) == (SESSION if hit else None)
            elif roll < 0.12 and (model.state.revoked or model.state.expires_at <= now):
                model = start()  # a new login (the store's add replaces the family)
            else:
                token, child = _pick(rng, model, seen)
                seen.append(child)
                grace = rng.choice([0.0, 10.0, 10.0, 7.3])
                kwargs = {
                    "now": now,
                    "expires_at": now + rng.choice([3600.0, 12.5]),
                    "grace": grace,
                }
                want = model.rotate(token, child, **kwargs)
                got = twin(store, "rotate").fn("fam", token, child, **kwargs)
                assert got == want, (token, child, kwargs)
                outcomes.add(got.outcome)
            live = None if model.state.revoked else SESSION
            assert twin(store, "session").fn("fam") == live
        assert outcomes == set(Outcome)
    finally:
        close_client(client)


def _window_story(seed: int, steps: int = 80) -> list[tuple[Any, ...]]:
    """Hits (positive, negative, zero) and takes (all, at most n), with time moving across
    window ends, reproducible from ``seed``."""
    rng = random.Random(seed)
    story: list[tuple[Any, ...]] = []
    at = 0.0
    for _ in range(steps):
        at += rng.choice([0.0, 0.5, 1.0 / 3, 2.0, 7.0, 9.999, 10.0, 25.0])
        if rng.random() < 0.75:
            story.append(
                ("hit", at, rng.choice([1, 1, 1, 2, 0, -1, -5]), rng.choice([10.0, 10.0, 2.5]))
            )
        else:
            story.append(("take", at, rng.choice([None, None, 0, 1, 3, -2])))
    return story


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in range(12)])
def test_window_stories_match_the_state_machine(prefix: str, flavour: str, seed: int) -> None:
    """Every hit and take of a random story gets the same answer from the Lua scripts as from
    window_hit / window_take (reset_at exact: it is the caller's clock, not Redis's)."""
    store, client = make_store("throttle", flavour, f"{prefix}{seed}:")
    count, reset_at = 0, 0.0
    try:
        for step in _window_story(seed):
            now = NOW + step[1]
            if step[0] == "hit":
                _, _, amount, window = step
                count, reset_at = window_hit(count, reset_at, window=window, now=now, amount=amount)
                got = twin(store, "hit").fn("k", window=window, now=now, amount=amount)
                assert got == (count, reset_at), step
            else:
                taken, left = window_take(count, reset_at, now=now, at_most=step[2])
                count = left
                if not left:
                    reset_at = 0.0  # taken whole (or ended): the key is gone
                assert twin(store, "take").fn("k", now=now, at_most=step[2]) == taken, step
    finally:
        close_client(client)
