"""How a table recovers accounts (SPEC §Account recovery): the mailer, the front end's link for
each purpose, the one-time tokens' lifetimes, the mail limits, and the mail templates.

Links are built from these templates only, never from the request's ``Host`` header: a forged
``Host`` would otherwise send a user a link to the attacker's site carrying a live token."""

from __future__ import annotations

import html
import math
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ..exceptions import ConfigurationError
from .message import Mail

__all__ = ["PURPOSES", "MailTemplate", "Recovery", "default_templates"]

PURPOSES = ("reset", "verify", "magic")
"""The one-time tokens' purposes: a password reset, an email verification, a sign-in link."""


@dataclass(frozen=True, slots=True)
class MailTemplate:
    """One mail, as ``string.Template`` texts. The placeholders: ``$link`` (the front end's page
    with the token), ``$email``, ``$name`` (the record's, may be empty), ``$minutes`` (how long
    the link works). In ``html`` every value is HTML-escaped before it is put in, so a name like
    ``<script>`` arrives as text; ``subject`` and ``text`` are plain text."""

    subject: str
    text: str
    html: str | None = None

    def __post_init__(self) -> None:
        for part in (self.subject, self.text, self.html):
            if part is None:
                continue
            if not isinstance(part, str):
                raise ConfigurationError("MailTemplate parts must be strings")
            try:  # a misspelt placeholder is found now, not in the first user's mail
                string.Template(part).substitute(_SAMPLE)
            except (KeyError, ValueError) as exc:
                raise ConfigurationError(f"MailTemplate placeholder problem: {exc}") from None
        if "$link" not in self.text and "${link}" not in self.text:
            raise ConfigurationError("a MailTemplate's text must hold $link")

    def render(self, to: str, values: Mapping[str, str]) -> Mail:
        """The mail to ``to`` with ``values`` put in (escaped for the HTML part)."""
        # A subject is one header line: no value may break it into two.
        subject = " ".join(string.Template(self.subject).substitute(values).split())
        text = string.Template(self.text).substitute(values)
        markup = None
        if self.html is not None:
            escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
            markup = string.Template(self.html).substitute(escaped)
        return Mail(to, subject, text, markup)


_SAMPLE = {"link": "https://x/", "email": "a@b", "name": "", "minutes": "30"}

_HTML = """<!doctype html>
<html><body style="font-family: sans-serif">
<p>Hello $name,</p>
<p>%s</p>
<p><a href="$link">%s</a></p>
<p style="color: #666">The link works for $minutes minutes, once. If you did not ask for it,
ignore this mail.</p>
</body></html>
"""


def default_templates() -> dict[str, MailTemplate]:
    """The mails sent when a ``Recovery`` names none of its own: one per purpose."""
    return {
        "reset": MailTemplate(
            "Reset your password",
            "Hello $name,\n\nTo choose a new password for $email, open:\n\n$link\n\n"
            "The link works for $minutes minutes, once. If you did not ask for it, ignore "
            "this mail: your password stays as it is.\n",
            _HTML % ("To choose a new password for $email, follow the link:", "Reset password"),
        ),
        "verify": MailTemplate(
            "Confirm your email address",
            "Hello $name,\n\nTo confirm that $email is yours, open:\n\n$link\n\n"
            "The link works for $minutes minutes, once.\n",
            _HTML % ("To confirm that $email is yours, follow the link:", "Confirm address"),
        ),
        "magic": MailTemplate(
            "Your sign-in link",
            "Hello $name,\n\nTo sign in as $email, open:\n\n$link\n\n"
            "The link works for $minutes minutes, once. If you did not ask for it, ignore "
            "this mail.\n",
            _HTML % ("To sign in as $email, follow the link:", "Sign in"),
        ),
    }


def _link(name: str, template: str | None) -> str | None:
    if template is None:
        return None
    if not isinstance(template, str) or template.count("{token}") != 1:
        raise ConfigurationError(f"Recovery.{name} must hold '{{token}}' exactly once")
    parts = urlsplit(template.replace("{token}", "t"))
    # An absolute http(s) URL of the front end: a relative one would be resolved against
    # whatever the mail client thinks, and other schemes (javascript:) never belong in a mail.
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"Recovery.{name} must be an absolute http(s) URL: {template!r}")
    return template


@dataclass(frozen=True, slots=True)
class Recovery:
    """Account recovery for one table: ``Table(..., recovery=Recovery(...))``.

    Each purpose is served only when its link is given: ``reset_url`` serves
    ``password/forgot`` and ``password/reset``, ``verify_url`` ``verify/send`` and ``verify``,
    ``magic_url`` ``magic`` and ``magic/login``. Without it those endpoints are not served at
    all (the path is the app's, as any other).

    Args:
        mailer: sends the mails (``Mailer`` with ``send``, ``AsyncMailer`` with ``asend``, or
            both).
        reset_url: the front end's password-reset page, with ``{token}`` where the token goes,
            e.g. ``"https://app.example/reset?token={token}"``. Never taken from a request.
        verify_url: the front end's page that posts the token to ``verify``.
        magic_url: the front end's page that posts the token to ``magic/login``.
        reset_ttl: seconds a reset link works (30 minutes).
        verify_ttl: seconds a verification link works (2 days).
        magic_ttl: seconds a sign-in link works (30 minutes).
        mail_per_address: mail requests one client address (an IPv6 /64) may make per
            ``mail_window`` (any purpose, any email).
        mail_per_account: mail requests per ``mail_window`` for one email address (counted on
            the address as typed, normalized, whether or not an account has it: a refusal
            says nothing about existence).
        mail_window: the mail limits' window, seconds (1 hour).
        templates: ``{"reset": MailTemplate(...), ...}``, replacing the default mail of a
            purpose.
    """

    mailer: Any
    reset_url: str | None = None
    verify_url: str | None = None
    magic_url: str | None = None
    reset_ttl: float = 30 * 60
    verify_ttl: float = 2 * 24 * 3600
    magic_ttl: float = 30 * 60
    mail_per_address: int = 20
    mail_per_account: int = 5
    mail_window: float = 3600
    templates: Mapping[str, MailTemplate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not any(callable(getattr(self.mailer, n, None)) for n in ("send", "asend")):
            raise ConfigurationError("Recovery.mailer must have send(mail) or asend(mail)")
        for name in ("reset_url", "verify_url", "magic_url"):
            _link(name, getattr(self, name))
        if not self.links:
            raise ConfigurationError(
                "Recovery needs at least one of reset_url, verify_url, magic_url"
            )
        for name in ("reset_ttl", "verify_ttl", "magic_ttl", "mail_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"Recovery.{name} must be a number of seconds")
            if not (0 < value < math.inf):
                raise ConfigurationError(f"Recovery.{name} must be positive and finite")
        for name in ("mail_per_address", "mail_per_account"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"Recovery.{name} must be an int >= 1")
        unknown = set(self.templates) - set(PURPOSES)
        if unknown:
            raise ConfigurationError(f"Recovery.templates: unknown purposes {sorted(unknown)}")
        if not all(isinstance(t, MailTemplate) for t in self.templates.values()):
            raise ConfigurationError("Recovery.templates values must be MailTemplate objects")
        merged = {**default_templates(), **self.templates}
        object.__setattr__(self, "templates", MappingProxyType(merged))

    @property
    def links(self) -> dict[str, str]:
        """The link template of each purpose served."""
        given = {"reset": self.reset_url, "verify": self.verify_url, "magic": self.magic_url}
        return {p: url for p, url in given.items() if url is not None}

    def ttl(self, purpose: str) -> float:
        """How long a token of ``purpose`` lives, seconds."""
        ttl: float = getattr(self, f"{purpose}_ttl")
        return float(ttl)

    def mail(self, purpose: str, to: str, token: str, name: str) -> Mail:
        """The mail of ``purpose`` to ``to`` carrying ``token`` in its link."""
        link = self.links[purpose].replace("{token}", token)
        minutes = str(max(1, round(self.ttl(purpose) / 60)))
        values = {"link": link, "email": to, "name": name, "minutes": minutes}
        return self.templates[purpose].render(to, values)
