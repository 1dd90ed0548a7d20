"""Root of the test suite.

Shared helpers live in ``tests/support`` (a plain package, importable as ``support`` because this
directory is on ``sys.path`` while pytest runs):

- ``support.services.in_ci()`` and ``require_service(name, reachable, why)``: a missing service
  skips the test on a developer's machine and fails it in CI.
- ``support.live_server.LiveServer(app)``: serves an ASGI app on ``http://localhost:PORT`` from a
  background thread.

Fixtures specific to one area belong in that area's own ``conftest.py``.
"""

import pytest

from support.services import in_ci

pytest_plugins = ["support.fixtures"]


def pytest_report_header(config: pytest.Config) -> str:
    mode = "CI: a missing service fails" if in_ci() else "local: a missing service skips"
    return f"quivive test mode: {mode}"
