"""The demo's mail: account recovery for its ``user`` table, through an SMTP server
(``--smtp``) or, without one, to the console and to an outbox the page shows.

The links in the mails point to the demo's own page (``http://HOST:PORT/?reset=TOKEN``,
``?verify=``, ``?magic=``), built once at start-up from ``--host`` and ``--port``: never from a
request's ``Host`` header, which a client chooses.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
import sys
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ._mail import ConsoleMailer, Mail, OutboxMailer, SMTPMailer, parse_smtp
from ._mail.recovery import Recovery
from .exceptions import ConfigurationError

__all__ = [
    "OUTBOX_NOTE",
    "OUTBOX_PATH",
    "DemoMail",
    "demo_mail",
    "is_loopback",
    "outbox_json",
    "page_url",
]

OUTBOX_PATH = "/demo/outbox"
OUTBOX_NOTE = (
    "Demo only: this outbox is public so that you can click the links in the mails. "
    "A real app never shows its mail; it sends it (jwe-gate demo --smtp HOST:PORT)."
)
_LINK = re.compile(r"https?://\S+")


def _say(message: str) -> None:
    print(f"jwe_gate demo: {message}", file=sys.stderr, flush=True)


def is_loopback(host: str) -> bool:
    """Whether ``--host`` is reachable from this machine only (``localhost``, ``127.0.0.1``,
    ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def page_url(host: str, port: int) -> str:
    """The demo page's address as served on ``host``:``port`` (an IPv6 address bracketed)."""
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass(frozen=True, slots=True)
class _ConsoleAndOutbox:
    """Prints each mail to standard error and keeps it in the outbox."""

    console: ConsoleMailer
    outbox: OutboxMailer

    inline: ClassVar[bool] = True
    """Neither waits on the network."""

    def send(self, mail: Mail) -> None:
        self.console.send(mail)
        self.outbox.send(mail)


@dataclass(frozen=True, slots=True)
class DemoMail:
    """The demo's recovery settings and where its mail goes."""

    recovery: Recovery
    outbox: OutboxMailer | None
    """Kept mails the page shows (no ``--smtp``, loopback host), else None."""
    via: str
    """Where mail goes, as the page says it: ``"outbox"``, ``"console"`` or ``"smtp HOST:PORT"``."""


def _smtp_mailer(
    smtp: str,
    security: Literal["none", "starttls", "tls"] | None,
    sender: str,
    user: str | None,
    password: str | None,
    cafile: str | None,
) -> SMTPMailer:
    host, port = parse_smtp(smtp)
    # A mail server on this machine (a development catcher, a local relay) speaks plain SMTP;
    # one elsewhere gets STARTTLS unless told otherwise: links carry live tokens.
    chosen = security or ("none" if is_loopback(host) else "starttls")
    context = None
    if cafile:
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"--smtp-cafile {cafile}: {exc}") from exc
    return SMTPMailer(
        host,
        sender,
        port=port or 0,
        security=chosen,
        # A login in clear is allowed only to a server on this machine: it never crosses a wire.
        allow_insecure_login=is_loopback(host),
        ssl_context=context,
        username=user or None,
        password=(password or "") if user else None,
    )


def demo_mail(
    host: str,
    port: int,
    *,
    smtp: str | None = None,
    smtp_security: Literal["none", "starttls", "tls"] | None = None,
    smtp_from: str = "jwe-gate demo <demo@localhost>",
    smtp_user: str | None = None,
    smtp_password: str | None = None,
    smtp_cafile: str | None = None,
) -> DemoMail:
    """The recovery of the demo's ``user`` table: links to the page on ``host``:``port``, mail
    through ``smtp`` when given, else to the console and (on a loopback host) the outbox."""
    base = page_url(host, port)
    mailer: Any
    outbox = None
    if smtp:
        mailer = _smtp_mailer(smtp, smtp_security, smtp_from, smtp_user, smtp_password, smtp_cafile)
        via = f"smtp {mailer.address}"
        _say(f"mail goes through {mailer.address} ({mailer.security}); links to {base}")
    elif is_loopback(host):
        outbox = OutboxMailer(limit=20)
        mailer = _ConsoleAndOutbox(ConsoleMailer(), outbox)
        via = "outbox"
        _say(f"mail goes to this console and to the page's outbox ({OUTBOX_PATH}); links to {base}")
    else:
        # The outbox shows every mail's link to whoever can load the page: on a host others
        # reach, that would let anyone reset anyone's password. The console only, then.
        mailer = ConsoleMailer()
        via = "console"
        _say(f"mail goes to this console only (no outbox on {host}: use --smtp)")
    recovery = Recovery(
        mailer,
        reset_url=f"{base}?reset={{token}}",
        verify_url=f"{base}?verify={{token}}",
        magic_url=f"{base}?magic={{token}}",
    )
    return DemoMail(recovery, outbox, via)


def outbox_json(outbox: OutboxMailer) -> dict[str, Any]:
    """``GET /demo/outbox``: the kept mails, newest first, each with the link it carries."""
    mails = []
    for mail in outbox.mails():
        found = _LINK.search(mail.text)
        mails.append(
            {
                "to": mail.to,
                "subject": mail.subject,
                "link": found.group(0) if found else None,
                "text": mail.text,
            }
        )
    return {"note": OUTBOX_NOTE, "mails": mails}
