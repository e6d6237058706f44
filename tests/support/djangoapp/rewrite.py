"""A middleware that rewrites ``path_info`` (as a tenant or locale middleware might)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class RewriteHealthToApi:
    """Routes ``/health`` as ``/api/me``: placed below the gate, the gate never saw that path."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.path_info == "/health":
            request.path_info = "/api/me"
        return self.get_response(request)
