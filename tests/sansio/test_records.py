"""``parse_key``: the one reading of a record id against a key column's kind."""

from __future__ import annotations

import uuid

import pytest

from jwe_gate._sansio.records import parse_key

U = "0b6f3c4e-2d1a-4f5e-9c8b-7a6d5e4f3c2b"


@pytest.mark.parametrize(
    ("id", "kind", "expected"),
    [
        pytest.param("42", "int", 42, id="int"),
        pytest.param("0", "int", 0, id="int-zero"),
        pytest.param("042", "int", None, id="int-leading-zero"),
        pytest.param("4.0", "int", None, id="int-decimal-point"),
        pytest.param(" 42", "int", None, id="int-space"),
        pytest.param("٤٢", "int", None, id="int-arabic-digits"),
        pytest.param(str(2**63), "int", None, id="int-past-bigint"),
        pytest.param(str(2**63 - 1), "int", 2**63 - 1, id="int-largest-bigint"),
        pytest.param(U, "uuid", uuid.UUID(U), id="uuid"),
        pytest.param(U.upper(), "uuid", None, id="uuid-upper-case"),
        pytest.param(U.replace("-", ""), "uuid", None, id="uuid-without-dashes"),
        pytest.param("nope", "uuid", None, id="uuid-not-one"),
        pytest.param("abc", "str", "abc", id="str"),
        pytest.param("x" * 256, "str", None, id="str-too-long"),
        pytest.param("", "int", None, id="empty"),
        pytest.param(42, "int", None, id="not-a-string"),
    ],
)
def test_only_the_canonical_spelling_names_a_key(id: object, kind: str, expected: object) -> None:
    """An id names a key only in its canonical spelling; anything else names none."""
    assert parse_key(id, kind) == expected
