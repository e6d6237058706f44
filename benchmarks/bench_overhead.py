"""What the gate adds to a Starlette request, side by side with the bare app, in one run.

Two measurements:

* in-process: the ASGI app called directly with a prepared scope (no server, no sockets), the
  harshest view of the gate's relative cost;
* over HTTP: the same apps under uvicorn on 127.0.0.1, driven by keep-alive clients in threads.

Variants: bare app; gate with a valid token on a SQLite-backed table (verified-token cache on,
the default; and off, so every request decrypts); gate on a public path.

Run: python benchmarks/bench_overhead.py [--requests N]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import uvicorn
from _common import bare_app, gated, in_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(variant: str, db: str) -> tuple[Any, str, str | None]:
    """(app, path, token) for a variant name."""
    if variant == "bare":
        return bare_app(), "/api/hello", None
    app, token = gated(db, cache=variant != "nocache", session=variant == "session")
    if variant == "public":
        return app, "/health", None
    return app, "/api/hello", token


def serve(variant: str, db: str, port: int, token_file: str) -> None:
    """Child process: serve one variant under uvicorn."""
    app, _, token = build(variant, db)
    with open(token_file, "w") as fh:
        fh.write(token or "")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")


def over_http(variant: str, path: str, tmp: str, n: int, clients: int = 4) -> float:
    """Requests per second against uvicorn in its own process, keep-alive clients."""
    port = free_port()
    token_file = os.path.join(tmp, f"{variant}.token")
    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            variant,
            "--port",
            str(port),
            "--db",
            os.path.join(tmp, f"{variant}-http.db"),
            "--token-file",
            token_file,
        ]
    )
    try:
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        with open(token_file) as fh:
            token = fh.read()
        headers = {"Authorization": f"Bearer {token}"} if token else {}

        def worker(count: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(count):
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"status {resp.status}")
            conn.close()

        worker(200)  # warm up
        rates = []
        for _ in range(3):
            threads = [
                threading.Thread(target=worker, args=(n // clients,)) for _ in range(clients)
            ]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            rates.append((n // clients * clients) / (time.perf_counter() - t0))
        return statistics.median(rates)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port, args.token_file)
        return
    names = {
        "bare": "bare Starlette",
        "cache": "gate, token, cache on",
        "session": "gate, session token",
        "nocache": "gate, token, cache off",
        "public": "gate, public path",
    }
    rows: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant, name in names.items():
            app, path, tok = build(variant, os.path.join(tmp, f"{variant}.db"))
            us = in_process(app, path, tok, args.requests)
            rps = over_http(variant, path, tmp, args.requests)
            rows.append((name, us, rps))
    base_us, base_rps = rows[0][1], rows[0][2]
    print(
        f"{'variant':<26}{'in-process µs/req':>19}{'x bare':>8}{'HTTP req/s':>12}{'bare/this':>11}"
    )
    for name, us, rps in rows:
        print(f"{name:<26}{us:>19.1f}{us / base_us:>8.2f}{rps:>12.0f}{base_rps / rps:>11.2f}")


if __name__ == "__main__":
    main()
