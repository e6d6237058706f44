"""The Django app (``"jwe_gate.integrations.django"`` in ``INSTALLED_APPS``): it holds the
model the ORM backend keeps the gate's own fields in."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["JWEGateConfig"]


class JWEGateConfig(AppConfig):  # type: ignore[misc]
    name = "jwe_gate.integrations.django"
    label = "jwe_gate"
    verbose_name = "jwe_gate"
    default_auto_field = "django.db.models.BigAutoField"
