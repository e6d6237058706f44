"""The ``admin`` table's model in the Django tests (the ``user`` table is ``auth.User``)."""

from __future__ import annotations

from django.db import models


class Staff(models.Model):  # type: ignore[misc]
    """A staff account: a unique email, a name, a password, a creation time."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=100, blank=True)
    password = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField(null=True)

    class Meta:
        app_label = "djangoapp"
