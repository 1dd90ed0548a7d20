"""``GET /metrics`` for Prometheus; access rules in ``quivive.web.metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from quivive.web.metrics import METRICS_PATH, metrics_response
from quivive.web.state import web_state

router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    services = web_state(request).services
    return metrics_response(request, services.metrics, services.settings.metrics)
