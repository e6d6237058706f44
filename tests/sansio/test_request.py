"""The one request view and the Xano header transport, built from plain values (no server)."""

from __future__ import annotations

import pytest

from jwe_gate import HeaderNames, Refusal, RequestView, Transport, XanoHeaders


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        pytest.param(["a=1; b=two"], {"a": "1", "b": "two"}, id="two"),
        pytest.param([], {}, id="none"),
        pytest.param(['a="quoted"'], {"a": "quoted"}, id="quoted"),
        pytest.param(["a=1; b"], {}, id="unparsable-is-none"),
    ],
)
def test_cookies_come_from_the_cookie_header(cookie: list[str], expected: dict[str, str]) -> None:
    """RequestView.cookies parses the Cookie header; one it cannot parse counts as none."""
    view = RequestView("GET", "/", {"cookie": cookie} if cookie else {})
    assert dict(view.cookies) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(
            "authtoken=abc&x=1&x=2", {"authtoken": ["abc"], "x": ["1", "2"]}, id="repeats"
        ),
        pytest.param("", {}, id="empty"),
        pytest.param("flag=", {"flag": [""]}, id="blank-kept"),
    ],
)
def test_params_keep_every_value(query: str, expected: dict[str, list[str]]) -> None:
    """RequestView.params keeps repeated and blank values (a transport must see them)."""
    assert dict(RequestView("GET", "/", query=query).params) == expected


def test_header_reads_a_single_value() -> None:
    """header() gives the first value, or None when absent."""
    view = RequestView("GET", "/", {"authorization": ["Bearer t"]}, client="192.0.2.1")
    assert view.header("authorization") == "Bearer t"
    assert view.header("x-missing") is None
    assert view.client == "192.0.2.1"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({"authorization": ["Bearer abc"]}, "abc", id="authorization"),
        pytest.param({"x-xano-authorization": ["abc"]}, "abc", id="xano-bare"),
        pytest.param({"authorization": ["Basic abc"]}, None, id="other-scheme"),
        pytest.param(
            {"x-xano-authorization-only": ["true"], "authorization": ["Bearer abc"]},
            None,
            id="only-leaves-authorization",
        ),
        pytest.param({"authorization": ["Bearer a", "Bearer b"]}, 400, id="repeated"),
    ],
)
def test_xano_headers_transport_reads_a_view(
    headers: dict[str, list[str]], expected: str | int | None
) -> None:
    """The Xano transport reads §Headers from a view: a token, none, or a 400 refusal."""
    transport: Transport = XanoHeaders(HeaderNames())
    got = transport.read(RequestView("GET", "/", headers))
    if isinstance(expected, int):
        assert isinstance(got, Refusal)
        assert got.status == expected
    else:
        assert got == expected
    assert "authorization" in transport.headers
