"""``jwe-gate mailtest``: send one test mail through an SMTP server, to check its settings.

Exit 0 with one line saying where the mail went; 1 with one line saying why when the server
could not be reached or refused it; 2 for bad options.
"""

from __future__ import annotations

import argparse
import getpass
import os
import ssl

from ._mail import Mail, SMTPMailer, parse_smtp
from ._mail.address import mailbox
from .exceptions import ConfigurationError

__all__ = [
    "PASSWORD_ENV",
    "add_demo_smtp_options",
    "add_mailtest_parser",
    "cmd_mailtest",
    "demo_mail_options",
    "mailer_from_args",
]

PASSWORD_ENV = "JWE_GATE_SMTP_PASSWORD"
"""Where ``--user``'s password is read from; without it, it is asked for without echo (a
password on the command line would show in ``ps`` and the shell's history)."""

TEST_SUBJECT = "jwe-gate test mail"
TEST_TEXT = (
    "This is a test mail sent by `jwe-gate mailtest`.\n"
    "If you can read it, the SMTP settings work.\n"
)
TEST_HTML = (
    "<p>This is a test mail sent by <code>jwe-gate mailtest</code>.</p>"
    "<p>If you can read it, the SMTP settings work.</p>"
)


def add_mailtest_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``mailtest`` command to the ``jwe-gate`` parser."""
    m = sub.add_parser("mailtest", help="send one test mail through an SMTP server")
    m.add_argument("--smtp", required=True, metavar="HOST:PORT", help="the mail server")
    m.add_argument("--to", required=True, metavar="ADDR", help="the recipient")
    m.add_argument(
        "--from",
        dest="sender",
        default="jwe-gate@localhost",
        metavar="ADDR",
        help="the sender (default jwe-gate@localhost; most servers want a real one)",
    )
    security = m.add_mutually_exclusive_group()
    security.add_argument(
        "--starttls",
        dest="security",
        action="store_const",
        const="starttls",
        help="upgrade the connection with STARTTLS (port 587)",
    )
    security.add_argument(
        "--tls",
        dest="security",
        action="store_const",
        const="tls",
        help="TLS from the first byte (port 465)",
    )
    m.set_defaults(security="none")
    m.add_argument(
        "--user",
        metavar="U",
        help=f"log in as U; the password comes from {PASSWORD_ENV} or is asked for",
    )
    m.add_argument(
        "--insecure-login",
        action="store_true",
        help="allow --user without --starttls or --tls (the password then crosses in clear)",
    )
    m.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust the certificate authority in FILE (a private server's), not the system's",
    )
    m.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    m.set_defaults(func=cmd_mailtest)


def _password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is not None:
        return password
    return getpass.getpass("SMTP password: ")


def mailer_from_args(args: argparse.Namespace) -> SMTPMailer:
    """The mailer ``--smtp``, ``--from``, ``--starttls``/``--tls``, ``--user`` and
    ``--cafile`` describe; ``ConfigurationError`` when they are wrong."""
    host, port = parse_smtp(args.smtp)
    context = None
    if args.cafile:
        try:
            context = ssl.create_default_context(cafile=args.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"--cafile {args.cafile}: {exc}") from exc
    login: dict[str, str] = {}
    if args.user:
        if args.security == "none" and not args.insecure_login:
            # Refused before asking for the password: it would cross the network in clear.
            raise ConfigurationError(
                "--user needs --starttls or --tls (or --insecure-login for a local relay)"
            )
        login = {"username": args.user, "password": _password()}
    return SMTPMailer(
        host,
        args.sender,
        port=port or 0,
        security=args.security,
        allow_insecure_login=args.insecure_login,
        timeout=args.timeout,
        ssl_context=context,
        **login,
    )


def cmd_mailtest(args: argparse.Namespace) -> int:
    """Send the test mail; a ``MailError`` is the caller's to print (exit 1)."""
    if mailbox(args.to) is None:
        raise ConfigurationError(f"--to must be one mail address, not {args.to!r}")
    mailer = mailer_from_args(args)
    mailer.send(Mail(args.to, TEST_SUBJECT, TEST_TEXT, TEST_HTML))
    print(f"sent a test mail to {args.to} through {mailer.address} ({mailer.security})")
    return 0


def add_demo_smtp_options(d: argparse.ArgumentParser) -> None:
    """``jwe-gate demo``'s mail options: ``--smtp`` and how to speak to that server."""
    d.add_argument(
        "--smtp",
        metavar="HOST:PORT",
        help="send the recovery mail through this SMTP server (default: to the console and "
        "the page's outbox)",
    )
    d.add_argument(
        "--smtp-security",
        choices=("none", "starttls", "tls"),
        help="plain, STARTTLS or implicit TLS (default: none for a server on this machine, "
        "else starttls)",
    )
    d.add_argument(
        "--smtp-from",
        default="jwe-gate demo <demo@localhost>",
        metavar="ADDR",
        help="the sender of the demo's mail",
    )
    d.add_argument(
        "--smtp-user",
        metavar="U",
        help=f"log in as U; the password comes from {PASSWORD_ENV} or is asked for",
    )
    d.add_argument(
        "--smtp-cafile",
        metavar="FILE",
        help="trust the certificate authority in FILE (a private server's), not the system's",
    )


def demo_mail_options(args: argparse.Namespace) -> dict[str, object]:
    """``demo_mail``'s keywords from the demo's options (the password read only when asked)."""
    if not args.smtp:
        given = [
            f"--smtp-{n}" for n in ("security", "user", "cafile") if getattr(args, f"smtp_{n}")
        ]
        if given:  # silently ignored options would leave a person wondering where mail went
            raise ConfigurationError(f"{', '.join(given)} need --smtp HOST:PORT")
        return {}
    if args.smtp_user and args.smtp_security == "none":
        from ._demo_mail import is_loopback

        host, _ = parse_smtp(args.smtp)
        if not is_loopback(host):
            # Refused before asking for the password: it would cross the network in clear.
            raise ConfigurationError(
                "--smtp-user with --smtp-security none sends the password in clear to "
                f"{host}; use starttls or tls"
            )
    return {
        "smtp": args.smtp,
        "smtp_security": args.smtp_security,
        "smtp_from": args.smtp_from,
        "smtp_user": args.smtp_user,
        "smtp_password": _password() if args.smtp_user else None,
        "smtp_cafile": args.smtp_cafile,
    }
