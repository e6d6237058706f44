"""The SMTP servers of ``support.smtp``, as fixtures for the mail tests."""

from support.smtp import smtp_certs, smtp_server, smtp_starttls_server, smtps_server

__all__ = ["smtp_certs", "smtp_server", "smtp_starttls_server", "smtps_server"]
