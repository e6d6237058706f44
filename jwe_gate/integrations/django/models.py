"""What the ORM backend keeps beside the project's models: per record, the fields its model
has no column for (the password-change stamp, fields a signup allows), and the login, under a
unique constraint, for a model whose login column is not unique (``auth.User``'s email)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

__all__ = ["RecordData"]


class RecordData(models.Model):  # type: ignore[misc]
    """The gate's fields of one record of one table."""

    table = models.CharField(max_length=63)
    key = models.CharField(max_length=255)
    """The record's primary key, as a string."""
    login = models.CharField(max_length=320, null=True, blank=True)
    """The normalized login, when the model's own column is not unique."""
    data = models.JSONField(default=dict)

    class Meta:
        app_label = "jwe_gate"
        constraints: ClassVar[list[Any]] = [
            models.UniqueConstraint(fields=["table", "key"], name="jwe_gate_record_key"),
            # Of two concurrent signups with one email, the database lets exactly one in.
            models.UniqueConstraint(fields=["table", "login"], name="jwe_gate_record_login"),
        ]

    def __str__(self) -> str:
        return f"{self.table}:{self.key}"
