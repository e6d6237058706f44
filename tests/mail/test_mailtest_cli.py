"""``jwe-gate mailtest`` run as a real subprocess against real SMTP servers: one test mail
arrives and one line says so; an unreachable or refusing server is one error line and a
non-zero exit, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from support.smtp import PASSWORD, USER, SMTPCerts, SMTPServer, free_port, running_smtp

from jwe_gate._cli_mail import PASSWORD_ENV, TEST_SUBJECT


def mailtest(*args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m jwe_gate mailtest ARGS``, the password (if any) in its environment."""
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    if password is not None:
        env[PASSWORD_ENV] = password
    return subprocess.run(
        [sys.executable, "-m", "jwe_gate", "mailtest", *args],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, fragment: str) -> None:
    """Exit ``code``, one ``error:`` line naming ``fragment``, no traceback, nothing on stdout."""
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert fragment in line


def test_sends_through_a_plain_relay(smtp_server: SMTPServer) -> None:
    """Against a plain relay: exit 0, one confirmation line, the test mail (text and HTML)
    arrives for the recipient from the sender."""
    proc = mailtest(
        "--smtp", smtp_server.address, "--to", "ann@example.com", "--from", "app@example.com"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        f"sent a test mail to ann@example.com through {smtp_server.address} (none)\n"
    )
    [got] = smtp_server.received
    assert got.recipients == ["ann@example.com"]
    assert got.sender == "app@example.com"
    assert got.message["Subject"] == TEST_SUBJECT
    assert "SMTP settings work" in got.part("plain")
    assert "SMTP settings work" in got.part("html")


def test_sends_over_starttls_with_login(
    smtp_starttls_server: SMTPServer, smtp_certs: SMTPCerts
) -> None:
    """``--starttls --user`` with the password from the environment logs in over TLS."""
    server = smtp_starttls_server
    proc = mailtest(
        "--smtp", server.address, "--to", "ann@example.com", "--starttls",
        "--user", USER, "--cafile", str(smtp_certs.ca),
        password=PASSWORD,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    [got] = server.received
    assert (got.tls, got.login) == (True, USER)


def test_sends_over_implicit_tls(smtps_server: SMTPServer, smtp_certs: SMTPCerts) -> None:
    """``--tls`` speaks TLS from the first byte and logs in."""
    proc = mailtest(
        "--smtp", smtps_server.address, "--to", "ann@example.com", "--tls",
        "--user", USER, "--cafile", str(smtp_certs.ca),
        password=PASSWORD,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "(tls)" in proc.stdout
    [got] = smtps_server.received
    assert (got.tls, got.login) == (True, USER)


def test_unreachable_server_is_one_error_line() -> None:
    """Nothing listening: exit 1 and one line saying the server cannot be reached."""
    port = free_port()
    proc = mailtest("--smtp", f"127.0.0.1:{port}", "--to", "ann@example.com")
    assert_one_line_error(proc, 1, f"cannot reach the mail server 127.0.0.1:{port}")


def test_refused_recipient_is_one_error_line(smtp_server: SMTPServer) -> None:
    """A recipient the server refuses: exit 1 and one line with the server's answer."""
    smtp_server.collector.refuse.add("ghost@example.com")
    proc = mailtest("--smtp", smtp_server.address, "--to", "ghost@example.com")
    assert_one_line_error(proc, 1, "refused the recipient: 550")


def test_wrong_password_is_one_error_line_without_it(
    smtp_starttls_server: SMTPServer, smtp_certs: SMTPCerts
) -> None:
    """A refused login: exit 1, one line, and the password printed nowhere."""
    wrong = "Wrong-pass-42"
    proc = mailtest(
        "--smtp", smtp_starttls_server.address, "--to", "ann@example.com", "--starttls",
        "--user", USER, "--cafile", str(smtp_certs.ca),
        password=wrong,
    )  # fmt: skip
    assert_one_line_error(proc, 1, "refused the login: 535")
    assert wrong not in proc.stderr


def test_untrusted_certificate_is_one_error_line(smtp_certs: SMTPCerts) -> None:
    """Without ``--cafile`` the test certificate is not trusted: exit 1, a TLS error line."""
    with running_smtp("tls", certs=smtp_certs) as server:
        proc = mailtest("--smtp", server.address, "--to", "ann@example.com", "--tls")
        assert_one_line_error(proc, 1, "TLS with the mail server")
        assert server.received == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--smtp", "nowhere:port", "--to", "a@example.com"], "HOST:PORT", id="smtp"),
        pytest.param(["--smtp", "127.0.0.1:25", "--to", "a, b@x.com"], "--to", id="to"),
        pytest.param(
            ["--smtp", "127.0.0.1:25", "--to", "a@example.com", "--from", "me"],
            "sender",
            id="from",
        ),
        pytest.param(
            ["--smtp", "127.0.0.1:25", "--to", "a@example.com", "--user", "u"],
            "--user needs --starttls or --tls",
            id="login-in-clear",
        ),
        pytest.param(
            [
                "--smtp",
                "127.0.0.1:25",
                "--to",
                "a@example.com",
                "--tls",
                "--cafile",
                "/nonexistent",
            ],
            "--cafile",
            id="cafile",
        ),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], fragment: str) -> None:
    """Wrong options: exit 2 and one line naming the problem, before any connection."""
    assert_one_line_error(mailtest(*args, password="x"), 2, fragment)
