"""Health probes and the language switch."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quivive.storage.database import ping
from quivive.web.i18n import LANGUAGE_COOKIE, SUPPORTED_LANGUAGES
from quivive.web.state import safe_next, see_other, web_state

router = APIRouter()

ONE_YEAR = 365 * 24 * 3600


# HEAD too: load balancers and uptime checkers often probe with it.
@router.api_route("/healthz", methods=["GET", "HEAD"], tags=["health"])
async def healthz() -> JSONResponse:
    """The process is up (liveness)."""
    return JSONResponse({"status": "ok"})


@router.api_route("/readyz", methods=["GET", "HEAD"], tags=["health"])
async def readyz(request: Request) -> JSONResponse:
    """The database answers (readiness)."""
    reachable = await to_thread.run_sync(ping, web_state(request).services.engine)
    if reachable:
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)


@router.get("/language/{code}", include_in_schema=False)
async def switch_language(request: Request, code: str) -> Response:
    web = web_state(request)
    response = see_other(safe_next(request.query_params.get("next"), default="/"))
    if code in SUPPORTED_LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=ONE_YEAR,
            path="/",
            secure=web.cookies.https,
            httponly=True,
            samesite="lax",
        )
    return response
