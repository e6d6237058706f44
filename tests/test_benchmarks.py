"""The benchmark scripts run on this checkout and print every row they promise (their figures are
not checked: nothing here asserts a time or a ratio)."""

from __future__ import annotations

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
                "jwcrypto JWE.deserialize, one JWE object reused",
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
        "jwe_gate (hashing threads at nice 10)",
        "jwe_gate, Hasher(nice=0)",
        "Protected GET latency",
        "p99 x idle",
        "Memory: 20 logins sent at once",
        "every 429 has Retry-After",
    ]:
        assert label in done.stdout, (label, done.stdout)
