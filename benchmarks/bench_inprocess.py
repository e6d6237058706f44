"""The in-process cost of one authenticated request, jwe_gate beside the usual alternatives, and
the cost of a token's first sight, in one run on the same machine.

Table 1: a GET to a Starlette route with a token the app has seen before, the user in a SQLite
table, the ASGI app called directly with a minimal scope (no server, no sockets):

* the bare Starlette app;
* jwe_gate (``gate.asgi`` around it; the token comes from a signup, so the session check runs),
  with its defaults (the same request again within ``recheck_after``, one second, is answered
  from the gate's memory) and with ``recheck_after=0`` (every request reads the session and the
  user);
* Starlette's ``AuthenticationMiddleware`` with a PyJWT HS256 backend that reads the user from
  the same SQLite file on every request;
* Litestar's ``JWTAuth`` with the same user lookup, beside the bare Litestar app.

Each row gives microseconds per request (median of the rounds; the variants take turns, each
round after a warm-up of its own) and the ratio to its bare app.

Table 2: the first sight of a token (decrypt and validate, no cache): jwe_gate's codec
(``gate.verify`` with the token cache off), jwcrypto's ``JWE.deserialize`` alone on the same
token (a new ``JWE`` object per token, as jwcrypto's documentation calls it), the same call on
one ``JWE`` object reused (as the codec calls it: what jwcrypto's own work costs, so the
codec's overhead over it shows too), and joserfc's compact JWE decrypt, with the ratio to
jwcrypto alone. Its variants take turns of 20 calls (a load burst on a shared machine spoils
one short turn, which the median of the turns drops, not a whole round of one variant).

Run: python benchmarks/bench_inprocess.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from _common import (
    SECRET,
    DbUser,
    bare_app,
    in_process,
    lookup,
    make_gate,
    pyjwt_token,
    starlette_pyjwt,
)
from joserfc import jwe as rfc_jwe
from joserfc.jwk import OctKey
from jwcrypto import jwe as jwc_jwe
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token


@get("/api/hello")
async def ls_hello(scope: dict[str, Any]) -> dict[str, str]:
    user = scope.get("user")
    return {"hello": user.identity if user is not None else "anonymous"}


def litestar_jwt(db: sqlite3.Connection) -> tuple[Litestar, JWTAuth[DbUser]]:
    async def retrieve(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> DbUser:
        user = lookup(db, token.sub)
        if user is None:
            raise LookupError("no such user")
        return user

    auth = JWTAuth[DbUser](retrieve_user_handler=retrieve, token_secret=SECRET)
    return Litestar(route_handlers=[ls_hello], on_app_init=[auth.on_app_init]), auth


def per_call(fns: dict[str, Callable[[], object]], calls: int, turn: int) -> dict[str, float]:
    """Median microseconds per call of each function over ``calls`` calls, in turns of ``turn``
    calls (after a warm-up turn each). The functions take turns in a rotating order, so a load
    burst on a shared machine falls on one short turn of one of them, which the median drops,
    rather than on a whole measurement."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(max(calls // turn, 1) + 1):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = fns[name]
            t0 = time.perf_counter()
            for _ in range(turn):
                fn()
            if r:  # the first turn warms caches
                times[name].append((time.perf_counter() - t0) / turn * 1e6)
    return {name: statistics.median(out) for name, out in times.items()}


def requests_table(tmp: str, n: int, rounds: int) -> list[tuple[str, float, float]]:
    db_path = os.path.join(tmp, "bench.db")
    gated_app, session_token, sub = make_gate(db_path, cache=True)
    gate_app = gated_app.asgi(bare_app())
    every, every_token, _ = make_gate(os.path.join(tmp, "every.db"), cache=True, recheck_after=0)
    every_app = every.asgi(bare_app())
    db = sqlite3.connect(db_path)
    try:
        ls_app, ls_auth = litestar_jwt(db)
        ls_token = ls_auth.create_token(identifier=str(sub))
        variants: list[tuple[Any, str | None]] = [
            (bare_app(), None),
            (gate_app, session_token),
            (every_app, every_token),
            (starlette_pyjwt(db), pyjwt_token(sub)),
            (Litestar(route_handlers=[ls_hello]), None),
            (ls_app, ls_token),
        ]
        # In turns: each round runs every variant once, so a burst of load on a shared machine
        # hits them alike; each figure is the median of its rounds.
        runs: list[list[float]] = [[] for _ in variants]
        for _ in range(rounds):
            for i, (app, token) in enumerate(variants):
                runs[i].append(in_process(app, "/api/hello", token, n, rounds=1))
        bare, gate, every_us, star, ls_bare, ls = (statistics.median(r) for r in runs)
    finally:
        db.close()
    return [
        ("Starlette, bare", bare, bare),
        ("Starlette + jwe_gate (session on)", gate, bare),
        ("Starlette + jwe_gate, recheck_after=0", every_us, bare),
        ("Starlette + AuthenticationMiddleware (PyJWT HS256)", star, bare),
        ("Litestar, bare", ls_bare, ls_bare),
        ("Litestar + JWTAuth", ls, ls_bare),
    ]


def first_sight_table(tmp: str, n: int, rounds: int) -> list[tuple[str, float, float]]:
    gate, token, _ = make_gate(os.path.join(tmp, "first.db"), cache=False)
    key = gate.keys.encryption_key
    rfc_key = OctKey.import_key(key.export(as_dict=True))

    def jwcrypto_alone() -> None:
        jwc_jwe.JWE().deserialize(token, key)

    reused = jwc_jwe.JWE()

    def jwcrypto_reused() -> None:
        reused.deserialize(token, key)

    def joserfc_decrypt() -> None:
        rfc_jwe.decrypt_compact(token, rfc_key)

    us = per_call(
        {
            "codec": lambda: gate.verify(token),
            "alone": jwcrypto_alone,
            "reused": jwcrypto_reused,
            "joserfc": joserfc_decrypt,
        },
        n * rounds,
        20,
    )
    jwc = us["alone"]
    return [
        ("jwe_gate codec (decrypt + validate)", us["codec"], jwc),
        ("jwcrypto JWE.deserialize alone", jwc, jwc),
        ("jwcrypto JWE.deserialize, one JWE object reused", us["reused"], jwc),
        ("joserfc decrypt_compact", us["joserfc"], jwc),
    ]


def show(title: str, rows: list[tuple[str, float, float]], ratio: str) -> None:
    print(title)
    print(f"{'variant':<52}{'µs/req':>9}{ratio:>14}")
    for name, us, base in rows:
        print(f"{name:<52}{us:>9.1f}{us / base:>14.2f}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    parser.add_argument("--requests", type=int, help="requests per round")
    args = parser.parse_args()
    n = args.requests or (500 if args.quick else 5000)
    rounds = 3 if args.quick else 5
    print(f"{n} requests per round, median of {rounds} rounds (after a warm-up round)\n")
    with tempfile.TemporaryDirectory() as tmp:
        show(
            "Authenticated request, token seen before, SQLite user table",
            requests_table(tmp, n, rounds),
            "x own bare",
        )
        show(
            "First sight of a token (decrypt and validate)",
            first_sight_table(tmp, max(n // 5, 10), rounds),
            "x jwcrypto",
        )


if __name__ == "__main__":
    main()
