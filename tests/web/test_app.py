"""The app's start-up: what the lifespan sets before the first request."""

from __future__ import annotations

from pathlib import Path

from anyio import to_thread
from starlette.testclient import TestClient

from quivive.web.app import create_app
from support.quivive import running_services


def test_requests_share_the_configured_number_of_worker_threads(tmp_path: Path) -> None:
    with running_services(tmp_path, settings={"worker_threads": "3"}) as services:
        app = create_app(services)

        @app.get("/threads")
        async def threads() -> dict[str, float]:
            # The limiter is per event loop: read it from inside a request.
            return {"tokens": to_thread.current_default_thread_limiter().total_tokens}

        with TestClient(app) as client:
            assert client.get("/threads").json() == {"tokens": 3}
