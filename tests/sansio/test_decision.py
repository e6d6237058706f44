"""Policy.decide for CORS preflights and for the spellings a RequestView carries beside its path
(ASGI ``root_path``, the server's path and the raw target): §Rules, revised."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import pytest

from jwe_gate import Gate, Refusal, RequestView
from jwe_gate._sansio.decision import Allow
from jwe_gate._sansio.http import Response

PREFLIGHT = {"origin": ["https://app.example"], "access-control-request-method": ["DELETE"]}


def decide(gate: Gate, view: RequestView) -> object:
    return gate.policy.decide(view, now=time.time())


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/admin/stats", id="admin"),
        pytest.param("/api/hello", id="default-required"),
        pytest.param("/public/../admin/stats", id="refused-path"),
        pytest.param("/ADMIN/stats", id="ambiguous-path"),
        pytest.param("/auth/me", id="gate-endpoint-required"),
        pytest.param("/auth/login", id="gate-endpoint-public"),
    ],
)
def test_a_preflight_on_a_protected_path_is_answered_by_the_gate(
    make_auth_gate: Callable[..., Gate], path: str
) -> None:
    """No handler runs for a preflight where anonymous may not, and the gate's own endpoints
    have none in the app: the gate answers it, 200."""
    headers = {**PREFLIGHT, "access-control-request-headers": ["authorization, content-type"]}
    answer = decide(make_auth_gate(), RequestView("OPTIONS", path, headers))
    assert isinstance(answer, Response)
    assert answer.status == 200
    assert answer.body == b""
    got = dict(answer.headers)
    assert got["access-control-allow-origin"] == "https://app.example"
    assert got["access-control-allow-methods"] == "DELETE"
    assert got["access-control-allow-headers"] == "authorization, content-type"
    assert "access-control-allow-credentials" not in got  # never cookies: see the README


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/health", id="public"),
        pytest.param("/blog/post", id="optional"),
    ],
)
def test_a_preflight_where_anonymous_may_pass_goes_to_the_app(
    make_auth_gate: Callable[..., Gate], path: str
) -> None:
    """Where the rule lets anonymous through, the app (its CORS middleware) answers."""
    decision = decide(make_auth_gate(), RequestView("OPTIONS", path, PREFLIGHT))
    assert isinstance(decision, Allow)
    assert not decision.user.is_authenticated
    assert decision.endpoint is None


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"origin": ["https://a.example\r\nx: y"]}, id="origin-with-crlf"),
        pytest.param({"origin": ["javascript:alert(1)"]}, id="origin-not-an-origin"),
        pytest.param({"access-control-request-method": ["GET\r\nx: y"]}, id="method-crlf"),
    ],
)
def test_a_preflight_echoes_only_well_formed_values(
    make_auth_gate: Callable[..., Gate], headers: Mapping[str, Sequence[str]]
) -> None:
    """A malformed origin or method is never echoed: no CORS grant, no header splitting."""
    answer = decide(
        make_auth_gate(), RequestView("OPTIONS", "/admin/stats", {**PREFLIGHT, **headers})
    )
    assert isinstance(answer, Response)
    assert "access-control-allow-origin" not in dict(answer.headers)


@pytest.mark.parametrize(
    ("view", "status"),
    [
        pytest.param(
            RequestView("GET", "/stats", root="/admin", server_path="/admin/stats"),
            400,
            id="root-ignored-names-admin",
        ),
        pytest.param(
            RequestView("GET", "/stats", root="/health", server_path="/stats"),
            401,
            id="root-not-in-path",
        ),
        pytest.param(
            RequestView("GET", "/health", target="http://h/admin/stats"),
            400,
            id="raw-target-names-admin",
        ),
        pytest.param(
            RequestView("GET", "/health", root="/x", server_path="/x/health"),
            401,
            id="root-ignored-needs-a-token",
        ),
        pytest.param(RequestView("GET", "/health/x/../y"), 400, id="dot-segments"),
        pytest.param(
            RequestView("GET", "/health", target="/%252e%252e/admin"), 400, id="target-dots"
        ),
    ],
)
def test_every_spelling_of_the_view_counts(
    make_auth_gate: Callable[..., Gate], view: RequestView, status: int
) -> None:
    """The root path, the server's path and the raw target are all read; the strictest wins."""
    refusal = decide(make_auth_gate(), view)
    assert isinstance(refusal, Refusal)
    assert refusal.status == status
