"""Helpers shared by the test suite: service checks and a live ASGI server.

``tests/`` is on ``sys.path`` while pytest runs (the root ``conftest.py`` has no package), so
tests import these as ``from support.live_server import LiveServer``.
"""
