"""What a raw client returns, and the shape every raw client has."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Result:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    handled: bool = False
    """True when the app's handler ran (it sets the X-Handled header)."""
    json: Any = field(default=None)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class RawClient(Protocol):
    name: str

    def __call__(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        root_path: str = "",
        *,
        body: bytes = b"",
        client_addr: str = "127.0.0.1",
        content_length: bool = True,
    ) -> Result: ...


def make_result(status: int, headers: list[tuple[str, str]], body: bytes) -> Result:
    """A :class:`Result`, marked handled by the X-Handled header and with its JSON body parsed."""
    res = Result(status, headers, body)
    res.handled = any(k.lower() == "x-handled" for k, _ in headers)
    if body and (res.header("content-type") or "").startswith("application/json"):
        res.json = json.loads(body)
    return res
