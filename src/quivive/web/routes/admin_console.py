"""The admin console under ``/admin``: dashboard, users, a user's page, the audit trail.

Server-rendered and usable without JavaScript. Every change is a POST carrying the CSRF token,
goes through ``AdminService`` (role check, audit with the administrator as actor) and comes back
to the page with a notice; destructive ones need the confirmation box ticked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from urllib.parse import urlencode

from anyio import to_thread
from fastapi import APIRouter
from starlette.concurrency import iterate_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from quivive.domain.admin_roles import Action, allowed
from quivive.domain.audit_chain import format_time, parse_time
from quivive.domain.mfa_policy import MfaRule
from quivive.domain.users import UserStatus
from quivive.errors import ConflictError, NotFoundError, PasswordRejected, ValidationError
from quivive.services.accounts import NewAccount
from quivive.services.admin import AdminActor, UserChanges
from quivive.services.audit import VerifyReport
from quivive.storage.admin_queries import AuditQuery, FactorFilter, UserQuery
from quivive.web import admin_messages, messages, policy_texts
from quivive.web.admin_access import console_actor, console_post, nav_context
from quivive.web.emergency_rows import review_row
from quivive.web.routes import admin_policy_settings
from quivive.web.routes.account_security import session_id
from quivive.web.state import WebState, see_other, web_state

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_SIZE = 50
USER_EMERGENCY_USES = 10  # on a user's page; the queue filtered by user lists them all
MAX_QUERY_LENGTH = 256
# A grace period is for enrolling a phone or a key: a year is already generous.
MAX_GRACE_DAYS = 365
_STATUSES = frozenset(item.value for item in UserStatus)
_FACTORS = frozenset(item.value for item in FactorFilter)


def _context(request: Request, actor: AdminActor, **values: object) -> dict[str, object]:
    web = web_state(request)
    notice = admin_messages.NOTICES.get(request.query_params.get("notice", ""))
    return {
        **nav_context(request, actor, notice),
        "status_labels": _labels(web, request, admin_messages.STATUS_LABELS),
        "factor_labels": _labels(web, request, admin_messages.FACTOR_FILTERS),
        **values,
    }


def _labels(web: WebState, request: Request, table: dict[str, str]) -> dict[str, str]:
    return {key: web.translate(request, text) for key, text in table.items()}


def _param(request: Request, name: str) -> str:
    return request.query_params.get(name, "")[:MAX_QUERY_LENGTH].strip()


@router.get("")
async def dashboard(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    board = await to_thread.run_sync(partial(web.services.admin.dashboard, actor))
    emergency = web.services.emergency
    overdue = []
    if allowed(actor.roles, Action.VIEW_EMERGENCY):
        overdue = await to_thread.run_sync(partial(emergency.overdue, actor))
    context = _context(
        request,
        actor,
        board=board,
        overdue_emergency=overdue,
        overdue_days=emergency.policy.review_overdue.days,
    )
    return web.render_form(request, "admin_dashboard.html", context)


@router.get("/users")
async def users(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    query = _user_query(request)
    page = await to_thread.run_sync(partial(web.services.admin.users, actor, query))
    filters = {"q": query.search, "role": query.role or "", "status": _value(query.status)}
    filters["factor"] = _value(query.factor)
    following = None
    if page.next_cursor is not None:
        kept = {key: value for key, value in filters.items() if value}
        following = "/admin/users?" + urlencode({**kept, "after": page.next_cursor})
    context = _context(request, actor, page=page, filters=filters, next_url=following)
    return web.render_form(request, "admin_users.html", context)


def _value(choice: UserStatus | FactorFilter | None) -> str:
    return "" if choice is None else choice.value


def _user_query(request: Request) -> UserQuery:
    status, factor, after = _param(request, "status"), _param(request, "factor"), 0
    if _param(request, "after").isdigit():
        after = min(int(_param(request, "after")), 2**31)
    return UserQuery(
        search=_param(request, "q"),
        role=_param(request, "role").casefold() or None,
        status=UserStatus(status) if status in _STATUSES else None,
        factor=FactorFilter(factor) if factor in _FACTORS else None,
        after=after,
        limit=PAGE_SIZE,
    )


@router.get("/users/new")
async def new_user(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    web.services.admin.authorize(actor, Action.MANAGE_USERS)
    return web.render_form(
        request, "admin_user_new.html", _context(request, actor, error=None, form={})
    )


@router.post("/users")
async def create_user(request: Request) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    account = NewAccount(
        username=form.get("username", ""),
        password=form.get("password") or None,
        display_name=form.get("display_name") or None,
        email=form.get("email") or None,
        roles=form.get("roles", "").replace(",", " ").split(),
        professional_id=form.get("professional_id") or None,
    )
    try:
        user = await to_thread.run_sync(partial(web.services.admin.create_user, actor, account))
    except (ValidationError, ConflictError) as exc:
        context = _context(request, actor, error=_refusal(web, request, exc), form=form)
        return web.render_form(request, "admin_user_new.html", context, status_code=400)
    return see_other(f"/admin/users/{user.id}?notice=created")


def _refusal(web: WebState, request: Request, exc: ValidationError | ConflictError) -> str:
    if isinstance(exc, PasswordRejected):
        texts = [messages.PASSWORD_REASONS.get(code, code) for code in exc.reasons]
        return " ".join(web.translate(request, text) for text in texts)
    if exc.code == "conflict":
        return web.translate(request, messages.USERNAME_TAKEN)
    return web.translate(request, messages.FORM_INVALID) + f" ({exc.details.get('field', '')})"


@router.get("/users/{user_id:int}")
async def user_page(request: Request, user_id: int) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    try:
        detail = await to_thread.run_sync(partial(web.services.admin.detail, actor, user_id))
    except NotFoundError:
        return _not_found(request)
    sessions = [(session_id(s), s) for s in detail.sessions]
    context = _context(request, actor, detail=detail, user=detail.user, sessions=sessions)
    context["emergency"] = await _emergency_uses(request, actor, user_id)
    return web.render_form(request, "admin_user.html", context)


async def _emergency_uses(
    request: Request, actor: AdminActor, user_id: int
) -> dict[str, object] | None:
    """The user's last uses of emergency access, for roles that see them (not helpdesk)."""
    service = web_state(request).services.emergency
    page = await to_thread.run_sync(partial(service.uses_of, actor, user_id, USER_EMERGENCY_USES))
    if page is None:
        return None
    rows = [review_row(request, item, {}) for item in page.items]
    return {"rows": rows, "more": page.next_cursor is not None}


def _not_found(request: Request) -> Response:
    web = web_state(request)
    context = {
        "title": web.translate(request, messages.PAGE_TITLES[404]),
        "message": web.translate(request, messages.PAGE_MESSAGES[404]),
    }
    return web.pages.render(request, "error.html", context, status_code=404)


def _back(user_id: int, notice: str) -> Response:
    return see_other(f"/admin/users/{user_id}?notice={notice}")


async def _change(request: Request, user_id: int, notice: str, change: ChangeFn) -> Response:
    """Run one change from a user's page and come back to it with a notice."""
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    try:
        outcome = await to_thread.run_sync(partial(change, web, actor, form))
    except NotFoundError:
        return _back(user_id, "not_found")
    except ValidationError as exc:
        return _back(user_id, "self" if exc.details.get("reason") == "self" else "invalid")
    return _back(user_id, outcome or notice)


ChangeFn = Callable[[WebState, AdminActor, dict[str, str]], str | None]


def _confirmed(form: dict[str, str]) -> bool:
    return form.get("confirm") == "yes"


@router.post("/users/{user_id:int}/edit")
async def edit_user(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, form: dict[str, str]) -> None:
        roles = form.get("roles", "").replace(",", " ").split()
        changes = UserChanges(
            display_name=form.get("display_name", ""),
            email=form.get("email", ""),
            professional_id=form.get("professional_id", ""),
            roles=roles,
        )
        web.services.admin.update_user(actor, user_id, changes)

    return await _change(request, user_id, "updated", change)


@router.post("/users/{user_id:int}/disable")
async def disable_user(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, form: dict[str, str]) -> str | None:
        if not _confirmed(form):
            return "confirm_required"
        web.services.admin.set_enabled(actor, user_id, enabled=False)
        return None

    return await _change(request, user_id, "disabled", change)


@router.post("/users/{user_id:int}/enable")
async def enable_user(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, _form: dict[str, str]) -> None:
        web.services.admin.set_enabled(actor, user_id, enabled=True)

    return await _change(request, user_id, "enabled", change)


@router.post("/users/{user_id:int}/factors/reset")
async def reset_factors(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, form: dict[str, str]) -> str | None:
        if not _confirmed(form):
            return "confirm_required"
        if not form.get("reason", "").strip():
            return "reason_required"
        web.services.admin.reset_factors(actor, user_id, form["reason"])
        return None

    return await _change(request, user_id, "factors_reset", change)


@router.post("/users/{user_id:int}/sessions/{public_id}/revoke")
async def revoke_session(request: Request, user_id: int, public_id: str) -> Response:
    def change(web: WebState, actor: AdminActor, form: dict[str, str]) -> str | None:
        if not _confirmed(form):
            return "confirm_required"  # the user is signed out mid-work: never by a stray click
        admin = web.services.admin
        for session in admin.sessions_of(actor, user_id):
            if session_id(session) == public_id:
                return None if admin.revoke_session(actor, user_id, session.token_hash) else ""
        return "not_found"

    return await _change(request, user_id, "session_revoked", change)


@router.post("/users/{user_id:int}/sessions/revoke-all")
async def revoke_all(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, form: dict[str, str]) -> str | None:
        if not _confirmed(form):
            return "confirm_required"
        web.services.admin.revoke_all_sessions(actor, user_id)
        return None

    return await _change(request, user_id, "sessions_revoked", change)


@router.post("/users/{user_id:int}/throttle/clear")
async def clear_throttle(request: Request, user_id: int) -> Response:
    def change(web: WebState, actor: AdminActor, _form: dict[str, str]) -> str | None:
        user = web.services.admin.user(actor, user_id)
        try:
            web.services.admin.clear_throttle(actor, user.username)
        except NotFoundError:
            return "not_found"
        return None

    return await _change(request, user_id, "throttle_cleared", change)


@router.post("/audit/verify")
async def verify_audit(request: Request) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    _, _, actor = post
    report = await to_thread.run_sync(
        partial(web_state(request).services.admin.verify_audit, actor)
    )
    return await _audit_page(request, actor, report)


@router.get("/audit/export")
async def export_audit(request: Request) -> Response:
    """The trail as JSON Lines, streamed (a year of records never sits in memory)."""
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    since = _day(_param(request, "since"))
    query = _audit_query(request)
    filtered = query if any(_audit_filters(query).values()) else None
    lines = web.services.admin.export_audit(actor, since, filtered)
    first = await to_thread.run_sync(
        partial(next, lines, "")
    )  # the permission check runs before streaming
    body = iterate_in_threadpool(_chain(first, lines))
    name = f"quivive-audit-{web.services.clock.now():%Y%m%d-%H%M%S}.jsonl"
    headers = {"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"}
    return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    if first:
        yield first
    yield from rest


@router.get("/audit")
async def audit(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    return await _audit_page(request, actor, None)


def _day(raw: str, days: int = 0) -> datetime | None:
    """Midnight UTC of a YYYY-MM-DD date (``days`` later), or None when it is not one."""
    try:
        moment = datetime.combine(date.fromisoformat(raw), time(0), tzinfo=UTC) if raw else None
    except ValueError:
        return None
    return moment + timedelta(days=days) if moment else None


def _audit_query(request: Request) -> AuditQuery:
    """The audit filters of the page's query string; "to" is a whole day, so until its end."""
    before = _param(request, "before")
    outcome = _param(request, "outcome")
    since, until = _day(_param(request, "from")), _day(_param(request, "to"), days=1)
    return AuditQuery(
        actor=_param(request, "actor") or None,
        subject=_param(request, "subject") or None,
        action=_param(request, "action")[:64] or None,
        outcome=outcome if outcome in ("success", "failure") else None,
        before=min(int(before), 2**62) if before.isdigit() else None,
        limit=PAGE_SIZE,
        since=format_time(since) if since else None,
        until=format_time(until) if until else None,
        source=_param(request, "source")[:64] or None,
    )


def _audit_filters(query: AuditQuery) -> dict[str, str]:
    """The filters as the form shows them (dates back as YYYY-MM-DD)."""
    to = (parse_time(query.until) - timedelta(days=1)).date().isoformat() if query.until else ""
    return {
        "actor": query.actor or "",
        "subject": query.subject or "",
        "action": query.action or "",
        "outcome": query.outcome or "",
        "from": query.since[:10] if query.since else "",
        "to": to,
        "source": query.source or "",
    }


async def _audit_page(request: Request, actor: AdminActor, report: VerifyReport | None) -> Response:
    web = web_state(request)
    query = _audit_query(request)
    page = await to_thread.run_sync(partial(web.services.admin.audit_page, actor, query))
    filters = _audit_filters(query)
    following = None
    if page.next_cursor is not None:
        kept = {key: value for key, value in filters.items() if value}
        following = "/admin/audit?" + urlencode({**kept, "before": page.next_cursor})
    context = _context(
        request, actor, page=page, filters=filters, next_url=following, report=report
    )
    return web.render_form(request, "admin_audit.html", context)


@router.get("/policies")
async def policies(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    rules = await to_thread.run_sync(partial(web.services.admin.mfa_rules, actor))
    today = web.services.clock.now().date().isoformat()
    translate = partial(web.translate, request)
    values = await to_thread.run_sync(partial(admin_policy_settings.in_force, web, actor))
    refused = policy_texts.refusal(request.query_params, translate)
    settings = policy_texts.rows(values, translate)
    context = _context(request, actor, rules=rules, today=today, settings=settings, refused=refused)
    return web.render_form(request, "admin_policies.html", context)


@router.post("/policies/mfa")
async def set_mfa_rule(request: Request) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    try:
        rule = MfaRule(
            role=form.get("role", ""),
            enforce_from=date.fromisoformat(form.get("from", "")),
            grace_days=int(form.get("grace_days") or "0"),
            phishing_resistant=form.get("phishing_resistant") == "yes",
        )
        if not 0 <= rule.grace_days <= MAX_GRACE_DAYS:
            raise ValueError("grace days out of range")
        await to_thread.run_sync(partial(web.services.admin.set_mfa_rule, actor, rule))
    except (ValueError, ValidationError):
        return see_other("/admin/policies?notice=invalid")
    return see_other("/admin/policies?notice=policy_saved")
