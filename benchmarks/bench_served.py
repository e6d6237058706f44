"""Served requests per second, jwe_gate beside the bare app and the usual alternative, each under
a real server in its own process on 127.0.0.1, in one run on the same machine.

Every request is an authenticated GET /api/hello with the same ``Authorization: Bearer`` header
(the bare apps ignore it); every response must be a 200, and the script fails when one is not.

ASGI, one uvicorn worker (``--no-access-log``, lifespan off), ratio to the bare Starlette app:

* the bare Starlette app;
* the same app behind Starlette's ``AuthenticationMiddleware`` with a PyJWT HS256 backend that
  reads the user from a SQLite table on every request;
* the same app behind ``gate.asgi`` (SQLite tables and stores; the token comes from a signup, so
  the session check runs), with the gate's defaults: the same request again within
  ``recheck_after`` (1 s) is answered from the gate's memory;
* the same with ``recheck_after=0``: nothing answered from memory; each request has its token
  checked (the verified-token cache still on) and its session and user read.

WSGI, ratio to the bare Flask app under the same server: the bare Flask app and the same app
behind ``gate.wsgi``, under waitress (its default 4 threads; with ``recheck_after=0`` too) and,
where it runs (POSIX), gunicorn (one gthread worker with 4 threads; its sync worker closes the
connection after each response, and the new connection per request then sets the rate, not the
app).

The load comes from wrk (Debian's package ``wrk``: ``-t1 -c32``) when it is on PATH, otherwise
from a Python asyncio client with the same number of keep-alive connections in its own process,
which is slower than wrk and may cap the fastest rows (the output says which one ran). The
variants take turns, round after round, so machine noise hits them alike; each figure is the
median of the rounds. With more than one core, the servers are pinned to one core and the load
generator to another. Beside each rate, the server's CPU time per request (from /proc, where
there is one), which machine noise disturbs less than the rate, and the bare app's CPU time per
request over this one's: the share of the bare rate a worker with a core to itself reaches.

Run: python benchmarks/bench_served.py [--quick] [--seconds S] [--rounds N] [--loadgen wrk|python]
     [--markdown] [--chart served.png]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, TextIO

PATH = "/api/hello"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Variant:
    key: str  # the --serve name of the server process
    label: str  # the row's name
    server: str  # the server column
    bare: str  # the key of the bare app it is compared with
    kind: str  # "bare", "pyjwt", "gate" or "gate0" (recheck_after=0): the chart's colour


def variants() -> list[Variant]:
    uv = "uvicorn (httptools)" if importlib.util.find_spec("httptools") else "uvicorn (h11)"
    out = [
        Variant("asgi-bare", "Starlette, bare", uv, "asgi-bare", "bare"),
        Variant(
            "asgi-pyjwt",
            "Starlette + AuthenticationMiddleware (PyJWT HS256)",
            uv,
            "asgi-bare",
            "pyjwt",
        ),
        Variant("asgi-gate", "Starlette + jwe_gate (session on)", uv, "asgi-bare", "gate"),
        Variant("asgi-gate0", "Starlette + jwe_gate, recheck_after=0", uv, "asgi-bare", "gate0"),
        Variant("waitress-bare", "Flask, bare", "waitress (4 threads)", "waitress-bare", "bare"),
        Variant(
            "waitress-gate",
            "Flask + jwe_gate (session on)",
            "waitress (4 threads)",
            "waitress-bare",
            "gate",
        ),
        Variant(
            "waitress-gate0",
            "Flask + jwe_gate, recheck_after=0",
            "waitress (4 threads)",
            "waitress-bare",
            "gate0",
        ),
    ]
    if os.name == "posix" and importlib.util.find_spec("gunicorn"):
        gthread = "gunicorn (gthread, 4 threads)"
        out += [
            Variant("gunicorn-bare", "Flask, bare", gthread, "gunicorn-bare", "bare"),
            Variant(
                "gunicorn-gate", "Flask + jwe_gate (session on)", gthread, "gunicorn-bare", "gate"
            ),
        ]
    return out


# --- the server process ---------------------------------------------------------------------


def build(key: str, db: str) -> tuple[Any, str]:
    """The app a variant serves and the token its requests carry (the bare apps get a gate's
    token, so every variant reads the same request)."""
    from _common import bare_app, flask_app, make_gate, pyjwt_token, starlette_pyjwt

    # The user row, and a token from its signup; "gate0": no request answered from memory.
    gate, token, sub = make_gate(db, cache=True, recheck_after=0 if key.endswith("0") else None)
    if key == "asgi-bare":
        return bare_app(), token
    if key.startswith("asgi-gate"):
        return gate.asgi(bare_app()), token
    if key == "asgi-pyjwt":
        # uvicorn runs the app on this thread: one connection, as an app would keep one.
        return starlette_pyjwt(sqlite3.connect(db)), pyjwt_token(sub)
    if key.endswith("-bare"):
        return flask_app(), token
    return gate.wsgi(flask_app()), token


def publish(token_file: str, token: str) -> None:
    """Write the token where the driver waits for it (renamed into place: never half-read)."""
    with open(token_file + ".part", "w") as fh:
        fh.write(token)
    os.replace(token_file + ".part", token_file)


def serve(key: str, port: int, db: str, token_file: str) -> None:
    """Serve one variant on 127.0.0.1:port until terminated."""
    server = key.split("-")[0]
    if server == "gunicorn":
        # The app is built in the worker, after the fork: no SQLite connection crosses it.
        from gunicorn.app.base import BaseApplication

        class Gunicorn(BaseApplication):
            def load_config(self) -> None:
                for name, value in {
                    "bind": f"{HOST}:{port}",
                    "workers": 1,
                    "worker_class": "gthread",
                    "threads": 4,
                    "accesslog": None,
                    "loglevel": "warning",
                }.items():
                    self.cfg.set(name, value)

            def load(self) -> Any:
                app, token = build(key, db)
                publish(token_file, token)
                return app

        Gunicorn().run()
        return
    app, token = build(key, db)
    publish(token_file, token)
    if server == "asgi":
        import uvicorn

        uvicorn.run(
            app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off"
        )
    else:
        import logging

        import waitress

        logging.getLogger("waitress").setLevel(logging.ERROR)  # "task queue depth" under load
        waitress.serve(app, host=HOST, port=port, threads=4, _quiet=True)


# --- the load generators --------------------------------------------------------------------


def request_bytes(port: int, token: str) -> bytes:
    return (
        f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


class _Run:
    """The shared state of one Python load run: counters, the live connections, the request."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.request = request_bytes(port, token)
        self.ok = self.bad = self.errors = 0
        self.stopping = False
        self.live: set[_Conn] = set()

    def connect(self) -> None:
        loop = asyncio.get_running_loop()
        task = loop.create_task(loop.create_connection(lambda: _Conn(self), HOST, self.port))
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            self.errors += 1
            if not self.stopping:
                self.connect()


class _Conn(asyncio.Protocol):
    """One keep-alive connection: send the request, read the whole response, send it again."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.run.live.add(self)
        if self.run.stopping:
            self.close()
        else:
            transport.write(self.run.request)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(buf[:end]).lower()
            try:
                status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                stop = head.find(b"\r\n", at + 2) if at >= 0 else -1
                length = int(head[at + 17 : stop if stop >= 0 else len(head)]) if at >= 0 else 0
            except ValueError:
                self.run.errors += 1
                self.close()
                return
            if len(buf) < end + 4 + length:
                return
            del buf[: end + 4 + length]
            if status == 200:
                self.run.ok += 1
            else:
                self.run.bad += 1
            if self.run.stopping:
                self.close()
            elif b"\r\nconnection: close" in head:
                self.close()  # the server ends the connection: open another
                self.run.connect()
            else:
                assert self.transport is not None
                self.transport.write(self.run.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.run.live.discard(self)
        if not self.closing and not self.run.stopping:
            self.run.errors += 1  # the server dropped a connection mid-request
            self.run.connect()


async def python_load(port: int, token: str, conns: int, seconds: float) -> dict[str, float]:
    run = _Run(port, token)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for _ in range(conns):
        run.connect()
    await asyncio.sleep(seconds)
    ok, bad, errors, elapsed = run.ok, run.bad, run.errors, loop.time() - t0
    run.stopping = True
    for conn in list(run.live):
        conn.close()
    await asyncio.sleep(0.05)
    return {"requests": ok + bad, "seconds": elapsed, "bad": bad, "errors": errors}


WRK_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, e.status, e.connect, e.read, e.write, e.timeout))
end
"""


class LoadGenerator:
    """Runs one timed load against a port: wrk, or the Python client in its own process."""

    def __init__(self, kind: str, conns: int, tmp: str) -> None:
        self.kind = kind
        self.wrk = shutil.which("wrk") or "wrk"
        self.conns = conns
        self.lua = os.path.join(tmp, "result.lua")
        with open(self.lua, "w") as fh:
            fh.write(WRK_LUA)

    def describe(self) -> str:
        if self.kind == "wrk":
            done = subprocess.run([self.wrk, "-v"], capture_output=True, text=True, check=False)
            version = re.search(r"wrk\s+\D*(\d+\.\d+(?:\.\d+)?)", done.stdout + done.stderr)
            name = f"wrk {version.group(1)}" if version else "wrk"
            return f"{name} -t1 -c{self.conns} (keep-alive)"
        return (
            f"Python asyncio client, {self.conns} keep-alive connections, in its own process"
            " (slower than wrk: it may cap the fastest rows)"
        )

    def seconds(self, seconds: float) -> float:
        # wrk's -d takes whole seconds.
        return float(max(1, math.ceil(seconds))) if self.kind == "wrk" else seconds

    def run(self, port: int, token: str, seconds: float) -> dict[str, float]:
        seconds = self.seconds(seconds)
        if self.kind == "wrk":
            cmd = [
                self.wrk,
                "-t1",
                f"-c{self.conns}",
                f"-d{int(seconds)}s",
                "-H",
                f"Authorization: Bearer {token}",
                "-s",
                self.lua,
                f"http://{HOST}:{port}{PATH}",
            ]
        else:
            cmd = [sys.executable, __file__, "--drive", str(port), token, str(self.conns)]
            cmd.append(str(seconds))
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{os.path.basename(cmd[0])} failed: {done.stderr.strip()}")
        if self.kind == "wrk":
            found = re.search(r"BENCH-RESULT ([\d ]+)", done.stdout)
            if found is None:
                raise RuntimeError(f"no result from wrk: {done.stdout}")
            n, us, status, *socket_errors = (int(v) for v in found.group(1).split())
            return {
                "requests": n,
                "seconds": us / 1e6,
                "bad": status,
                "errors": sum(socket_errors),
            }
        result: dict[str, float] = json.loads(done.stdout)
        return result


# --- the driver -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def check(port: int, token: str, authenticated: bool) -> None:
    """One request: a 200, whose body names the user (or anonymous for a bare app)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", PATH, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"port {port}: status {resp.status}: {body[:200]!r}")
    who = json.loads(body)["hello"]
    if (who != "anonymous") != authenticated:
        raise RuntimeError(f"port {port}: unexpected user {who!r}")


@dataclass
class Server:
    variant: Variant
    port: int
    proc: subprocess.Popen[bytes]
    token_file: str
    log: str
    token: str = ""


def start(variant: Variant, tmp: str, cpu: int | None) -> Server:
    port = free_port()
    token_file = os.path.join(tmp, f"{variant.key}.token")
    log = os.path.join(tmp, f"{variant.key}.log")
    cmd = [sys.executable, __file__, "--serve", variant.key, "--port", str(port)]
    cmd += ["--db", os.path.join(tmp, f"{variant.key}.db"), "--token-file", token_file]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    return Server(variant, port, proc, token_file, log)


def wait_ready(server: Server, deadline: float) -> None:
    while True:
        if server.proc.poll() is not None:
            with open(server.log) as fh:
                raise RuntimeError(f"{server.variant.key} exited:\n{fh.read()}")
        if os.path.exists(server.token_file):
            with open(server.token_file) as fh:
                server.token = fh.read()
            try:
                check(server.port, server.token, server.variant.kind != "bare")
                return
            except (OSError, http.client.HTTPException):
                pass  # not listening yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.variant.key} did not start")
        time.sleep(0.05)


def warm_up(server: Server, n: int = 200) -> None:
    """Fill the caches (the gate's token and session memory, SQLite's pages) before timing."""
    conn = http.client.HTTPConnection(HOST, server.port, timeout=10)
    headers = {"Authorization": f"Bearer {server.token}"}
    try:
        for _ in range(n):
            conn.request("GET", PATH, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{server.variant.key}: status {resp.status}")
            if resp.will_close:
                conn.close()
    finally:
        conn.close()


def server_cpu(pid: int) -> float | None:
    """CPU seconds a server process and its children (gunicorn's worker) have used, from /proc;
    None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            children = [int(c) for c in fh.read().split()]
    except (OSError, ValueError, IndexError):
        return None
    for child in children:
        used = server_cpu(child)
        total += used or 0.0
    return total


def pinning() -> tuple[int | None, str]:
    """(the servers' core, a sentence): the driver and its load generator take another core."""
    if not hasattr(os, "sched_setaffinity"):
        return None, "no CPU pinning (os.sched_setaffinity unavailable)"
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, "no CPU pinning (one core available): servers and load generator share it"
    return cores[0], (
        f"servers pinned to CPU {cores[0]}, load generator to CPU {cores[1]}"
        f" ({len(cores)} cores available)"
    )


def machine(loadgen: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            found = re.search(r"^model name\s*:\s*(.+)$", fh.read(), re.MULTILINE)
        if found:
            cpu = found.group(1).strip()
    except OSError:
        pass
    versions = []
    for dist in ("uvicorn", "httptools", "uvloop", "starlette", "flask", "waitress", "gunicorn"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()},"
        f" Python {platform.python_version()}; {', '.join(versions)}; load: {loadgen}"
    )


@dataclass(frozen=True)
class Row:
    variant: Variant
    rps: float  # requests per second, the median of the rounds
    ratio: float  # rps / its bare app's rps
    cpu_us: float | None  # the server's CPU microseconds per request (median), when /proc says
    cpu_ratio: float | None  # its bare app's cpu_us / cpu_us
    failed: int  # responses with an error status, and socket errors, over all rounds


def measure(args: argparse.Namespace, out: TextIO) -> tuple[list[Row], str]:
    chosen = variants()
    kind = args.loadgen
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
        if kind == "python":
            print("wrk not found on PATH: the Python load generator runs instead.", file=out)
    elif kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not on PATH (Debian: apt-get install wrk)")
    cpu, pinned = pinning()
    with tempfile.TemporaryDirectory() as tmp:
        load = LoadGenerator(kind, args.connections, tmp)
        servers = [start(v, tmp, cpu) for v in chosen]
        try:
            deadline = time.monotonic() + 60
            for server in servers:
                wait_ready(server, deadline)
            if cpu is not None:
                cores = sorted(os.sched_getaffinity(0))
                os.sched_setaffinity(0, {cores[1]})  # the load generator inherits it
            loadgen = load.describe()
            seconds = load.seconds(args.seconds)
            print(
                f"Load: {loadgen}; {args.rounds} round(s) of {seconds:g} s per variant, the"
                " variants in turn (rotated each round); median of the rounds.",
                file=out,
            )
            print(f"CPU: {pinned}.\n", file=out, flush=True)
            for server in servers:
                warm_up(server)
            rates: dict[str, list[float]] = {v.key: [] for v in chosen}
            cpu_us: dict[str, list[float]] = {v.key: [] for v in chosen}
            failures = dict.fromkeys(rates, 0)
            for r in range(args.rounds):
                turn = servers[r % len(servers) :] + servers[: r % len(servers)]
                for server in turn:
                    before = server_cpu(server.proc.pid)
                    got = load.run(server.port, server.token, args.seconds)
                    after = server_cpu(server.proc.pid)
                    key = server.variant.key
                    rates[key].append(got["requests"] / got["seconds"])
                    failures[key] += int(got["bad"] + got["errors"])
                    if before is not None and after is not None and got["requests"]:
                        cpu_us[key].append((after - before) / got["requests"] * 1e6)
        finally:
            for server in servers:
                server.proc.terminate()
            for server in servers:
                try:
                    server.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.proc.kill()
                    server.proc.wait()
    median = {k: statistics.median(v) for k, v in rates.items()}
    cpu = {k: statistics.median(v) if v else None for k, v in cpu_us.items()}
    rows = [
        Row(
            v,
            median[v.key],
            median[v.key] / median[v.bare],
            cpu[v.key],
            cpu[v.bare] / cpu[v.key] if cpu[v.key] and cpu[v.bare] else None,
            failures[v.key],
        )
        for v in chosen
    ]
    return rows, machine(loadgen)


def _cpu(row: Row) -> tuple[str, str]:
    if row.cpu_us is None or row.cpu_ratio is None:
        return "n/a", "n/a"
    return f"{row.cpu_us:.0f}", f"{row.cpu_ratio:.0%}"


def show(rows: list[Row], out: TextIO) -> None:
    print("Served requests: authenticated GET /api/hello, one server process", file=out)
    head = f"{'variant':<52}{'server':<31}{'req/s':>8}{'% of bare':>11}"
    print(f"{head}{'CPU µs/req':>12}{'% of bare (CPU)':>17}{'errors':>8}", file=out)
    for r in rows:
        cpu, ratio = _cpu(r)
        print(
            f"{r.variant.label:<52}{r.variant.server:<31}{r.rps:>8,.0f}{r.ratio:>10.0%}"
            f"{cpu:>12}{ratio:>16}{r.failed:>8}",
            file=out,
        )
    print(
        "\nCPU µs/req: the server process's CPU time (from /proc) over the requests it answered;"
        "\n% of bare (CPU): the bare app's CPU µs/req over this row's, the share of the bare"
        " rate a worker with a core to itself reaches.",
        file=out,
    )


def markdown(rows: list[Row], about: str, out: TextIO) -> None:
    print(
        "\n| variant | server | req/s | % of own bare | server CPU µs/req | % of own bare (CPU) |",
        file=out,
    )
    print("|---|---|--:|--:|--:|--:|", file=out)
    for r in rows:
        cpu, ratio = _cpu(r)
        print(
            f"| {r.variant.label} | {r.variant.server} | {r.rps:,.0f} | {r.ratio:.0%}"
            f" | {cpu} | {ratio} |",
            file=out,
        )
    print(f"\nMachine: {about}", file=out)


def chart(rows: list[Row], about: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"bare": "#9e9e9e", "pyjwt": "#e69f00", "gate": "#0072b2", "gate0": "#56b4e9"}
    names = [f"{r.variant.label}\n{r.variant.server}" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(rows) + 1.8))
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, [r.rps for r in rows], color=[colours[r.variant.kind] for r in rows])
    for y, r in zip(ys, rows, strict=True):
        ax.text(r.rps, y, f" {r.rps:,.0f}  ({r.ratio:.0%})", va="center", fontsize=8)
    ax.set_yticks(ys, names, fontsize=8)
    ax.set_xlabel("requests per second (higher is better); in brackets: % of its own bare app")
    ax.set_xlim(0, max(r.rps for r in rows) * 1.3)
    ax.set_title("Served requests: authenticated GET, one server process", fontsize=11)
    fig.text(0.01, 0.01, about, fontsize=6, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1 s (under a minute)")
    parser.add_argument("--seconds", type=float, help="seconds per variant and round")
    parser.add_argument("--rounds", type=int, help="rounds (the figure is their median)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument(
        "--loadgen", choices=["auto", "wrk", "python"], default="auto", help="default: wrk if found"
    )
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--chart", metavar="PNG", help="draw the table as a bar chart")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drive", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})
        serve(args.serve, args.port, args.db, args.token_file)
        return
    if args.drive:
        port, token, conns, seconds = args.drive
        print(json.dumps(asyncio.run(python_load(int(port), token, int(conns), float(seconds)))))
        return
    args.seconds = args.seconds or (1.0 if args.quick else 3.0)
    args.rounds = args.rounds or (3 if args.quick else 7)
    rows, about = measure(args, sys.stdout)
    show(rows, sys.stdout)
    print(f"\nMachine: {about}")
    if args.markdown:
        markdown(rows, about, sys.stdout)
    if args.chart:
        chart(rows, about, args.chart)
        print(f"\nChart written to {args.chart}")
    failed = sum(r.failed for r in rows)
    if failed:
        raise SystemExit(f"{failed} responses were not 200 or failed: the figures are not valid")


if __name__ == "__main__":
    main()
