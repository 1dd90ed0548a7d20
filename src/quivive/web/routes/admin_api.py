"""The admin REST API under ``/api/admin/v1``: a FastAPI sub-application with its own OpenAPI.

Mounted apart from the pages so that its errors are JSON, ``{"error": code, "message": ...}``,
including FastAPI's request validation (422) which is rewritten into that shape, and so that its
schema lives at ``/api/admin/v1/openapi.json``; its interactive docs page (Swagger UI served
from our own origin under the strict CSP) is in ``admin_api_docs``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from quivive.domain.audit_chain import format_time
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import UserStatus
from quivive.errors import (
    AuthenticationFailed,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    QuiviveError,
    SessionInvalid,
    ValidationError,
)
from quivive.services.accounts import NewAccount
from quivive.services.admin import MAX_USER_ID, AdminActor, UserChanges
from quivive.storage.admin_queries import AuditQuery, FactorFilter, UserQuery
from quivive.web.admin_access import api_actor
from quivive.web.admin_schemas import (
    AuditList,
    AuditRecordOut,
    Cleared,
    CsrfToken,
    ErrorBody,
    FactorOut,
    FactorReset,
    MfaRuleIn,
    MfaRuleOut,
    SessionOut,
    ThrottleClear,
    ThrottleOut,
    UserCreate,
    UserList,
    UserOut,
    UserPatch,
)
from quivive.web.csrf import CsrfRejected
from quivive.web.input_guard import reject_nul_bytes
from quivive.web.routes import admin_api_apps, admin_api_docs
from quivive.web.routes.account_security import session_id
from quivive.web.state import WebState, web_state

PREFIX = "/api/admin/v1"
Cursor = Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$", description="From next_cursor")]
Limit = Annotated[int, Query(ge=1, le=200)]
UserId = Annotated[int, Path(ge=1, le=MAX_USER_ID)]
Actor = Annotated[AdminActor, Depends(api_actor)]
SOURCE_HELP = 'A source address, or its beginning ending with "." or ":" ("10.1.")'
SEARCH_HELP = "Part of a username, name, e-mail or professional identifier (RPPS)"

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Invalid input"),
        (401, "No valid session or bearer token"),
        (403, "Not allowed (audited), or CSRF header missing"),
        (404, "No such object"),
        (409, "Conflict"),
        (422, "Malformed request"),
    )
}
_STATUS: tuple[tuple[type[QuiviveError], int], ...] = (
    (PermissionDenied, 403),
    (CsrfRejected, 403),
    (SessionInvalid, 401),
    (AuthenticationFailed, 401),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationError, 400),
)

log = logging.getLogger(__name__)
router = APIRouter(responses=_ERRORS)


def _web(request: Request) -> WebState:
    return web_state(request)


Web = Annotated[WebState, Depends(_web)]


@router.get("/users", response_model=UserList, tags=["users"])
def list_users(
    web: Web,
    actor: Actor,
    cursor: Cursor = None,
    limit: Limit = 50,
    q: Annotated[str, Query(max_length=256, description=SEARCH_HELP)] = "",
    role: Annotated[str | None, Query(max_length=64)] = None,
    status: UserStatus | None = None,
    factor: FactorFilter | None = None,
) -> UserList:
    # A cursor past the largest id a user can have (users.id is a 32-bit INTEGER) means "after
    # every user": an empty page, not a database error on PostgreSQL.
    after = min(int(cursor or 0), MAX_USER_ID)
    query = UserQuery(q, role, status, factor, after, limit)
    page = web.services.admin.users(actor, query)
    following = None if page.next_cursor is None else str(page.next_cursor)
    return UserList(items=[UserOut.of(user) for user in page.users], next_cursor=following)


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def create_user(web: Web, actor: Actor, body: UserCreate) -> UserOut:
    account = NewAccount(
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        email=body.email,
        roles=body.roles,
        professional_id=body.professional_id,
    )
    return UserOut.of(web.services.admin.create_user(actor, account))


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
def get_user(web: Web, actor: Actor, user_id: UserId) -> UserOut:
    return UserOut.of(web.services.admin.user(actor, user_id))


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"])
def patch_user(web: Web, actor: Actor, user_id: UserId, body: UserPatch) -> UserOut:
    changes = UserChanges(body.display_name, body.email, body.professional_id, body.roles)
    return UserOut.of(web.services.admin.update_user(actor, user_id, changes))


@router.post("/users/{user_id}/disable", response_model=UserOut, tags=["users"])
def disable_user(web: Web, actor: Actor, user_id: UserId) -> UserOut:
    """Disable the account and end all its sessions."""
    return UserOut.of(web.services.admin.set_enabled(actor, user_id, enabled=False))


@router.post("/users/{user_id}/enable", response_model=UserOut, tags=["users"])
def enable_user(web: Web, actor: Actor, user_id: UserId) -> UserOut:
    return UserOut.of(web.services.admin.set_enabled(actor, user_id, enabled=True))


@router.get("/users/{user_id}/factors", response_model=list[FactorOut], tags=["factors"])
def list_factors(web: Web, actor: Actor, user_id: UserId) -> list[FactorOut]:
    """The user's enrolled sign-in methods (never their secrets)."""
    return [FactorOut.of(c) for c in web.services.admin.factors_of(actor, user_id)]


@router.post("/users/{user_id}/factors/reset", response_model=Cleared, tags=["factors"])
def reset_factors(web: Web, actor: Actor, user_id: UserId, body: FactorReset) -> Cleared:
    """Remove every second factor (the user enrols again at next sign-in); sessions end."""
    return Cleared(cleared=web.services.admin.reset_factors(actor, user_id, body.reason))


@router.get("/users/{user_id}/sessions", response_model=list[SessionOut], tags=["sessions"])
def list_sessions(web: Web, actor: Actor, user_id: UserId) -> list[SessionOut]:
    return [SessionOut.of(s) for s in web.services.admin.sessions_of(actor, user_id)]


@router.delete("/users/{user_id}/sessions/{session}", status_code=204, tags=["sessions"])
def revoke_session(
    web: Web,
    actor: Actor,
    user_id: UserId,
    session: Annotated[str, Path(pattern="^[0-9a-f]{1,64}$", description="From the list")],
) -> Response:
    admin = web.services.admin
    for found in admin.sessions_of(actor, user_id):
        if session_id(found) == session and admin.revoke_session(actor, user_id, found.token_hash):
            return Response(status_code=204)
    raise NotFoundError("no such session")


@router.get("/throttles", response_model=list[ThrottleOut], tags=["throttles"])
def list_throttles(web: Web, actor: Actor) -> list[ThrottleOut]:
    return [ThrottleOut.of(entry) for entry in web.services.admin.throttles(actor)]


@router.post("/throttles/clear", response_model=Cleared, tags=["throttles"])
def clear_throttle(web: Web, actor: Actor, body: ThrottleClear) -> Cleared:
    return Cleared(cleared=web.services.admin.clear_throttle(actor, body.target))


@router.get("/policies/mfa", response_model=list[MfaRuleOut], tags=["policies"])
def list_mfa_rules(web: Web, actor: Actor) -> list[MfaRuleOut]:
    """The second-factor rule of each role, from the configuration file or set here."""
    return [MfaRuleOut.of(item.rule, item.source) for item in web.services.admin.mfa_rules(actor)]


@router.put("/policies/mfa/{role}", response_model=MfaRuleOut, tags=["policies"])
def put_mfa_rule(
    web: Web,
    actor: Actor,
    role: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\s/]+$")],
    body: MfaRuleIn,
) -> MfaRuleOut:
    """Require a second factor for ``role`` (replaces its rule; admins only)."""
    rule = MfaRule(role, body.enforce_from, body.grace_days, body.phishing_resistant)
    return MfaRuleOut.of(web.services.admin.set_mfa_rule(actor, rule), "database")


@router.get("/audit", response_model=AuditList, tags=["audit"])
def read_audit(
    web: Web,
    actor: Actor,
    cursor: Cursor = None,
    limit: Limit = 50,
    actor_name: Annotated[str | None, Query(alias="actor", max_length=256)] = None,
    subject: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64, description='"admin." for a prefix')] = None,
    outcome: Annotated[str | None, Query(pattern="^(success|failure)$")] = None,
    since: Annotated[datetime | None, Query(description="From this time (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="Before this time (ISO 8601)")] = None,
    source: Annotated[str | None, Query(max_length=64, description=SOURCE_HELP)] = None,
) -> AuditList:
    """Newest first."""
    before = None if cursor is None else int(cursor)
    query = AuditQuery(
        actor_name,
        subject,
        action,
        outcome,
        before,
        limit,
        since=_canonical(since),
        until=_canonical(until),
        source=source or None,
    )
    page = web.services.admin.audit_page(actor, query)
    following = None if page.next_cursor is None else str(page.next_cursor)
    return AuditList(items=[AuditRecordOut.of(r) for r in page.records], next_cursor=following)


def _canonical(moment: datetime | None) -> str | None:
    """The audit trail's own time format; a time without a zone is taken as UTC."""
    if moment is None:
        return None
    return format_time(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@router.get("/csrf-token", response_model=CsrfToken, tags=["session"])
def csrf_token(web: Web, request: Request, response: Response) -> CsrfToken:
    """For browser scripts using the session cookie: the X-CSRF-Token header's value."""
    cookies: dict[str, str] = {}
    token = web.csrf.token_for(request, cookies)
    web.csrf.apply(response, cookies)
    return CsrfToken(csrf_token=token)


def create_admin_api(state: WebState) -> FastAPI:
    api = FastAPI(
        title="Quivive admin API",
        version="1",
        description="Users, factors, sessions, throttles, applications (OIDC clients), "
        "forward-auth gate rules and the audit trail of Quivive.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_nul_bytes)],
    )
    api.state.quivive = state
    api.include_router(router)
    api.include_router(admin_api_apps.router, responses=_ERRORS)
    admin_api_docs.install(api, state, PREFIX)
    api.add_exception_handler(QuiviveError, _quivive_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(HTTPException, _http_error)
    # A mounted app answers its own crashes: without this, a JSON client would get text/plain.
    api.add_exception_handler(Exception, _unexpected)
    return api


def _error(status: int, code: str, message: str) -> JSONResponse:
    response = JSONResponse({"error": code, "message": message}, status_code=status)
    response.headers["cache-control"] = "no-store"
    if status == 401:
        response.headers["www-authenticate"] = 'Bearer realm="quivive-admin"'
    return response


async def _quivive_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, QuiviveError):
        raise exc
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    return _error(status, exc.code, exc.message if status < 500 else "internal error")


async def _validation_error(_request: Request, exc: Exception) -> Response:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    where = [".".join(str(part) for part in error.get("loc", ())) for error in errors[:5]]
    return _error(422, "invalid_request", "invalid: " + ", ".join(where or ["request"]))


async def _http_error(_request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):
        raise exc
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
    code = codes.get(exc.status_code, "invalid_request")
    response = _error(exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, "internal_error", "internal error")
