"""Flow machinery shared by the endpoints: the in-flow refusal, and the responses that carry
credentials."""

from __future__ import annotations

from typing import Any

from .._sansio.http import Refusal, Response, json_response
from .._twins import Flow

__all__ = ["NO_STORE", "EndpointFlow", "Refused", "token_pair"]

# Token answers carry credentials (and /me a record): no browser or proxy cache may keep a
# copy (RFC 6749 §5.1).
NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))

EndpointFlow = Flow[Response]


class Refused(Exception):
    """Raised inside a flow to answer with ``error`` at once."""

    def __init__(self, error: Refusal) -> None:
        self.error = error


def token_pair(access: str, refresh: str) -> Response:
    """The answer of signup, login, refresh and password: Xano's ``authToken`` field."""
    body: dict[str, Any] = {"authToken": access, "refreshToken": refresh}
    return json_response(200, body, NO_STORE)
