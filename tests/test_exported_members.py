"""The public namespace: ``jwe_gate.__all__`` is exactly what the package exports (httpx style)."""

from __future__ import annotations

import types

import pytest

import jwe_gate


def _public_members() -> list[str]:
    """Names in the package namespace that are not private, submodules or __future__ flags,
    and the names imported on first use (their optional dependency is not needed before)."""
    eager = {
        name
        for name, value in vars(jwe_gate).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)  # jwe_gate.exceptions is a module
        and type(value).__module__ != "__future__"  # `from __future__ import annotations`
    }
    return sorted(eager | set(jwe_gate._LAZY))


def test_all_is_sorted_and_unique() -> None:
    """__all__ is sorted and has no repeats."""
    assert jwe_gate.__all__ == sorted(set(jwe_gate.__all__))


def test_all_equals_the_public_members() -> None:
    """Every public name is in __all__, and __all__ names nothing else."""
    assert sorted(jwe_gate.__all__) == sorted(_public_members())


@pytest.mark.parametrize("name", jwe_gate.__all__)
def test_every_exported_name_imports(name: str) -> None:
    """`from jwe_gate import <name>` works and gives a jwe_gate object."""
    namespace: dict[str, object] = {}
    exec(f"from jwe_gate import {name}", namespace)  # noqa: S102 - names from __all__
    value = namespace[name]
    assert value is not None
    assert getattr(value, "__module__", "").startswith("jwe_gate")


def test_star_import_gives_exactly_all() -> None:
    """`from jwe_gate import *` binds exactly the names in __all__."""
    namespace: dict[str, object] = {}
    exec("from jwe_gate import *", namespace)  # noqa: S102 - a fixed string
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(jwe_gate.__all__)


@pytest.mark.parametrize(
    "name",
    [
        "Gate",
        "Table",
        "Rule",
        "KeyRing",
        "MemoryBackend",
        "SQLiteBackend",
        # "the mailers, and the exceptions"
        "Mail",
        "Mailer",
        "AsyncMailer",
        "SMTPMailer",
        "ConsoleMailer",
        "OutboxMailer",
        "MailError",
    ],
)
def test_spec_public_api_names_are_exported(name: str) -> None:
    """The names §Public API promises are importable from jwe_gate itself."""
    assert name in jwe_gate.__all__
