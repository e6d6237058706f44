"""Logins, served: throughput beside what the CPU allows, a protected GET's latency during a
login storm, and the memory a flood of logins takes, in one run on the same machine.

The server: a Starlette app behind ``gate.asgi`` under one uvicorn worker on 127.0.0.1, its
tables and stores in SQLite, hashing with the production profile (the ``Hasher`` default,
argon2-cffi's ``RFC_9106_LOW_MEMORY``: 64 MiB, t=3, p=4). The accounts are seeded with one hash
made once (a hash per account would only slow the set-up). Every login client connects from
its own loopback address (127.1.x.y), as distinct users do: the hasher's per-client share and
the throttle's per-address counters each see one login at a time, so the throttle keeps its
default limits and never interferes.

Table 1, login throughput: correct logins over HTTP from ``--clients`` connections (fewer than
the hasher's slots, so none is refused), beside what the CPU allows: cores ÷ one verify's time,
argon2-cffi's ``PasswordHasher.verify`` alone, one at a time, in this process. libargon2 runs
the p lanes on threads of its own, so with cores free one verify's wall time is less than its
CPU time: cores ÷ CPU time is the capacity the target compares with; cores ÷ wall time (which
counts a core more than once) is shown too, and so is argon2-cffi alone on as many threads as
the server hashes on. "CPU used" is the share of all cores the server (or those threads) got;
on a busy machine the last column scales the capacity to it.

Table 2, a protected GET (``/api/hello`` with a session token, so the session check runs)
sent every 10 ms on its own connection: p50 and p99 with the server idle, and while
``--logins`` clients each keep a login in flight. A refused login (429) retries after its
Retry-After plus up to as long again at random, as a client should; ``--herd``: exactly at
Retry-After, so the clients refused together retry together.

Table 3, memory: ``--logins`` logins sent at once on open connections; the server's peak RSS
(VmHWM, reset first) beside its RSS before them plus max_concurrent x argon2's memory cost, and
the answers by status; beside it, argon2-cffi alone running as many verifies at once in this
process. The base is a warm server's: warm-up floods come first, until one leaves the RSS less
than 128 KiB above where it found it (at most 5; 1 with ``--quick``), since the first floods
leave what the server keeps (imports, SQLite's page cache, the sessions they stored); their
count and the last one's growth are printed. "kept" is the RSS once the measured flood is
over: the logins it let in leave their sessions behind (SQLite's page cache grows with them),
so "over kept" shows the flood's passing memory apart from what it stored.

Each table has a row for jwe_gate as it ships (one thread per hash, ``SCHED_IDLE``) beside
``Hasher(priority=10)`` (niceness 10 instead), ``Hasher(priority=0)`` (the server's own
priority), and the hashing jwe_gate had before: argon2-cffi's ``PasswordHasher``, whose
libargon2 computes the lanes on threads of its own, at niceness 10.

Run: python benchmarks/bench_login.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import json
import math
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from _common import bare_app, login_gate, seed_accounts
from argon2 import Parameters, PasswordHasher
from argon2.profiles import CHEAPEST, RFC_9106_LOW_MEMORY

from jwe_gate import Hasher

PASSWORD = "bench-pass-1"
PROBE_EVERY = 0.010  # seconds between two probe GETs


@dataclass(frozen=True)
class Variant:
    label: str
    priority: str  # "idle" or a niceness
    lanes: bool = False  # argon2-cffi's PasswordHasher: the lanes on libargon2's threads
    max_concurrent: int | None = None  # None: the Hasher's default, min(4, cores)


VARIANTS = [
    Variant("jwe_gate (a thread per hash, SCHED_IDLE)", "idle"),
    Variant("Hasher(priority=10): niceness instead", "10"),
    Variant("Hasher(priority=0): the server's priority", "0"),
    Variant("before: lanes on libargon2's threads, nice 10", "10", lanes=True),
]


@dataclass(frozen=True)
class Plan:
    """How long each phase runs, and how many take part."""

    profile: Parameters
    logins: int  # the storm's and the flood's logins
    clients: int  # the throughput's connections
    verifies: int  # verifies timed alone
    warm: float  # seconds before a phase's window opens
    throughput: float
    idle: float
    storm: float
    warmups: int = 5  # at most this many warm-up floods
    herd: bool = False  # the storm's clients retry exactly at Retry-After


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def source(i: int) -> str:
    """Client i's own loopback address (Linux routes all of 127/8 to lo)."""
    return f"127.1.{i // 250}.{i % 250 + 1}"


def login_body(i: int) -> bytes:
    return json.dumps({"email": f"user{i}@example.com", "password": PASSWORD}).encode()


# -- a minimal HTTP/1.1 keep-alive client on asyncio streams (light: the load shares the CPU) ----


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, addr: str) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(addr, 0))
        return cls(reader, writer)

    async def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str]]:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers

    def close(self) -> None:
        self.writer.close()


# -- the server, in its own process ------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    profile = CHEAPEST if args.cheap else RFC_9106_LOW_MEMORY
    priority = "idle" if args.priority == "idle" else int(args.priority)
    hasher = Hasher(profile, priority=priority, max_concurrent=args.max_concurrent or None)
    if args.lanes:
        # What jwe_gate hashed with before: argon2-cffi's own, one libargon2 thread per lane.
        hasher._ph = PasswordHasher.from_parameters(profile)
    app = login_gate(args.db, hasher).asgi(bare_app())
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="error", access_log=False, lifespan="off"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, field: str) -> int:
    """A /proc/PID/status field in bytes (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, limit: float = 30.0) -> None:
    """Until the server's CPU use falls under 5 % of a core (hashes still queued finish)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        before = cpu_seconds(pid)
        time.sleep(0.3)
        if cpu_seconds(pid) - before < 0.015:
            return


def reset_peak(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: 5 to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


class Server:
    """One variant's server: seeded tables, uvicorn in a child process, a session token."""

    def __init__(self, variant: Variant, plan: Plan, tmp: str, cheap: bool) -> None:
        name = f"{variant.priority}-{variant.lanes}-{variant.max_concurrent}"
        db = os.path.join(tmp, f"login-{name}.db")
        seed_accounts(db, plan.logins, PASSWORD, plan.profile)
        self.port = free_port()
        cmd = [sys.executable, __file__, "--serve", "--port", str(self.port), "--db", db]
        cmd += ["--priority", variant.priority]
        cmd += ["--max-concurrent", str(variant.max_concurrent or 0)]
        cmd += ["--lanes"] if variant.lanes else []
        self.proc = subprocess.Popen([*cmd, "--cheap"] if cheap else cmd)
        self.pid = self.proc.pid
        for _ in range(1000):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)
        conn = http.client.HTTPConnection("127.0.0.1", self.port)
        conn.request("POST", "/auth/login", login_body(0), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        self.token = json.loads(resp.read())["authToken"]
        conn.close()

    def stop(self) -> None:
        self.proc.kill()  # not terminate: a graceful stop would wait for the queued hashes
        self.proc.wait()


# -- the phases --------------------------------------------------------------------------------


async def _throughput(port: int, plan: Plan, pid: int) -> tuple[float, float, Counter[int]]:
    done = 0
    statuses: Counter[int] = Counter()
    stop = asyncio.Event()

    async def client(i: int) -> None:
        nonlocal done
        conn = await Conn.open(port, source(i))
        try:
            while not stop.is_set():
                status, _ = await conn.send("POST", "/auth/login", login_body(i))
                statuses[status] += 1
                done += status == 200
        finally:
            conn.close()

    tasks = [asyncio.create_task(client(i)) for i in range(plan.clients)]
    await asyncio.sleep(plan.warm)
    start, cpu, t0 = done, cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(plan.throughput)
    elapsed = time.perf_counter() - t0
    rate, share = (done - start) / elapsed, (cpu_seconds(pid) - cpu) / elapsed / cores()
    stop.set()
    await asyncio.gather(*tasks)
    return rate, share, statuses


def throughput(server: Server, plan: Plan) -> tuple[float, float, Counter[int]]:
    """(correct logins per second over the window from ``plan.clients`` connections, the share
    of all cores the server used meanwhile, the answers by status)."""
    return asyncio.run(_throughput(server.port, plan, server.pid))


async def storm(port: int, logins: int, herd: bool) -> None:
    """``logins`` clients, each keeping a login in flight, until stdin closes; then the answers
    by status as JSON on stdout. After a 429 a client waits its Retry-After and up to as long
    again at random, as a client should; with ``herd``, exactly its Retry-After, so the clients
    refused together retry together."""
    statuses: Counter[int] = Counter()
    conns = [await Conn.open(port, source(i)) for i in range(logins)]

    async def client(i: int) -> None:
        while True:
            status, headers = await conns[i].send("POST", "/auth/login", login_body(i))
            statuses[status] += 1
            if status == 429:
                wait = float(headers.get("retry-after", "1"))
                await asyncio.sleep(wait if herd else wait * (1 + random.random()))  # noqa: S311 (jitter)

    tasks = [asyncio.create_task(client(i)) for i in range(logins)]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(statuses), flush=True)


def probe(port: int, token: str, seconds: float) -> list[float]:
    """Latencies (ms) of a protected GET sent every PROBE_EVERY seconds for ``seconds``."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    end = time.perf_counter() + seconds
    due = time.perf_counter()
    while due < end:
        time.sleep(max(0.0, due - time.perf_counter()))
        t0 = time.perf_counter()
        conn.request("GET", "/api/hello", headers=headers)
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter() - t0) * 1e3)
        if resp.status != 200:
            raise RuntimeError(f"protected GET answered {resp.status}")
        due = max(due + PROBE_EVERY, time.perf_counter())
    conn.close()
    return out


def p99(values: list[float]) -> float:
    """The nearest-rank 99th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def latency(server: Server, plan: Plan) -> tuple[list[float], list[float], Any]:
    """(idle latencies, latencies during the storm, the storm's answers by status)."""
    probe(server.port, server.token, 0.3)  # warm the connection and the token cache
    idle = probe(server.port, server.token, plan.idle)
    cmd = [sys.executable, __file__, "--storm", "--port", str(server.port)]
    cmd += ["--logins", str(plan.logins)]
    load = subprocess.Popen(
        [*cmd, "--herd"] if plan.herd else cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert load.stdin is not None
    assert load.stdout is not None
    if load.stdout.readline().strip() != "ready":
        raise RuntimeError("the storm did not start")
    time.sleep(plan.warm)
    busy = probe(server.port, server.token, plan.storm)
    load.stdin.close()
    statuses = json.loads(load.stdout.read())
    load.wait()
    return idle, busy, statuses


async def flood(server: Server, logins: int) -> tuple[int, int, Counter[str], bool]:
    """``logins`` logins sent at once: (RSS before, peak RSS, answers by status, every 429 has
    a Retry-After)."""
    conns = [await Conn.open(server.port, source(i)) for i in range(logins)]
    reset = reset_peak(server.pid)
    base = proc_status(server.pid, "VmRSS")
    answers = await asyncio.gather(
        *(c.send("POST", "/auth/login", login_body(i)) for i, c in enumerate(conns))
    )
    peak = proc_status(server.pid, "VmHWM")
    for c in conns:
        c.close()
    if not reset:
        print("note: VmHWM could not be reset; the peak includes the server's start-up")
    statuses: Counter[str] = Counter()
    for status, _ in answers:
        statuses["5xx" if status >= 500 else str(status)] += 1
    retry = all("retry-after" in h for s, h in answers if s == 429)
    return base, peak, statuses, retry


# -- the run -----------------------------------------------------------------------------------


def time_verify(profile: Parameters, n: int) -> tuple[float, float, float]:
    """Median (wall, process CPU, calling thread's CPU) seconds of one verify alone."""
    ph = PasswordHasher.from_parameters(profile)
    stored = ph.hash(PASSWORD)
    ph.verify(stored, PASSWORD)  # warm-up
    wall, cpu, own = [], [], []
    for _ in range(n):
        w, c, t = time.perf_counter(), time.process_time(), time.thread_time()
        ph.verify(stored, PASSWORD)
        own.append(time.thread_time() - t)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(wall), statistics.median(cpu), statistics.median(own)


def verify_parallel(profile: Parameters, threads: int, seconds: float) -> tuple[float, float]:
    """(verifies per second, share of all cores used) of ``threads`` threads verifying in a loop
    in this process for ``seconds``: argon2-cffi alone, as many at once as the server runs."""
    ph = PasswordHasher.from_parameters(profile)
    stored = ph.hash(PASSWORD)
    count = [0] * threads
    end = time.perf_counter() + seconds

    def loop(i: int) -> None:
        while time.perf_counter() < end:
            ph.verify(stored, PASSWORD)
            count[i] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    elapsed = time.perf_counter() - t0
    return sum(count) / elapsed, (time.process_time() - c0) / elapsed / cores()


def verify_memory(profile: Parameters, at_once: int) -> tuple[int, int] | None:
    """(RSS before, peak RSS) of this process running ``at_once`` verifies at once on threads
    (argon2-cffi alone), or None where the peak cannot be reset."""
    ph = PasswordHasher.from_parameters(profile)
    stored = ph.hash(PASSWORD)
    if not reset_peak(os.getpid()):
        return None
    base = proc_status(os.getpid(), "VmRSS")
    threads = [threading.Thread(target=ph.verify, args=(stored, PASSWORD)) for _ in range(at_once)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return base, proc_status(os.getpid(), "VmHWM")


def mib(n: float) -> float:
    return n / 2**20


@dataclass
class Row:
    """One variant's figures."""

    variant: Variant
    rate: float
    share: float
    statuses: Counter[int]
    idle: list[float]
    busy: list[float]
    storm: dict[str, int]
    base: int
    peak: int
    flood: Counter[str]
    retry_after: bool
    kept: int  # RSS after the flood
    warmups: int  # warm-up floods before it
    grew: int  # how much the last warm-up flood left in RSS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (under a minute)")
    parser.add_argument("--logins", type=int, default=200, help="the storm's and flood's logins")
    parser.add_argument("--clients", type=int, default=16, help="the throughput's connections")
    # Hidden: the tiny run of the test suite (argon2's CHEAPEST profile), the child processes,
    # other variants to try (priority:max_concurrent,...; 0 for the default max_concurrent), and the
    # storm's clients retrying exactly at Retry-After (--herd).
    parser.add_argument("--cheap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variants", help=argparse.SUPPRESS)
    parser.add_argument("--herd", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--storm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--priority", default="idle", help=argparse.SUPPRESS)
    parser.add_argument("--lanes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--max-concurrent", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    if args.storm:
        asyncio.run(storm(args.port, args.logins, args.herd))
        return
    variants = VARIANTS
    if args.variants:
        variants = []
        for spec in args.variants.split(","):
            priority, count = spec.split(":")
            most = int(count)
            shown = repr(priority) if priority == "idle" else priority
            name = f"Hasher(priority={shown}" + (f", max_concurrent={most})" if most else ")")
            variants.append(Variant(name, priority, max_concurrent=most or None))
    if args.cheap:
        plan = Plan(CHEAPEST, args.logins, min(args.clients, 4), 3, 0.2, 0.5, 0.5, 0.5, 1)
    elif args.quick:
        plan = Plan(RFC_9106_LOW_MEMORY, args.logins, args.clients, 5, 0.5, 3.0, 1.5, 3.0, 1)
        if not args.variants:
            variants = [VARIANTS[0], VARIANTS[-1]]  # as shipped and as before: under a minute
    else:
        plan = Plan(RFC_9106_LOW_MEMORY, args.logins, args.clients, 10, 2.0, 20.0, 8.0, 15.0)
    run(dataclasses.replace(plan, herd=args.herd), variants, args.cheap)


def warm_up(
    server: Server, logins: int, settled: int = 128 << 10, most: int = 5
) -> tuple[int, int]:
    """Floods until one leaves the RSS less than ``settled`` bytes above where it found it (at
    most ``most``): (how many, what the last left)."""
    count, grew = 0, settled
    while count < most and grew >= settled:
        before = proc_status(server.pid, "VmRSS")
        asyncio.run(flood(server, logins))
        wait_idle(server.pid)
        count, grew = count + 1, proc_status(server.pid, "VmRSS") - before
    return count, grew


def measure(variant: Variant, plan: Plan, tmp: str, cheap: bool) -> Row:
    """Every phase against one variant's server."""
    server = Server(variant, plan, tmp, cheap)
    try:
        wait_idle(server.pid)
        warmups, grew = warm_up(server, plan.logins, most=plan.warmups)
        base, peak, flooded, retry = asyncio.run(flood(server, plan.logins))
        wait_idle(server.pid)
        kept = proc_status(server.pid, "VmRSS")
        rate, share, statuses = throughput(server, plan)
        wait_idle(server.pid)
        idle, busy, storm_statuses = latency(server, plan)
    finally:
        server.stop()
    return Row(
        variant,
        rate,
        share,
        statuses,
        idle,
        busy,
        storm_statuses,
        base,
        peak,
        flooded,
        retry,
        kept,
        warmups,
        grew,
    )


def run(plan: Plan, variants: list[Variant], cheap: bool) -> None:
    n = cores()
    p = plan.profile
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{cpu_model()}, {n} cores, Python {platform.python_version()}; load average {load}")
    print(
        f"argon2id m={p.memory_cost} KiB, t={p.time_cost}, p={p.parallelism}"
        + (" (CHEAPEST: a smoke run)" if cheap else " (RFC_9106_LOW_MEMORY, the Hasher default)")
    )
    wall, cpu, own = time_verify(p, plan.verifies)
    print(
        f"one verify alone: {wall * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU in all threads, "
        f"{own * 1e3:.1f} ms in the calling thread: libargon2 runs the lanes on "
        + ("threads of its own" if own < 0.5 * cpu else "the calling thread")
    )
    most = min(4, os.cpu_count() or 1)
    together, together_cpu = verify_parallel(p, most, plan.throughput)
    print()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(v, plan, tmp, cheap) for v in variants]

    by_cpu, by_wall = n / cpu, n / wall
    print(f"Login throughput: {plan.clients} connections, correct logins, distinct accounts")
    print(f"{'variant':<46}{'ms/verify':>10}{'logins/s':>10}{'CPU used':>10}", end="")
    print(f"{'x capacity':>12}{'x capacity at CPU used':>24}")
    alone = "argon2 verify alone: cores / "
    print(f"{alone + 'CPU time':<46}{cpu * 1e3:>10.1f}{by_cpu:>10.1f}{'':>10}{1:>12.2f}")
    print(f"{alone + 'wall time':<46}{wall * 1e3:>10.1f}{by_wall:>10.1f}{'':>10}", end="")
    print(f"{by_wall / by_cpu:>12.2f}")
    label = f"argon2 alone, {most} threads verifying"
    print(f"{label:<46}{'':>10}{together:>10.1f}{together_cpu:>10.0%}", end="")
    print(f"{together / by_cpu:>12.2f}{together / max(together_cpu * by_cpu, 1e-9):>24.2f}")
    for r in rows:
        print(f"{r.variant.label:<46}{'':>10}{r.rate:>10.1f}{r.share:>10.0%}", end="")
        print(f"{r.rate / by_cpu:>12.2f}{r.rate / max(r.share * by_cpu, 1e-9):>24.2f}")
    print("  capacity: cores / one verify's CPU time; CPU used: the server's (or the threads')")
    print("  share of all cores meanwhile; at CPU used: the capacity scaled to that share")
    for r in rows:
        print(f"  {r.variant.label}: answers {dict(sorted(r.statuses.items()))}")
    print()

    retry = "exactly at Retry-After" if plan.herd else "after Retry-After plus up to as long again"
    print(f"Protected GET latency (ms), idle and while {plan.logins} logins are in flight")
    print(f"  (a GET every {PROBE_EVERY * 1e3:.0f} ms; a refused login retries {retry})")
    print(f"{'variant':<46}{'idle p50':>9}{'idle p99':>9}{'busy p50':>9}{'busy p99':>9}", end="")
    print(f"{'p99 x idle':>12}")
    for r in rows:
        idle, busy = p99(r.idle), p99(r.busy)
        print(
            f"{r.variant.label:<46}{statistics.median(r.idle):>9.2f}{idle:>9.2f}"
            f"{statistics.median(r.busy):>9.2f}{busy:>9.2f}{busy / idle:>12.2f}"
        )
    for r in rows:
        print(f"  {r.variant.label}: {len(r.idle)}/{len(r.busy)} GETs, logins answered {r.storm}")
    print()

    workers = [r.variant.max_concurrent or min(4, os.cpu_count() or 1) for r in rows]
    print(f"Memory: {plan.logins} logins sent at once (RSS, MiB; a warm server)")
    print(f"{'variant':<46}{'base':>7}{'+ hashes':>9}{'peak':>8}{'x bound':>9}", end="")
    print(f"{'over KiB':>9}{'kept':>7}{'over kept':>10}{'200':>6}{'403':>6}{'429':>6}{'5xx':>6}")
    for most in sorted(set(workers)):
        alone_mem = verify_memory(p, most)
        if alone_mem is not None:
            base, peak = alone_mem
            label = f"argon2 alone, {most} verifies at once"
            bound = base + most * p.memory_cost * 1024
            print(
                f"{label:<46}{mib(base):>7.1f}{mib(bound - base):>9.1f}{mib(peak):>8.1f}"
                f"{peak / bound:>9.3f}{(peak - bound) / 1024:>9.0f}"
            )
    for r, most in zip(rows, workers, strict=True):
        bound = r.base + most * p.memory_cost * 1024
        print(
            f"{r.variant.label:<46}{mib(r.base):>7.1f}{mib(bound - r.base):>9.1f}"
            f"{mib(r.peak):>8.1f}{r.peak / bound:>9.3f}{(r.peak - bound) / 1024:>9.0f}"
            f"{mib(r.kept):>7.1f}{(r.peak - r.kept - (bound - r.base)) / 1024:>10.0f}"
            + "".join(f"{r.flood.get(k, 0):>6}" for k in ("200", "403", "429", "5xx"))
        )
    print("  + hashes: max_concurrent x argon2 memory_cost; x bound: peak / (base + hashes);")
    print("  over: peak - (base + hashes), negative when within; kept: RSS after the flood;")
    print("  over kept: peak - (kept + hashes), the flood's passing memory beside what it left")
    for r in rows:
        print(
            f"  {r.variant.label}: base after {r.warmups} warm-up flood(s), the last of which"
            f" left {r.grew / 1024:.0f} KiB"
        )
    for r in rows:
        rest = {k: c for k, c in r.flood.items() if k not in ("200", "403", "429", "5xx")}
        note = f", other {rest}" if rest else ""
        print(f"  {r.variant.label}: every 429 has Retry-After: {r.retry_after}{note}")


if __name__ == "__main__":
    main()
