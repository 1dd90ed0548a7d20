"""The Starlette app: sign-in through Quivive, the claims page, the AAL2-protected records."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dossier_patient import pages
from dossier_patient.oidc import (
    ACR_AAL2,
    ACR_AAL3,
    ACR_EMERGENCY,
    Flow,
    RelyingParty,
    SignInFailed,
    new_flow,
)

# Both apps run on localhost, where cookies ignore the port: names of our own, not Quivive's.
SESSION_COOKIE = "dossier_session"
FLOW_COOKIE = "dossier_flow"
# The records accept AAL2 or better, or an emergency access (marked on every page).
RECORDS_ACR = (ACR_AAL2, ACR_EMERGENCY)
RECORDS_ACCEPTED = frozenset({ACR_AAL2, ACR_AAL3, ACR_EMERGENCY})
# Kept in memory, oldest evicted first: a flood of sign-ins cannot exhaust it.
MAX_FLOWS = 10_000  # pending sign-ins
MAX_SESSIONS = 10_000  # signed-in browsers


@dataclass(frozen=True, slots=True)
class AppConfig:
    issuer: str  # Quivive's public URL
    client_id: str
    client_secret: str
    app_url: str  # this app's public URL, e.g. http://localhost:8081


@dataclass(slots=True)
class SignedIn:
    claims: dict[str, Any]
    id_token: str
    step_up_tried: bool


@dataclass(slots=True)
class Memory:
    """Server-side state: a sample app needs no database (and loses its sessions on restart)."""

    flows: dict[str, Flow] = field(default_factory=dict)
    sessions: dict[str, SignedIn] = field(default_factory=dict)


def create_app(config: AppConfig) -> Starlette:
    app_url = config.app_url.rstrip("/")
    rp = RelyingParty(config.issuer, config.client_id, config.client_secret, app_url + "/callback")
    memory = Memory()

    def current(request: Request) -> SignedIn | None:
        return memory.sessions.get(request.cookies.get(SESSION_COOKIE, ""))

    def lang(request: Request) -> str:
        return pages.language(request.headers.get("accept-language"))

    async def home(request: Request) -> Response:
        signed_in = current(request)
        return HTMLResponse(pages.home(lang(request), signed_in.claims if signed_in else None))

    async def login(request: Request) -> Response:
        step_up = request.query_params.get("step_up") == "1"
        flow = new_flow(_local(request.query_params.get("next")), step_up=step_up)
        _keep(memory.flows, flow.state, flow, MAX_FLOWS)
        target = await rp.authorization_url(flow, RECORDS_ACR if step_up else ())
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(FLOW_COOKIE, flow.state, httponly=True, samesite="lax")
        return response

    async def callback(request: Request) -> Response:
        state = request.query_params.get("state", "")
        flow = memory.flows.pop(state, None)
        # The state must be the one this browser started with: no login CSRF (OIDC Core §3.1.2.1).
        if flow is None or not secrets.compare_digest(state, request.cookies.get(FLOW_COOKIE, "")):
            return HTMLResponse(pages.failed(lang(request)), status_code=400)
        code = request.query_params.get("code")
        if not code:
            return HTMLResponse(pages.failed(lang(request)), status_code=400)
        try:
            claims, id_token = await rp.finish(flow, code)
        except SignInFailed:
            return HTMLResponse(pages.failed(lang(request)), status_code=400)
        session_id = secrets.token_urlsafe(32)
        memory.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        _keep(memory.sessions, session_id, SignedIn(claims, id_token, flow.step_up), MAX_SESSIONS)
        response = RedirectResponse(flow.return_to, status_code=303)
        response.set_cookie(SESSION_COOKIE, session_id, httponly=True, samesite="lax")
        response.delete_cookie(FLOW_COOKIE)
        return response

    async def records(request: Request) -> Response:
        signed_in = current(request)
        if signed_in is None:
            return RedirectResponse("/login?next=/records", status_code=303)
        if signed_in.claims.get("acr") in RECORDS_ACCEPTED:
            return HTMLResponse(pages.records(lang(request), signed_in.claims))
        if not signed_in.step_up_tried:
            return RedirectResponse("/login?step_up=1&next=/records", status_code=303)
        page = pages.insufficient(lang(request), signed_in.claims)
        return HTMLResponse(page, status_code=403)

    async def logout(request: Request) -> Response:
        signed_in = memory.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        target = "/"
        if signed_in is not None:
            target = await rp.logout_url(signed_in.id_token, app_url + "/") or "/"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    routes = [
        Route("/", home),
        Route("/login", login),
        Route("/callback", callback),
        Route("/records", records),
        Route("/logout", logout),
    ]
    return Starlette(routes=routes)


def _keep(store: dict[str, Any], key: str, value: Any, limit: int) -> None:
    if len(store) >= limit:
        store.pop(next(iter(store)))  # dicts keep insertion order: the oldest goes
    store[key] = value


def _local(raw: str | None) -> str:
    """Only a path of this app: never an open redirect."""
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/"
