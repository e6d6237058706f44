"""A cookie jar over a raw client: it keeps what ``Set-Cookie`` lines say (name, value, Path,
Max-Age) and sends back the cookies whose Path covers the request, as a browser would."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from support.results import RawClient, Result


@dataclass
class Cookie:
    value: str
    path: str
    attributes: dict[str, str]
    line: str


def parse_set_cookie(line: str) -> tuple[str, Cookie]:
    """One ``Set-Cookie`` line as (name, cookie); attribute names lower-cased."""
    first, *rest = [p.strip() for p in line.split(";")]
    name, _, value = first.partition("=")
    attributes = {}
    for part in rest:
        key, _, val = part.partition("=")
        attributes[key.lower()] = val
    return name, Cookie(value, attributes.get("path", "/"), attributes, line)


def _covers(path: str, target: str) -> bool:
    # RFC 6265 §5.1.4 path-match.
    return target == path or target.startswith(path.rstrip("/") + "/") or path == "/"


@dataclass
class Browser:
    """Sends requests through ``client`` with the jar's cookies (and ``csrf`` in the CSRF
    header when asked)."""

    client: RawClient
    jar: dict[tuple[str, str], Cookie] = field(default_factory=dict)
    csrf: str | None = None
    last: Result | None = None

    def cookie(self, name: str) -> str | None:
        """The value of the jar's cookie ``name`` (any path), or None."""
        for (n, _), c in self.jar.items():
            if n == name:
                return c.value
        return None

    def header(self, target: str) -> str:
        path = target.partition("?")[0]
        return "; ".join(f"{n}={c.value}" for (n, p), c in self.jar.items() if _covers(p, path))

    def __call__(
        self,
        method: str,
        target: str,
        data: Any = None,
        headers: Sequence[tuple[str, str]] = (),
        *,
        with_csrf: bool = False,
    ) -> Result:
        sent = list(headers)
        cookie = self.header(target)
        if cookie:
            sent.append(("Cookie", cookie))
        if with_csrf and self.csrf is not None:
            sent.append(("X-CSRF-Token", self.csrf))
        body = b""
        if data is not None:
            body = json.dumps(data).encode()
            sent.append(("Content-Type", "application/json"))
        res = self.client(method, target, sent, body=body)
        for k, v in res.headers:
            if k.lower() == "set-cookie":
                name, c = parse_set_cookie(v)
                if c.attributes.get("max-age") == "0":
                    self.jar.pop((name, c.path), None)
                else:
                    self.jar[(name, c.path)] = c
        if isinstance(res.json, dict) and "csrfToken" in res.json:
            self.csrf = res.json["csrfToken"]
        self.last = res
        return res


def set_cookies(res: Result) -> dict[str, Cookie]:
    """The response's ``Set-Cookie`` lines by cookie name."""
    return dict(parse_set_cookie(v) for k, v in res.headers if k.lower() == "set-cookie")
