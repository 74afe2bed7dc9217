"""What the Spark tests need that `make test` installs: a missing one is an error that says what
to run, never a skip (a skipped test would let a run without Spark look green)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

VENV_HINT = (
    "run `make venv` (or `make test`), which installs requirements-dev.txt and "
    "spark/requirements*.txt into .venv/, and run pytest with .venv/bin/python"
)


def module(name: str) -> ModuleType:
    """Imports `name`, or fails the test (or the collection of the test module) with VENV_HINT."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        error = e
    pytest.fail(f"Python package {name!r} is missing ({error}): {VENV_HINT}", pytrace=False)
