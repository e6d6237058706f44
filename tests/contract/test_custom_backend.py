"""``examples/custom_backend.py`` proves itself with the public contract suite, as a
third-party backend would: a subclass and a fixture."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from jwe_gate.testing import BackendContract

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_backend.py"


def _example() -> Any:
    spec = importlib.util.spec_from_file_location("example_custom_backend", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestCustomBackend(BackendContract):
    """The example's async backend, run through both bridges like any backend."""

    @pytest.fixture
    def backend(self) -> Any:
        return _example().AsyncDictBackend()
