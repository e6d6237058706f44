"""What the gate adds to a Starlette request in process, for each kind of request, side by side
with the bare app, in one run.

The ASGI app is called directly with a prepared scope (no server, no sockets), the harshest view
of the gate's relative cost. Variants: the bare app; the gate with a valid token on a
SQLite-backed table (verified-token cache on, the default; and off, so every request decrypts);
a token from a signup (its session checked per request); the gate on a public path. Served
figures (uvicorn, waitress, gunicorn, with wrk) are bench_served.py's.

Run: python benchmarks/bench_overhead.py [--quick] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from typing import Any

from _common import bare_app, gated, in_process


def build(variant: str, db: str) -> tuple[Any, str, str | None]:
    """(app, path, token) for a variant name."""
    if variant == "bare":
        return bare_app(), "/api/hello", None
    app, token = gated(db, cache=variant != "nocache", session=variant == "session")
    if variant == "public":
        return app, "/health", None
    return app, "/api/hello", token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per round")
    parser.add_argument("--requests", type=int, help="requests per round")
    args = parser.parse_args()
    n = args.requests or (300 if args.quick else 2000)
    names = {
        "bare": "bare Starlette",
        "cache": "gate, token, cache on",
        "session": "gate, session token",
        "nocache": "gate, token, cache and memory off",
        "public": "gate, public path",
    }
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant, name in names.items():
            app, path, tok = build(variant, os.path.join(tmp, f"{variant}.db"))
            rows.append((name, in_process(app, path, tok, n)))
    print(f"{n} requests per round, median of 5 rounds (after a warm-up round)\n")
    base = rows[0][1]
    print(f"{'variant':<36}{'in-process µs/req':>19}{'x bare':>8}")
    for name, us in rows:
        print(f"{name:<36}{us:>19.1f}{us / base:>8.2f}")


if __name__ == "__main__":
    main()
