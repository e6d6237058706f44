"""Real SMTP servers for the tests (aiosmtpd, on free ports), keeping every mail they accept.

``running_smtp`` starts one: plain, STARTTLS (required before anything else) or implicit TLS,
with or without login (AUTH PLAIN and LOGIN against a fixed user list). The TLS variants use a
certificate authority and a server certificate made at test time with ``cryptography``; a
client trusts them through ``SMTPCerts.client_context()``.

The fixtures below are imported into a ``conftest.py`` where they are used::

    from support.smtp import smtp_certs, smtp_server, smtp_starttls_server, smtps_server
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

USER = "mailer"
PASSWORD = "s3cret-pass-Zq9"
"""The one login the servers with ``users`` accept (unless given others)."""


@dataclass(frozen=True)
class Received:
    """One mail a server accepted: the envelope, the parsed message, and how it came."""

    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    def part(self, subtype: str) -> str:
        """The decoded body part ``text/<subtype>`` (``plain`` or ``html``), with the CRLF line
        ends of the wire turned back into ``\\n``."""
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None, f"no text/{subtype} part"
        assert body.get_content_type() == f"text/{subtype}"
        content: str = body.get_content()
        return content.replace("\r\n", "\n")


@dataclass
class Collector:
    """The aiosmtpd handler: keeps accepted mail; refuses the recipients in ``refuse``."""

    refuse: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, _: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.received.append(
                Received(
                    sender=str(envelope.mail_from),
                    recipients=list(envelope.rcpt_tos),
                    message=message,
                    tls=_over_tls(server),
                    login=login,
                )
            )
        return "250 Message accepted for delivery"


def _over_tls(server: SMTPProtocol) -> bool:
    # The transport after STARTTLS, or from the first byte with implicit TLS.
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None


@dataclass(frozen=True)
class SMTPCerts:
    """A test certificate authority and a server certificate for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that verifies the server against the test authority only."""
        return ssl.create_default_context(cafile=str(self.ca))

    def server_context(self) -> ssl.SSLContext:
        """The server's context, holding its certificate and key."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


@dataclass(frozen=True)
class SMTPServer:
    """A running server: where it listens, what it accepted, and how to trust its TLS."""

    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    collector: Collector
    certs: SMTPCerts | None

    @property
    def address(self) -> str:
        """``host:port``, as ``--smtp`` takes it."""
        return f"{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        """Every mail accepted so far, oldest first."""
        with self.collector.lock:
            return list(self.collector.received)

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting this server's certificate."""
        assert self.certs is not None, "a plain server has no certificate"
        return self.certs.client_context()


def make_certs(folder: Path) -> SMTPCerts:
    """A CA and a server certificate signed by it (EC P-256, one day), written to ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwe_gate test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = SMTPCerts(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.cert.write_bytes(leaf.public_bytes(pem))
    paths.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def free_port() -> int:
    """A TCP port nothing listens on at the moment of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Authenticator:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if self.users.get(login) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


@contextmanager
def running_smtp(
    security: Literal["none", "starttls", "tls"] = "none",
    *,
    certs: SMTPCerts | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[SMTPServer]:
    """Serve SMTP on 127.0.0.1 and a free port until the block ends.

    ``"starttls"`` requires STARTTLS before any other command; ``"tls"`` speaks TLS from the
    first byte. With ``users``, AUTH PLAIN and LOGIN check logins against them; the STARTTLS
    server then accepts mail only after a login over TLS.
    """
    collector = Collector()
    kwargs: dict[str, Any] = {}
    if security != "none":
        assert certs is not None, "a TLS server needs certificates"
    if security == "starttls":
        assert certs is not None
        kwargs.update(tls_context=certs.server_context(), require_starttls=True)
    if security == "tls":
        assert certs is not None
        kwargs.update(ssl_context=certs.server_context())
    if users is not None:
        # aiosmtpd offers AUTH only after STARTTLS when it requires TLS for it, and warns when
        # AUTH is required without TLS: so only the STARTTLS server requires both; the others
        # offer AUTH and the tests check ``Received.login`` to prove the login happened.
        kwargs.update(
            authenticator=_Authenticator(users),
            auth_required=security == "starttls",
            auth_require_tls=security == "starttls",
        )
    controller = Controller(collector, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield SMTPServer("127.0.0.1", controller.port, security, collector, certs)
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def smtp_certs(tmp_path_factory: pytest.TempPathFactory) -> SMTPCerts:
    """A test CA and server certificate, made once per run."""
    return make_certs(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A plain SMTP server without login (a local relay)."""
    with running_smtp("none") as server:
        yield server


@pytest.fixture
def smtp_starttls_server(smtp_certs: SMTPCerts) -> Iterator[SMTPServer]:
    """A submission server: STARTTLS first, then a login (``USER``/``PASSWORD``), then mail."""
    with running_smtp("starttls", certs=smtp_certs, users={USER: PASSWORD}) as server:
        yield server


@pytest.fixture
def smtps_server(smtp_certs: SMTPCerts) -> Iterator[SMTPServer]:
    """An implicit-TLS server (as on port 465) requiring a login (``USER``/``PASSWORD``)."""
    with running_smtp("tls", certs=smtp_certs, users={USER: PASSWORD}) as server:
        yield server
