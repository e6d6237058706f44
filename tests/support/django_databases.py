"""Django's ORM backend on the real servers: a test module run in a process of its own (Django's
settings are configured once per process), on a database created for the run and dropped after
it, whatever the run did."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from support import django_env
from support.databases import require_server

TESTS = Path(__file__).resolve().parents[1]


def run_module(engine: str, url: str, module: str) -> subprocess.CompletedProcess[str]:
    """Run the test module ``module`` (relative to tests/) with pytest in a subprocess whose
    Django uses a fresh database on ``url``'s server (``engine``: ``postgresql`` or
    ``mysql``); the database is dropped once the process has ended."""
    require_server(url)
    name = f"jwe_gate_django_{uuid.uuid4().hex[:12]}"  # hex only: safe in the DDL below
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    create = f"CREATE DATABASE {name}"
    if engine == "mysql":
        create += " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"  # Django's advice
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(create))
        try:
            return subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", module],
                cwd=TESTS.parent,
                env={**os.environ, django_env.ENV: f"{engine}/{name}"},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        finally:
            # After the process: its connections are gone, nothing holds the database.
            with admin.connect() as conn:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
    finally:
        admin.dispose()
