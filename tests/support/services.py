"""Decide what a test does when a service it needs (PostgreSQL, Redis, Chromium...) is missing.

On a developer's machine a missing service skips the test with the reason; in CI the same
absence is a failure, so a broken CI machine can never turn the suite green by skipping.
"""

import os

import pytest

_TRUE_VALUES = frozenset({"true", "1"})


def in_ci() -> bool:
    """True when the suite runs in CI (env ``CI`` is ``true`` or ``1``)."""
    return os.environ.get("CI", "").strip().lower() in _TRUE_VALUES


def require_service(name: str, reachable: bool, why: str) -> None:
    """Fail (in CI) or skip (elsewhere) the current test when ``name`` is not reachable.

    ``why`` says what was tried, e.g. ``"pg_isready -h 127.0.0.1 failed"``.
    """
    if reachable:
        return
    reason = f"{name} unavailable: {why}"
    if in_ci():
        pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
    pytest.skip(reason)
