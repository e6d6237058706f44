"""A module attribute for ``settings.JWE_GATE = "support.djangoapp.gates.current"``."""

from __future__ import annotations

from typing import Any

current: Any = None
