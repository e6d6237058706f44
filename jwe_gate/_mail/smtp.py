"""Mail through an SMTP server, with the standard library's ``smtplib``.

``asend`` runs the blocking ``send`` in a worker thread rather than speaking SMTP a second time
through an async client: one implementation of the conversation, of TLS and of the error
mapping, and recovery mail is rare (throttled per address and account), so one thread per mail
costs nothing that matters.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import ClassVar, Literal, get_args

from .._twins import to_async
from ..exceptions import ConfigurationError, MailError
from .address import check_mail, sender_address
from .message import Mail

__all__ = ["SMTPMailer", "Security", "build_message", "parse_smtp"]

Security = Literal["none", "starttls", "tls"]
"""``"tls"``: TLS from the first byte (implicit TLS, port 465); ``"starttls"``: a plain
connection upgraded by STARTTLS before anything else is sent (port 587); ``"none"``: plain
text, for a relay on the same host or network (port 25)."""

_DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
_HOST = re.compile(r"[A-Za-z0-9._:-]+")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>\d+))?")


def parse_smtp(text: str) -> tuple[str, int | None]:
    """``"smtp.example.com:587"`` -> ``("smtp.example.com", 587)``, as ``--smtp HOST:PORT``
    gives it; the port may be left out (None: the security's default); an IPv6 address is
    written in brackets (``[::1]:2525``). ``ConfigurationError`` when it is not that."""
    match = _HOST_PORT.fullmatch(text.strip())
    host = match and (match["v6"] or match["host"])
    if not match or not host or not _HOST.fullmatch(host):
        raise ConfigurationError(f"not HOST:PORT: {text!r} (e.g. smtp.example.com:587)")
    port = int(match["port"]) if match["port"] is not None else None
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(f"port out of range in {text!r}")
    return host, port


def build_message(mail: Mail, sender: str) -> EmailMessage:
    """The MIME message of ``mail``: plain text, and ``multipart/alternative`` with the HTML
    when there is one. ``MailError`` for a mail that would inject a header."""
    check_mail(mail)
    message = EmailMessage()
    try:
        message["From"] = sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
    except ValueError as exc:  # EmailMessage's own refusal of CR/LF, should ours ever miss one
        raise MailError(f"refused to send: {exc}") from exc
    message["Date"] = format_datetime(datetime.now(UTC))
    # The sender's domain, not socket.getfqdn(): no DNS lookup, and the id names the sender.
    message["Message-ID"] = make_msgid(domain=sender_address(sender).rpartition("@")[2])
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    return message


def _close(client: smtplib.SMTP) -> None:
    # Not `with client:`: its QUIT on a broken connection would raise over the real error.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass  # the mail was accepted already, or an error on its way out says why it was not
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class SMTPMailer:
    """Sends each mail over a new SMTP connection (``smtplib``), validated once when built.

    Args:
        host: The mail server's name or address.
        sender: The ``From`` address, ``no-reply@example.com`` or ``App <no-reply@...>``.
        port: The server's port; 0 (the default) picks the security's usual one (25, 587, 465).
        security: ``"starttls"`` (default), ``"tls"`` (implicit TLS) or ``"none"``.
        username: Login name; with ``password``, the mailer logs in after TLS is up.
        password: Login password; never shown in the repr or an error message.
        allow_insecure_login: Allow login over ``security="none"`` (a relay on localhost).
        timeout: Seconds each connect, read and write may take.
        ssl_context: The TLS settings; by default ``ssl.create_default_context()``, which
            verifies the server's certificate and name.
        local_hostname: The name given in EHLO (default: this host's name).

    Raises:
        ConfigurationError: A value is wrong (checked here once, never per mail).
    """

    host: str
    sender: str
    port: int = 0
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_insecure_login: bool = False
    timeout: float = 10.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    local_hostname: str | None = None

    inline: ClassVar[bool] = False
    """``send`` blocks on the network: async code runs it in a worker thread."""

    def __post_init__(self) -> None:
        if not isinstance(self.host, str) or not _HOST.fullmatch(self.host):
            raise ConfigurationError(f"host must be a host name or address, not {self.host!r}")
        if self.security not in get_args(Security):
            raise ConfigurationError(
                f"security must be 'none', 'starttls' or 'tls', not {self.security!r}"
            )
        if isinstance(self.port, bool) or not isinstance(self.port, int):
            raise ConfigurationError(f"port must be an integer, not {self.port!r}")
        if self.port == 0:
            object.__setattr__(self, "port", _DEFAULT_PORTS[self.security])
        if not 0 < self.port < 65536:
            raise ConfigurationError(f"port out of range: {self.port}")
        sender_address(self.sender)
        if (self.username is None) != (self.password is None):
            raise ConfigurationError("give both username and password, or neither")
        for name in ("username", "password", "local_hostname"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or re.search(r"[\r\n]", value)):
                raise ConfigurationError(f"{name} must be a string without line breaks")
        if self.username is not None and self.security == "none" and not self.allow_insecure_login:
            # Over plain SMTP the password crosses the network readable by anyone on the path.
            raise ConfigurationError(
                "login over security='none' sends the password in clear; use 'starttls' or "
                "'tls', or allow_insecure_login=True for a relay on this host"
            )
        if isinstance(self.timeout, bool) or not (
            isinstance(self.timeout, int | float) and self.timeout > 0
        ):
            raise ConfigurationError(f"timeout must be a positive number, not {self.timeout!r}")
        if self.ssl_context is None:
            object.__setattr__(self, "ssl_context", ssl.create_default_context())
        elif not isinstance(self.ssl_context, ssl.SSLContext):
            raise ConfigurationError("ssl_context must be an ssl.SSLContext")

    @property
    def address(self) -> str:
        """``host:port`` of the server, for messages."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def send(self, mail: Mail) -> None:
        """Send ``mail``; ``MailError`` when it could not be (nothing was sent then, or the
        server took no responsibility for it)."""
        message = build_message(mail, self.sender)
        recipient = check_mail(mail)
        try:
            client = self._connect()
            try:
                self._secure_and_login(client)
                client.send_message(
                    message, from_addr=sender_address(self.sender), to_addrs=[recipient]
                )
            finally:
                _close(client)
        except MailError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (None, b""))
            raise self._error("refused the recipient", code, reply) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise self._error("refused the login", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPSenderRefused as exc:
            raise self._error("refused the sender", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPResponseException as exc:
            raise self._error("refused the mail", exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPServerDisconnected as exc:
            if isinstance(exc.__context__, TimeoutError):  # smtplib wraps a read that timed out
                raise MailError(f"the mail server {self.address} timed out") from exc
            raise MailError(f"the mail server {self.address} closed the connection") from exc
        except smtplib.SMTPException as exc:
            raise MailError(f"the mail server {self.address} failed: {exc}") from exc
        except ssl.SSLError as exc:
            reason = getattr(exc, "verify_message", None) or exc.reason or type(exc).__name__
            raise MailError(f"TLS with the mail server {self.address} failed: {reason}") from exc
        except TimeoutError as exc:
            raise MailError(f"the mail server {self.address} timed out") from exc
        except OSError as exc:  # refused, unreachable, unknown host
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise MailError(f"cannot reach the mail server {self.address}: {reason}") from exc

    async def asend(self, mail: Mail) -> None:
        """``send`` in a worker thread, so the event loop never waits on the server."""
        await to_async(self.send, inline=False)(mail)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                local_hostname=self.local_hostname,
                timeout=self.timeout,
                context=self.ssl_context,
            )
        return smtplib.SMTP(
            self.host, self.port, local_hostname=self.local_hostname, timeout=self.timeout
        )

    def _secure_and_login(self, client: smtplib.SMTP) -> None:
        client.ehlo()
        if self.security == "starttls":
            if not client.has_extn("starttls"):
                # Never fall back to plain text: that is exactly what a downgrade attack wants.
                raise MailError(f"the mail server {self.address} does not offer STARTTLS")
            client.starttls(context=self.ssl_context)
            client.ehlo()  # RFC 3207: forget what the plain session said, ask again
        if self.username is not None and self.password is not None:
            client.login(self.username, self.password)

    def _error(self, what: str, code: int | None, reply: bytes | str) -> MailError:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        text = " ".join(text.split())[:200]  # one line, bounded: it goes into logs
        return MailError(f"the mail server {self.address} {what}: {code} {text}", code=code)
