"""Quivive itself as an app under test, for ``ServerProcess("bench.apps:quivive_app")``.

Settings come from the ``QUIVIVE_*`` variables the benchmark passes to the server process (at least
``QUIVIVE_DATA_DIR``), exactly as ``quivive serve`` reads them.
"""

from fastapi import FastAPI

from quivive.composition import build_services
from quivive.config import load_settings
from quivive.storage.database import check_reachable, upgrade
from quivive.web.app import create_app


def quivive_app() -> FastAPI:
    """The real app, built as ``quivive serve`` builds it: services, migrations, then create_app."""
    services = build_services(load_settings())
    check_reachable(services.engine)
    upgrade(services.engine)
    return create_app(services)
