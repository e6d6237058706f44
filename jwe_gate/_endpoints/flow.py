"""Flow machinery shared by the endpoints: the in-flow refusal, and the responses that carry
credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._sansio.http import Refusal, Response, json_response
from .._twins import Flow

__all__ = [
    "NO_STORE",
    "Credentials",
    "EndpointFlow",
    "Later",
    "Refused",
    "ended",
    "token_pair",
]

# Token answers carry credentials (and /me a record): no browser or proxy cache may keep a
# copy (RFC 6749 §5.1).
NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))

EndpointFlow = Flow[Response]


class Refused(Exception):
    """Raised inside a flow to answer with ``error`` at once; ``ended``: the credential that
    failed came from the transport's cookies, which the answer then clears."""

    def __init__(self, error: Refusal, *, ended: bool = False) -> None:
        self.error = error
        self.ended = ended


@dataclass(frozen=True, slots=True)
class Credentials(Response):
    """A response that issues a session's tokens (or, with none, ends it): the endpoint
    service hands it to the transport, which may write them elsewhere too (cookies)."""

    access: str | None = None
    refresh: str | None = None
    session: str | None = None


@dataclass(frozen=True, slots=True)
class Later(Response):
    """A response with work to do after it is answered (``job``, a flow): the mail of forgot
    and magic, so the answer's time says nothing about whether the email has an account.
    ``pending`` is the started job: an ``asyncio.Task`` (the ASGI adapter awaits it once the
    response is sent) or a ``concurrent.futures.Future`` (WSGI: a worker thread runs it)."""

    job: Any = None
    pending: Any = None


def token_pair(access: str, refresh: str, session: str) -> Credentials:
    """The answer of signup, login, refresh and password: Xano's ``authToken`` field."""
    body: dict[str, Any] = {"authToken": access, "refreshToken": refresh}
    plain = json_response(200, body, NO_STORE)
    return Credentials(plain.status, plain.headers, plain.body, access, refresh, session)


def ended(session: str | None) -> Credentials:
    """The answer of a logout: 204, the session's tokens ended."""
    return Credentials(204, NO_STORE, b"", None, None, session)
