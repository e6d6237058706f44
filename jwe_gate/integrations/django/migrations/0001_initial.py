"""The gate's fields of each record (``RecordData``)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import migrations, models


class Migration(migrations.Migration):  # type: ignore[misc]
    initial = True

    dependencies: ClassVar[list[Any]] = []

    operations: ClassVar[list[Any]] = [
        migrations.CreateModel(
            name="RecordData",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("table", models.CharField(max_length=63)),
                ("key", models.CharField(max_length=255)),
                ("login", models.CharField(blank=True, max_length=320, null=True)),
                ("data", models.JSONField(default=dict)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("table", "key"), name="jwe_gate_record_key"),
                    models.UniqueConstraint(
                        fields=("table", "login"), name="jwe_gate_record_login"
                    ),
                ],
            },
        ),
    ]
