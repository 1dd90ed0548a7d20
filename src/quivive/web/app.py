"""``create_app``: the web edge, wired from the services built by the composition root."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources

from anyio import to_thread
from fastapi import Depends, FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from quivive.composition import Services
from quivive.errors import PermissionDenied
from quivive.services.sweeps import PeriodicSweeps
from quivive.web import admin_messages, messages
from quivive.web.cookies import CookiePolicy
from quivive.web.csrf import CsrfProtection, CsrfRejected
from quivive.web.forms import BadForm
from quivive.web.input_guard import REASON, reject_nul_bytes
from quivive.web.metrics import RequestMetricsMiddleware
from quivive.web.outer_layers import add_outer_layer
from quivive.web.pages import Pages
from quivive.web.request_context import REQUEST_ID_HEADER, RequestContextMiddleware
from quivive.web.routes import (
    account,
    account_security,
    admin_api,
    admin_apps,
    admin_console,
    admin_emergency,
    admin_policy_settings,
    admin_report,
    admin_rules,
    auth,
    discovery_fast_path,
    emergency,
    enrolment,
    gate,
    metrics,
    mfa,
    oidc,
    passkeys,
    setup,
    system,
    token_fast_path,
)
from quivive.web.security_headers import SecurityHeadersMiddleware, security_headers
from quivive.web.state import WebState, web_state

log = logging.getLogger(__name__)


def create_app(services: Services) -> FastAPI:
    settings = services.settings

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # /api/verify reads the gate rules from memory: load them now, not on its first call.
        await to_thread.run_sync(services.gate_rules.warm)
        # Requests' blocking work (to_thread) shares this many threads instead of anyio's 40:
        # more only contend for SQLite's writer and the GIL (config.specs, worker_threads).
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        # Deliveries queued before a restart (or by another node) go out without waiting for
        # this process's first enqueue.
        services.outbox.start()
        # Emergency sessions end, and their expiry is audited, without waiting for a request.
        sweeps = PeriodicSweeps({"emergency expiry": services.emergency.close_expired})
        sweeps.start()
        yield
        sweeps.close()
        services.close()

    app = FastAPI(
        title="Quivive",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # PostgreSQL text cannot hold a NUL: refused as a 400 before any route reads it.
        dependencies=[Depends(reject_nul_bytes)],
        # Quivive ships no OpenTelemetry SDK; left on, FastAPI looks up the global tracer, meter
        # and logger providers on every request, which costs more than a forward-auth check.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    cookies = CookiePolicy(https=settings.https, domain=settings.session.cookie_domain)
    app.state.quivive = WebState(
        services=services,
        pages=Pages(settings.establishment_name),
        cookies=cookies,
        csrf=CsrfProtection(services.form_key, cookies, _origin(settings.public_url)),
    )
    # The sign-in posts before every included router: FastAPI scans an included router twice, at
    # some microseconds a route (web.plain_routes), and every sign-in makes these posts.
    auth.plain.install(app)
    mfa.plain.install(app)
    # Then the gate: /api/verify runs before every request to the protected applications, and
    # each route tried before it costs time.
    for module in (gate, oidc, system, metrics, auth, setup, account, passkeys, mfa, emergency):
        app.include_router(module.router)
    app.include_router(account_security.router)
    app.include_router(admin_console.router)
    app.include_router(admin_apps.router)
    app.include_router(admin_rules.router)
    app.include_router(admin_emergency.router)
    app.include_router(admin_report.router)
    app.include_router(admin_policy_settings.router)
    app.include_router(enrolment.router)
    admin = admin_api.create_admin_api(app.state.quivive)
    admin.include_router(admin_emergency.api_router)
    admin.include_router(admin_policy_settings.api_router)
    admin.include_router(enrolment.api_router)
    app.mount(admin_api.PREFIX, admin)
    static = str(resources.files("quivive.web") / "static")
    app.mount("/static", StaticFiles(directory=static), name="static")
    _install_error_pages(app)
    app.add_middleware(SecurityHeadersMiddleware, https=settings.https)
    app.add_middleware(
        RequestContextMiddleware,
        default_language=settings.language,
        trusted_proxies=settings.trusted_proxies,
    )
    # Outermost but for the request timer: most /api/verify calls are answered from the session
    # cache, most client credentials token requests and the discovery documents from memory,
    # before the stack.
    discovery_fast_path.install_fast_path(app, services)
    gate.install_fast_path(app, services)
    token_fast_path.install_fast_path(app, services)
    # Outside even the fast paths, so that their latency is measured too.
    add_outer_layer(app, lambda inner: RequestMetricsMiddleware(inner, services.metrics))
    return app


def _origin(public_url: str) -> str:
    scheme, _, rest = public_url.partition("://")
    return f"{scheme}://{rest.split('/')[0]}"


def _allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route accepts at this path, asked of the routes themselves (included
    routers hide their routes' method sets)."""
    methods = [
        method
        for method in _CANDIDATE_METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    if "GET" in methods and "HEAD" not in methods:
        methods.append("HEAD")
    return sorted(methods)


_CANDIDATE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _install_error_pages(app: FastAPI) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        response = await _error_page(request, status if status in messages.PAGE_TITLES else 400)
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)
        if status == 405:
            # RFC 9110 15.5.6: a 405 lists every method the resource supports. Starlette names
            # only those of the first route matching the path (GET /login, not POST /login).
            response.headers["allow"] = ", ".join(_allowed_methods(app.routes, request.scope))
        return response

    async def bad_form(request: Request, exc: Exception) -> Response:
        reason = exc.details.get("reason") if isinstance(exc, BadForm) else None
        texts = {"too_long": messages.FIELD_TOO_LONG, REASON: messages.INPUT_NUL}
        text = texts.get(str(reason), messages.FORM_INVALID)
        return await _error_page(request, 400, text)

    async def csrf_rejected(request: Request, _exc: Exception) -> Response:
        return await _error_page(request, 403, messages.CSRF_FAILED)

    async def forbidden(request: Request, _exc: Exception) -> Response:
        return await _error_page(request, 403, admin_messages.FORBIDDEN)  # audited by the guard

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        response = await _error_page(request, 500)
        # Starlette answers this one from ServerErrorMiddleware, outside every middleware we add,
        # so the security headers and the request id must be set here.
        https = web_state(request).services.settings.https
        response.headers.update({n.decode(): v.decode() for n, v in security_headers(https=https)})
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(BadForm, bad_form)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(PermissionDenied, forbidden)
    app.add_exception_handler(Exception, unexpected)


async def _error_page(request: Request, status: int, message: str | None = None) -> Response:
    web = web_state(request)
    if status != 500:  # a 500 may come from the database itself: read nothing more
        await web.mark_emergency_banner(request)
    if not hasattr(request.state, "language"):
        request.state.language = web.services.settings.language
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[status]),
        "message": web.translate(request, message or messages.PAGE_MESSAGES[status]),
    }
    return web.pages.render(request, "error.html", context, status_code=status)
