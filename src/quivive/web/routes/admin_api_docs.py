"""The admin API's interactive docs: Swagger UI served from Quivive's own origin.

Swagger UI's files come from the ``fastapi-offline`` package (Swagger UI 5, which reads the
OpenAPI 3.1 that FastAPI writes; ``swagger-ui-bundle`` ships 4.15, which cannot) rather than a
CDN: the strict CSP allows scripts from 'self' only, and hospital networks often have no
internet. Only the two files the page needs are served. The page is initialised by
``/static/admin_api_docs.js`` (no inline script), which adds the ``X-CSRF-Token`` header to
changes made with the session cookie. Swagger UI 5 needs no 'unsafe-inline' style either (React
sets styles through the DOM, which style-src does not govern), so the global CSP is kept as is.

Who may see the page is unchanged: like the schema it describes, it is public (it holds no data;
every operation it calls checks the caller itself).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from quivive.web.admin_access import CSRF_HEADER
from quivive.web.state import SESSION_COOKIE, WebState, web_state

ASSETS = "/docs/assets"
_FILES = resources.files("fastapi_offline") / "static"
# Only what the page loads (the package also ships ReDoc and a favicon).
_MEDIA_TYPES = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css"}
# The files change only with the package's version; a day keeps reloads cheap yet fresh.
_CACHE = "public, max-age=86400"


def install(api: FastAPI, state: WebState, prefix: str) -> None:
    """Add the docs page, its assets and the security schemes to ``api`` (mounted at prefix)."""

    async def docs(request: Request) -> Response:
        return _page(request, prefix)

    api.add_api_route("/docs", docs, include_in_schema=False, response_class=HTMLResponse)
    api.add_api_route(ASSETS + "/{name}", _asset, include_in_schema=False)
    _declare_security(api, state.cookies.name(SESSION_COOKIE))


def _page(request: Request, prefix: str) -> Response:
    context = {
        "schema_url": prefix + "/openapi.json",
        "csrf_url": prefix + "/csrf-token",
        "csrf_header": CSRF_HEADER,
        "assets": prefix + ASSETS,
    }
    return web_state(request).pages.render(request, "admin_api_docs.html", context)


async def _asset(name: str) -> Response:
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    response = FileResponse(str(_FILES / name), media_type=media_type)
    response.headers["cache-control"] = _CACHE
    return response


def _declare_security(api: FastAPI, session_cookie: str) -> None:
    """Declare both ways in (api_actor checks them by hand, so FastAPI cannot infer them)."""
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = _schemes(session_cookie)
            schema["security"] = [{"bearer": []}, {"session": []}]
        return api.openapi_schema or build()

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way


def _schemes(session_cookie: str) -> dict[str, Any]:
    return {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from the client credentials grant with an admin "
            "scope (admin, admin:helpdesk or admin:audit).",
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": session_cookie,
            "description": "An administrator's console session; changes (POST, PUT, PATCH, "
            "DELETE) also need the X-CSRF-Token header from GET /csrf-token.",
        },
    }
