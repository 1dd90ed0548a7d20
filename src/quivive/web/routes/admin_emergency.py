"""The emergency-access review queue: console pages under ``/admin/emergency`` and the API's
``/api/admin/v1/emergency-accesses``.

The security officer (``admin``) marks each use justified or unjustified with a comment;
``auditor`` only reads the queue. Both go through ``EmergencyAccessService``, which checks the
role table and audits the review with the administrator as actor.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from quivive.domain.admin_roles import Action
from quivive.domain.emergency import (
    MAX_REVIEW_COMMENT_LENGTH,
    EmergencyAccess,
    ReviewStatus,
)
from quivive.errors import ConflictError, NotFoundError, ValidationError
from quivive.web.admin_access import console_actor, console_post
from quivive.web.emergency_rows import STATUS_LABELS, review_row
from quivive.web.i18n import N_
from quivive.web.routes.admin_api import _ERRORS, Actor, Cursor, Limit, Web
from quivive.web.routes.admin_console import PAGE_SIZE, _context
from quivive.web.state import see_other, web_state

router = APIRouter(prefix="/admin/emergency", include_in_schema=False)
api_router = APIRouter(prefix="/emergency-accesses", tags=["emergency access"], responses=_ERRORS)

MAX_ACCESS_ID = 2**31 - 1
NOTICES = {
    "reviewed": N_("The review is recorded."),
    "already_reviewed": N_("This use was already reviewed."),
    "invalid": N_("Choose justified or unjustified and write a comment."),
    "confirm_required": N_("Tick the confirmation box to do this."),
}


# --- console ---------------------------------------------------------------------------------


@router.get("")
async def queue(request: Request) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    raw_status = request.query_params.get("status", "")
    status = ReviewStatus(raw_status) if raw_status in set(ReviewStatus) else None
    before = request.query_params.get("before", "")
    cursor = min(int(before), MAX_ACCESS_ID) if before.isdigit() else None
    raw_user = request.query_params.get("user_id", "")
    user_id = min(int(raw_user), MAX_ACCESS_ID) if raw_user.isdigit() else None
    service = web.services.emergency
    page = await to_thread.run_sync(
        partial(service.page, actor, status=status, before=cursor, limit=PAGE_SIZE, user_id=user_id)
    )
    names = await to_thread.run_sync(service.user_names, page.items)
    following = None
    if page.next_cursor is not None:
        following = f"/admin/emergency?status={raw_status}&before={page.next_cursor}"
        following += f"&user_id={user_id}" if user_id else ""
    context = _context(
        request,
        actor,
        items=[review_row(request, item, names) for item in page.items],
        status=status.value if status else "",
        user_id=user_id,
        statuses=[(s.value, web.translate(request, label)) for s, label in STATUS_LABELS.items()],
        next_url=following,
        **_notice(request),
    )
    return web.render_form(request, "admin_emergency.html", context)


@router.get("/{access_id:int}")
async def detail(request: Request, access_id: int) -> Response:
    actor = await console_actor(request)
    if isinstance(actor, Response):
        return actor
    web = web_state(request)
    service = web.services.emergency
    try:
        item = await to_thread.run_sync(service.get, actor, min(access_id, MAX_ACCESS_ID))
    except NotFoundError:
        return see_other("/admin/emergency")
    names = await to_thread.run_sync(service.user_names, [item])
    context = _context(
        request,
        actor,
        item=review_row(request, item, names),
        max_comment=MAX_REVIEW_COMMENT_LENGTH,
        **_notice(request),
    )
    return web.render_form(request, "admin_emergency_detail.html", context)


@router.post("/{access_id:int}/review")
async def review(request: Request, access_id: int) -> Response:
    post = await console_post(request)
    if isinstance(post, Response):
        return post
    web, form, actor = post
    target = f"/admin/emergency/{access_id}"
    # A review cannot be undone: ask for the box, once the actor is known to be allowed to.
    if refused := post.unconfirmed(Action.REVIEW_EMERGENCY, target):
        return refused
    decide = partial(
        web.services.emergency.review,
        actor,
        min(access_id, MAX_ACCESS_ID),
        form.get("status", ""),
        form.get("comment", "")[: MAX_REVIEW_COMMENT_LENGTH * 2],
    )
    try:
        await to_thread.run_sync(decide)
    except ValidationError:
        return see_other(f"{target}?notice=invalid")
    except ConflictError:
        return see_other(f"{target}?notice=already_reviewed")
    except NotFoundError:
        return see_other("/admin/emergency")
    return see_other(f"{target}?notice=reviewed")


def _notice(request: Request) -> dict[str, object]:
    text = NOTICES.get(request.query_params.get("notice", ""))
    return {"notice": web_state(request).translate(request, text)} if text else {}


# --- admin API -------------------------------------------------------------------------------


class EmergencyAccessOut(BaseModel):
    id: int
    username: str | None
    started_at: datetime
    expires_at: datetime
    reason: str = Field(description="patient_emergency, factor_forgotten, factor_lost, ...")
    justification: str
    witness_name: str | None
    witness_username: str | None = Field(description="Set in two-person mode")
    source_address: str | None
    review_status: Literal["pending", "justified", "unjustified"]
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None

    @classmethod
    def of(cls, item: EmergencyAccess, names: dict[int, str]) -> EmergencyAccessOut:
        return cls(
            id=item.id,
            username=names.get(item.user_id),
            started_at=item.started_at,
            expires_at=item.expires_at,
            reason=item.reason,
            justification=item.justification,
            witness_name=item.witness_name,
            witness_username=names.get(item.witness_user_id or 0),
            source_address=item.source_address,
            review_status=item.review_status.value,
            reviewed_by=names.get(item.reviewed_by_user_id or 0),
            reviewed_at=item.reviewed_at,
            review_comment=item.review_comment,
        )


class EmergencyAccessList(BaseModel):
    items: list[EmergencyAccessOut]
    next_cursor: str | None


class EmergencyReview(BaseModel):
    status: Literal["justified", "unjustified"]
    comment: str = Field(min_length=1, max_length=MAX_REVIEW_COMMENT_LENGTH)


AccessId = Annotated[int, Path(ge=1, le=MAX_ACCESS_ID)]


@api_router.get("", response_model=EmergencyAccessList)
def list_accesses(
    web: Web,
    actor: Actor,
    cursor: Cursor = None,
    limit: Limit = 50,
    status: Annotated[ReviewStatus | None, Query(description="pending, justified, ...")] = None,
    user_id: Annotated[
        int | None, Query(ge=1, le=MAX_ACCESS_ID, description="Only this user's uses")
    ] = None,
) -> EmergencyAccessList:
    """Uses of emergency access, newest first (admins and auditors)."""
    service = web.services.emergency
    before = None if cursor is None else min(int(cursor), MAX_ACCESS_ID)
    page = service.page(actor, status=status, before=before, limit=limit, user_id=user_id)
    names = service.user_names(page.items)
    following = None if page.next_cursor is None else str(page.next_cursor)
    items = [EmergencyAccessOut.of(item, names) for item in page.items]
    return EmergencyAccessList(items=items, next_cursor=following)


@api_router.get("/{access_id}", response_model=EmergencyAccessOut)
def get_access(web: Web, actor: Actor, access_id: AccessId) -> EmergencyAccessOut:
    service = web.services.emergency
    item = service.get(actor, access_id)
    return EmergencyAccessOut.of(item, service.user_names([item]))


@api_router.post("/{access_id}/review", response_model=EmergencyAccessOut)
def review_access(
    web: Web, actor: Actor, access_id: AccessId, body: EmergencyReview
) -> EmergencyAccessOut:
    """Mark a pending use justified or unjustified (admins only; 409 if already reviewed)."""
    service = web.services.emergency
    item = service.review(actor, access_id, body.status, body.comment)
    return EmergencyAccessOut.of(item, service.user_names([item]))
