"""SPEC §Storage on Django's ORM and the real servers: ``DjangoBackend``'s tests
(tests/integrations/test_django_backend.py: the public backend contract, 20 racing signups of
one email through the endpoint and the table, Django's hashes upgraded at login, values too
long for their columns refused as input) pass on PostgreSQL and MariaDB, each run in a process
of its own on a database made for it and dropped after."""

from __future__ import annotations

import re

import pytest
from support.databases import MARIA, PG
from support.django_databases import run_module

MODULE = "tests/integrations/test_django_backend.py"


@pytest.mark.parametrize(
    ("engine", "url"),
    [pytest.param("postgresql", PG, id="postgres"), pytest.param("mysql", MARIA, id="mariadb")],
)
def test_django_backend_tests_pass_on_a_real_server(engine: str, url: str) -> None:
    """Every test of the Django backend module passes on the server; none is skipped."""
    run = run_module(engine, url, MODULE)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-6000:]
    summary = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary), summary
    assert not re.search(r"skipped|xfailed|deselected|error", summary), summary
