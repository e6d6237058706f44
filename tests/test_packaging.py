"""Packaging: the wheel and the sdist build with the standard tool, pass `twine check --strict`,
and carry what they must (the package data and every subpackage; the sdist the test suite)."""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a fresh clone lacks (.gitignore), left out of the copy the artefacts are built from.
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    ".*_cache",
    ".hypothesis",
    "*.db",
    "*.db-*",
    ".jwe_gate",
    "build",
    "dist",
)


@dataclass(frozen=True)
class Artefacts:
    """The wheel and the sdist built from one copy of the source tree."""

    wheel: Path
    sdist: Path
    wheel_names: frozenset[str]
    sdist_names: frozenset[str]  # without the leading "jwe_gate-<version>/"


def _run(argv: list[str], *, cwd: Path, timeout: float = 180) -> str:
    """Run argv, failing the test with its output when it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> Artefacts:
    """`python -m build --sdist --wheel` on a copy of the tree (a build writes into its source)."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_IN_A_CLONE)
    out = base / "dist"
    _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out)], cwd=source)
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        wheel_names = frozenset(archive.namelist())
    with tarfile.open(sdist) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    top = sdist.name.removesuffix(".tar.gz") + "/"
    assert all(name.startswith(top) for name in members)
    sdist_names = frozenset(name.removeprefix(top) for name in members)
    return Artefacts(wheel, sdist, wheel_names, sdist_names)


def _source_packages() -> list[str]:
    """Every package directory under jwe_gate/ in the source tree, as a path."""
    return sorted(
        init.parent.relative_to(ROOT).as_posix()
        for init in (ROOT / "jwe_gate").rglob("__init__.py")
        if "__pycache__" not in init.parts
    )


def _source_package_files() -> set[str]:
    """Every file the package directory holds in the source tree (modules and data)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "jwe_gate").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


@pytest.mark.parametrize(
    "kind", [pytest.param("wheel", id="wheel"), pytest.param("sdist", id="sdist")]
)
def test_twine_check_strict_passes(artefacts: Artefacts, kind: str) -> None:
    """`twine check --strict` passes the artefact (metadata, a long description that renders)."""
    path = artefacts.wheel if kind == "wheel" else artefacts.sdist
    output = _run([sys.executable, "-m", "twine", "check", "--strict", str(path)], cwd=path.parent)
    assert "PASSED" in output


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("jwe_gate/demo.html", id="demo-page"),
        pytest.param("jwe_gate/py.typed", id="py-typed"),
        pytest.param("jwe_gate/__init__.py", id="package"),
        pytest.param("jwe_gate/_sansio/__init__.py", id="sansio"),
        pytest.param("jwe_gate/_endpoints/__init__.py", id="endpoints"),
        pytest.param("jwe_gate/_tokens/__init__.py", id="tokens"),
        pytest.param("jwe_gate/_storage/__init__.py", id="storage"),
        pytest.param("jwe_gate/_storage/sqlite/__init__.py", id="storage-sqlite"),
        pytest.param("jwe_gate/_storage/sqlalchemy/__init__.py", id="storage-sqlalchemy"),
        pytest.param("jwe_gate/_storage/redis/__init__.py", id="storage-redis"),
        pytest.param("jwe_gate/testing/__init__.py", id="testing"),
        pytest.param("jwe_gate/integrations/flask.py", id="integrations-flask"),
        pytest.param(
            "jwe_gate/integrations/django/migrations/0001_initial.py", id="django-migrations"
        ),
        pytest.param("jwe_gate/testing/stores.py", id="testing-stores"),
    ],
)
def test_wheel_holds(artefacts: Artefacts, name: str) -> None:
    """The wheel holds the package data and each named subpackage."""
    assert name in artefacts.wheel_names


def test_wheel_holds_every_package_file(artefacts: Artefacts) -> None:
    """Every package, module and data file under jwe_gate/ in the source is in the wheel."""
    in_wheel = sorted(
        name.removesuffix("/__init__.py")
        for name in artefacts.wheel_names
        if name.endswith("/__init__.py")
    )
    assert in_wheel == _source_packages()
    assert _source_package_files() - artefacts.wheel_names == set()


def test_wheel_holds_the_package_only(artefacts: Artefacts) -> None:
    """The wheel holds jwe_gate/ and its dist-info, no tests, examples or build leftovers."""
    stray = {
        name
        for name in artefacts.wheel_names
        if not name.startswith(("jwe_gate/", "jwe_gate-0.1.0.dist-info/"))
    }
    assert stray == set()
    assert not any("__pycache__" in name for name in artefacts.wheel_names)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        pytest.param("Name", "jwe_gate", id="name"),
        pytest.param("License-Expression", "MIT", id="license"),
        pytest.param("Requires-Python", ">=3.11", id="requires-python"),
        pytest.param("Description-Content-Type", "text/markdown", id="readme-type"),
    ],
)
def test_wheel_metadata(artefacts: Artefacts, header: str, value: str) -> None:
    """The wheel's METADATA carries the header PyPI shows."""
    with zipfile.ZipFile(artefacts.wheel) as archive:
        metadata = HeaderParser().parsestr(
            archive.read("jwe_gate-0.1.0.dist-info/METADATA").decode()
        )
    assert metadata[header] == value


def test_wheel_declares_the_command(artefacts: Artefacts) -> None:
    """The wheel declares the `jwe-gate` console script."""
    with zipfile.ZipFile(artefacts.wheel) as archive:
        entry_points = archive.read("jwe_gate-0.1.0.dist-info/entry_points.txt").decode()
    assert "jwe-gate = jwe_gate._cli:main" in entry_points


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("PKG-INFO", id="pkg-info"),
        pytest.param("pyproject.toml", id="pyproject"),
        pytest.param("MANIFEST.in", id="manifest"),
        pytest.param("README.md", id="readme"),
        pytest.param("CHANGELOG.md", id="changelog"),
        pytest.param("jwe_gate/demo.html", id="demo-page"),
        pytest.param("jwe_gate/py.typed", id="py-typed"),
        pytest.param("tests/conftest.py", id="tests"),
        pytest.param("tests/test_packaging.py", id="this-test"),
        pytest.param("tests/support/__init__.py", id="test-support"),
        pytest.param("tests/node/package.json", id="node-manifest"),
        pytest.param("tests/node/package-lock.json", id="node-lock"),
        pytest.param("examples/starlette_app.py", id="examples"),
        pytest.param("benchmarks/bench_overhead.py", id="benchmarks"),
        pytest.param("scripts/test", id="test-command"),
        pytest.param("mkdocs.yml", id="docs-config"),
        pytest.param("docs/index.md", id="docs-pages"),
    ],
)
def test_sdist_holds(artefacts: Artefacts, name: str) -> None:
    """The sdist holds the package, its metadata, the changelog and the test suite."""
    assert name in artefacts.sdist_names


def test_sdist_package_files_are_the_wheels(artefacts: Artefacts) -> None:
    """The sdist's jwe_gate/ is file for file the wheel's (a wheel built from it is the same)."""
    in_sdist = {name for name in artefacts.sdist_names if name.startswith("jwe_gate/")}
    in_wheel = {name for name in artefacts.wheel_names if name.startswith("jwe_gate/")}
    assert in_sdist == in_wheel


def test_sdist_leaves_out_installed_and_generated_files(artefacts: Artefacts) -> None:
    """No node_modules, bytecode, databases or virtual environment in the sdist."""
    stray = {
        name
        for name in artefacts.sdist_names
        if "node_modules/" in name
        or "__pycache__/" in name
        or name.endswith((".pyc", ".db"))
        or name.startswith((".venv/", ".git/"))
    }
    assert stray == set()


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the wheel installed alone, and its site-packages."""

    python: Path
    purelib: Path


@pytest.fixture(scope="module")
def installed(artefacts: Artefacts, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """`python -m venv`, then `pip install --no-deps` of the wheel into it."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    _run([*pip, "--no-index", "--quiet", str(artefacts.wheel)], cwd=base)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    purelib = Path(_run([str(python), "-c", where], cwd=base).strip())
    # The dependencies (jwcrypto, argon2-cffi, asgiref) come from this interpreter's
    # site-packages, appended after the venv's own: `jwe_gate` can only be the installed wheel.
    (purelib / "_parent_site.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return Installed(python, purelib)


def test_installed_wheel_reads_its_demo_page(installed: Installed, tmp_path: Path) -> None:
    """The installed wheel imports from the venv and reads demo.html as a package resource."""
    script = (
        "import sys, jwe_gate; from importlib.resources import files; "
        "sys.stdout.buffer.write(files('jwe_gate').joinpath('demo.html').read_bytes()); "
        "sys.stderr.write(jwe_gate.__file__)"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [str(installed.python), "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == (ROOT / "jwe_gate" / "demo.html").read_bytes()
    assert Path(done.stderr.decode()).is_relative_to(installed.purelib)


def test_installed_wheel_runs_the_command(installed: Installed, tmp_path: Path) -> None:
    """The installed `jwe-gate` script starts (its help names the subcommands)."""
    output = _run([str(installed.python.parent / "jwe-gate"), "--help"], cwd=tmp_path)
    assert "demo" in output
    assert "revoke" in output
