"""The lock files (requirements/*.txt, written by `make lock`) still match pyproject.toml.

A cheap offline check: every dependency pyproject.toml names is pinned in the lock that should hold
it, at a version its specifier allows, with hashes; test tools stay out of the runtime lock. It does
not re-resolve (that needs the network): after changing a dependency, run `make lock`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = canonicalize_name(PYPROJECT["project"]["name"])
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def locked(name: str) -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) from a pip-compile output."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        if current and "--hash=sha256:" in line:
            pins[current] = (pins[current][0], pins[current][1] + 1)
    return pins


def direct(*extras: str) -> list[Requirement]:
    """pyproject's requirements, with the project's references to its own extras left out."""
    names = list(PYPROJECT["project"]["dependencies"]) + [r for extra in extras for r in EXTRAS[extra]]
    return [req for req in map(Requirement, names) if canonicalize_name(req.name) != PROJECT]


def problems(requirements: list[Requirement], pins: dict[str, tuple[str, int]]) -> list[str]:
    found = []
    for req in requirements:
        name = canonicalize_name(req.name)
        if name not in pins:
            found.append(f"{req} is not in the lock")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            found.append(f"{req} does not allow the locked {pins[name][0]}")
    return found


@pytest.mark.parametrize(("lock", "extras"), [("runtime.txt", ()), ("test.txt", ("simulator", "cli", "test"))])
def test_every_dependency_is_locked_at_an_allowed_version(lock: str, extras: tuple[str, ...]) -> None:
    assert problems(direct(*extras), locked(lock)) == [], "pyproject.toml changed: run `make lock`"


def test_the_build_backend_is_locked() -> None:
    requires = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    assert problems(requires, locked("build.txt")) == [], "pyproject.toml changed: run `make lock`"


@pytest.mark.parametrize("lock", ["runtime.txt", "test.txt", "build.txt"])
def test_every_pin_has_a_hash(lock: str) -> None:
    pins = locked(lock)
    assert pins and [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_runtime_lock_holds_no_test_or_cli_tools() -> None:
    """The image installs requirements/runtime.txt: no pytest, linters, simulator-only or CLI extras."""
    runtime = locked("runtime.txt")
    extra_only = {canonicalize_name(r.name) for r in direct("cli", "test")} - {
        canonicalize_name(r.name) for r in direct()
    }
    assert sorted(extra_only & runtime.keys()) == []


def test_the_test_lock_agrees_with_the_runtime_lock() -> None:
    """One version of each package everywhere: what CI tests is what the image runs."""
    runtime, test = locked("runtime.txt"), locked("test.txt")
    assert {name: version for name, (version, _) in runtime.items() if test.get(name, (version,))[0] != version} == {}


def test_make_lock_uses_the_pinned_pip_tools() -> None:
    (pin,) = EXTRAS["lock"]
    assert pin.startswith("pip-tools==") and pin in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("lock", ["runtime.txt", "test.txt", "build.txt"])
def test_the_lock_never_points_at_a_local_path(lock: str) -> None:
    """`--require-hashes` cannot check a directory: the project itself is installed after the lock."""
    text = (ROOT / "requirements" / lock).read_text()
    assert "file://" not in text and PROJECT not in locked(lock)
