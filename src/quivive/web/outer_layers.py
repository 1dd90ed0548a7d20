"""Raw ASGI layers put outside every middleware, FastAPI's own included.

``add_middleware`` would leave a layer inside FastAPI's error, telemetry and body-limit layers,
which cost as much as the work of a fast path (the gate's ``/api/verify``, the token endpoint's
client credentials grant). An exception raised in an outer layer still reaches uvicorn, which
logs it and answers 500.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.types import ASGIApp

Layer = Callable[[ASGIApp], ASGIApp]


def add_outer_layer(app: Starlette, layer: Layer) -> None:
    """Wrap ``layer`` around the stack ``app`` builds: each call goes outside the earlier ones."""
    build_stack = app.build_middleware_stack

    def build() -> ASGIApp:
        return layer(build_stack())

    app.build_middleware_stack = build  # type: ignore[method-assign]
