"""§Scaling out: a gate whose stores live in process memory warns at start-up when its process
is one of several workers (their sessions and throttle would silently split)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from jwe_gate import Gate, KeyRing, MemoryBackend, Stores, Table
from jwe_gate._workers import several_workers


@pytest.mark.parametrize(
    ("environ", "argv", "in_child", "several"),
    [
        pytest.param({}, ["python"], False, False, id="plain"),
        pytest.param({"WEB_CONCURRENCY": "4"}, ["python"], False, True, id="web-concurrency"),
        pytest.param({"WEB_CONCURRENCY": "1"}, ["python"], False, False, id="web-concurrency-1"),
        pytest.param(
            {}, ["/venv/bin/gunicorn", "-w", "4", "app:app"], False, True, id="gunicorn-w"
        ),
        pytest.param({}, ["gunicorn", "--workers=3", "app:app"], False, True, id="gunicorn-eq"),
        pytest.param({}, ["gunicorn", "-w4", "app:app"], False, True, id="gunicorn-w4"),
        pytest.param(
            {"GUNICORN_CMD_ARGS": "--workers 2"},
            ["gunicorn", "app:app"],
            False,
            True,
            id="gunicorn-cmd-args",
        ),
        pytest.param({}, ["gunicorn", "app:app"], False, False, id="gunicorn-one"),
        pytest.param({}, ["uvicorn", "app:app", "--workers", "2"], False, True, id="uvicorn"),
        pytest.param({}, ["uvicorn", "app:app"], False, False, id="uvicorn-one"),
        pytest.param({}, ["python"], True, True, id="multiprocessing-child"),
    ],
)
def test_several_workers_are_recognised(
    environ: dict[str, str], argv: list[str], in_child: bool, several: bool
) -> None:
    """The usual ways of running several workers are recognised; one worker is not."""
    assert (several_workers(environ, argv, in_child) is not None) is several


def test_memory_stores_under_several_workers_warn(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """With WEB_CONCURRENCY=4, a gate on memory stores logs a warning naming them; a gate on
    shared (SQLite) stores does not."""
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    with caplog.at_level(logging.WARNING, logger="jwe_gate"):
        Gate(keys=KeyRing.generate(), tables=[Table("user", MemoryBackend())])
    assert "MemoryRefreshStore" in caplog.text
    assert "WEB_CONCURRENCY=4" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jwe_gate"):
        gate = Gate(
            keys=KeyRing.generate(),
            tables=[Table("user", MemoryBackend())],
            stores=Stores.sqlite(tmp_path / "s.db"),
        )
    assert "process memory" not in caplog.text
    gate.close()
