"""§Integrations: the demo's ``/openapi.json``, fuzzed with schemathesis against the live demo.

Each adapter's demo (Starlette on uvicorn; ``--wsgi``: Flask on waitress) is started as a
subprocess; schemathesis loads the document the demo serves and sends schema-valid and
schema-invalid requests to every operation, with and without a bearer token. Every answer
must be a documented status with a body and headers that match the document, and none a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from support.schema_checks import CHECKS
from test_demo import Demo, bearer, signup, start_demo, unique_email

from jwe_gate import KeyRing


@pytest.fixture(
    scope="module", params=[pytest.param([], id="asgi"), pytest.param(["--wsgi"], id="wsgi")]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Demo, dict[str, Any]]]:
    """The demo served by uvicorn (ASGI) or waitress (``--wsgi``), with its own db and keys, and
    the tokens of an account signed up first (before fuzzing could exhaust the signup throttle)."""
    tmp: Path = tmp_path_factory.mktemp("openapi")
    keys = tmp / "keys.json"
    keys.write_text(KeyRing.generate().to_json())
    server = start_demo(tmp, "--db", str(tmp / "demo.db"), "--keys", str(keys), *request.param)
    with server.client() as client:
        tokens = signup(client, unique_email("fuzz"))
    yield server, tokens
    server.stop()


@pytest.fixture
def demo(served: tuple[Demo, dict[str, Any]]) -> Demo:
    """The running demo."""
    return served[0]


def test_the_demo_serves_its_document_publicly(demo: Demo) -> None:
    """GET /openapi.json answers without a token: a valid OpenAPI 3.1 document of both prefixes."""
    with demo.client() as client:
        resp = client.get("/openapi.json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    document = resp.json()
    validate(document)
    assert "/auth/signup" in document["paths"]
    assert "/admin/auth/login" in document["paths"]
    assert "/admin/auth/signup" not in document["paths"]


def fuzz(demo: Demo, mode: GenerationMode, headers: dict[str, str]) -> set[tuple[str, int]]:
    """Run every operation of the demo's document in ``mode``; the (operation, status) pairs
    seen. Logout and password run last: they may end the session the headers carry."""
    schema = schemathesis.openapi.from_url(demo.url + "/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document the demo serves resolves
        operations.append(result.ok())
    operations.sort(key=lambda op: (op.path.endswith(("/logout", "/password")), op.label))
    seen: set[tuple[str, int]] = set()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(
                base_url=demo.url, headers=dict(headers), checks=CHECKS
            )
            seen.add((case.operation.label, response.status_code))

        run()
    return seen


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(GenerationMode.POSITIVE, id="positive"),
        pytest.param(GenerationMode.NEGATIVE, id="negative"),
    ],
)
@pytest.mark.parametrize(
    "authenticated", [pytest.param(False, id="anonymous"), pytest.param(True, id="bearer")]
)
def test_schemathesis_finds_no_undocumented_answer(
    served: tuple[Demo, dict[str, Any]], mode: GenerationMode, authenticated: bool
) -> None:
    """Every operation answers only documented statuses, bodies and headers, never a 5xx."""
    demo, tokens = served
    seen = fuzz(demo, mode, bearer(tokens) if authenticated else {})
    assert seen
    if authenticated and mode is GenerationMode.POSITIVE:  # the token got through
        assert ("GET /auth/me", 200) in seen
    assert demo.proc.poll() is None, demo.stderr
