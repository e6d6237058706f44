"""The benchmark scripts run on this checkout and print every row they promise (their figures are
not checked: nothing here asserts a time or a ratio)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("script", "labels"),
    [
        pytest.param(
            "bench_inprocess.py",
            [
                "Starlette, bare",
                "Starlette + jwe_gate (session on)",
                "Starlette + AuthenticationMiddleware (PyJWT HS256)",
                "Litestar, bare",
                "Litestar + JWTAuth",
                "jwe_gate codec (decrypt + validate)",
                "jwcrypto JWE.deserialize alone",
                "joserfc decrypt_compact",
            ],
            id="inprocess",
        ),
    ],
)
def test_benchmark_runs_and_prints_every_row(script: str, labels: list[str]) -> None:
    """The script's quick mode exits 0 and prints a row for every alternative it compares."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--requests", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for label in labels:
        assert label in done.stdout, (label, done.stdout)


SERVED_ROWS = [
    ("Starlette, bare", "uvicorn"),
    ("Starlette + AuthenticationMiddleware (PyJWT HS256)", "uvicorn"),
    ("Starlette + jwe_gate (session on)", "uvicorn"),
    ("Starlette + jwe_gate, recheck_after=0", "uvicorn"),
    ("Flask, bare", "waitress"),
    ("Flask + jwe_gate (session on)", "waitress"),
    ("Flask + jwe_gate, recheck_after=0", "waitress"),
    ("Flask, bare", "gunicorn"),
    ("Flask + jwe_gate (session on)", "gunicorn"),
]


@pytest.mark.parametrize(
    ("options", "path", "says"),
    [
        pytest.param(
            ["--loadgen", "wrk", "--seconds", "1"],
            None,
            "Load: wrk ",
            id="wrk",
        ),
        pytest.param(
            ["--seconds", "0.5", "--markdown", "--chart"],
            "",
            "wrk not found on PATH: the Python load generator runs instead.",
            id="python-fallback",
        ),
    ],
)
def test_served_benchmark_prints_every_row(
    options: list[str], path: str | None, says: str, tmp_path: Path
) -> None:
    """bench_served.py serves every variant, checks their answers, and prints a row of figures
    for each, with wrk or, when wrk is not on PATH, the Python load generator it names."""
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path  # no wrk to find: the fallback must run and say so
    chart = tmp_path / "served.png"
    if options[-1] == "--chart":
        options = [*options, str(chart)]
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_served.py"), "--rounds", "1", *options],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert says in done.stdout, done.stdout
    for label, server in SERVED_ROWS:
        row = rf"^{re.escape(label)} +{server} .*?[\d,]+ +\d+% +(\d+ +\d+%|n/a +n/a) +0$"
        assert re.search(row, done.stdout, re.MULTILINE), (label, server, done.stdout)
    if "--markdown" in options:
        assert "| Starlette + jwe_gate (session on) | uvicorn" in done.stdout, done.stdout
        assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_login_benchmark_runs_and_prints_every_row() -> None:
    """bench_login.py's tiny run (argon2's cheapest profile, 20 logins) exits 0 and prints its
    three tables, each with the alternative beside jwe_gate and the counts of the flood."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_login.py"), "--logins", "20", "--cheap"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for label in [
        "Login throughput",
        "argon2 verify alone: cores / CPU time",
        "argon2 verify alone: cores / wall time",
        "jwe_gate (a thread per hash, SCHED_IDLE)",
        "Hasher(priority=10): niceness instead",
        "Hasher(priority=0): the server's priority",
        "before: lanes on libargon2's threads, nice 10",
        "Protected GET latency",
        "p99 x idle",
        "Memory: 20 logins sent at once",
        "every 429 has Retry-After",
    ]:
        assert label in done.stdout, (label, done.stdout)
