"""§Account recovery in ``gate.openapi()``, fuzzed with schemathesis in process: the recovery
operations of a gate whose table has every link answer only documented statuses, bodies and
headers, never a 5xx, through the ASGI (Starlette) and WSGI (Flask) adapters."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask, jsonify
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Ok
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from support.mailbox import Mailbox
from support.recovery import recovery_gate
from support.schema_checks import CHECKS

from jwe_gate import Gate, Rule
from jwe_gate._endpoints import later

RECOVERY_PATHS = ("/password/", "/verify", "/magic")


def _app(gate: Gate, adapter: str) -> Any:
    document = gate.openapi()
    if adapter == "asgi":

        async def serve(request: Request) -> JSONResponse:
            return JSONResponse(document)

        return gate.asgi(Starlette(routes=[Route("/openapi.json", serve)]))
    flask = Flask(__name__)
    flask.add_url_rule("/openapi.json", "openapi", lambda: jsonify(document))
    return gate.wsgi(flask.wsgi_app)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param(GenerationMode.POSITIVE, id="positive"),
        pytest.param(GenerationMode.NEGATIVE, id="negative"),
    ],
)
def test_recovery_operations_answer_only_what_is_documented(
    adapter: str, mode: GenerationMode
) -> None:
    """Every recovery operation answers a documented status, body and headers; never a 5xx."""
    gate = recovery_gate(
        Mailbox(),
        rules=[Rule("/openapi.json", "public")],
        auth_routes={"/auth": "user"},
        recovery={"mail_per_account": 10_000, "mail_per_address": 10_000},
    )
    app = _app(gate, adapter)
    loader = schemathesis.openapi.from_asgi if adapter == "asgi" else schemathesis.openapi.from_wsgi
    schema = loader("/openapi.json", app)
    seen: set[tuple[str, int]] = set()
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        if any(p in operation.path for p in RECOVERY_PATHS):
            operations.append(operation)
    assert len(operations) == 6
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call_and_validate(checks=CHECKS)
            seen.add((case.operation.label, response.status_code))

        run()
    assert later.drain()
    gate.close()
    statuses = {status for _, status in seen}
    assert statuses <= {202, 400, 401, 403, 405, 413, 429}
    if mode is GenerationMode.POSITIVE:
        assert ("POST /auth/password/forgot", 202) in seen
