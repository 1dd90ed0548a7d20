"""How a use of emergency access reads in the console: the review queue and a user's page."""

from __future__ import annotations

from starlette.requests import Request

from quivive.domain.emergency import EmergencyAccess, ReviewStatus
from quivive.web.i18n import N_
from quivive.web.routes.emergency import REASON_LABELS
from quivive.web.state import web_state

STATUS_LABELS = {
    ReviewStatus.PENDING: N_("to review"),
    ReviewStatus.JUSTIFIED: N_("justified"),
    ReviewStatus.UNJUSTIFIED: N_("unjustified"),
}


def review_row(request: Request, item: EmergencyAccess, names: dict[int, str]) -> dict[str, object]:
    """One use with its people named and its reason and status in the reader's language."""
    web = web_state(request)
    label = next((text for code, text in REASON_LABELS.items() if code.value == item.reason), "")
    return {
        "access": item,
        "user": names.get(item.user_id, "?"),
        "witness_user": names.get(item.witness_user_id or 0),
        "reviewer": names.get(item.reviewed_by_user_id or 0),
        "reason": web.translate(request, label) if label else item.reason,
        "status": web.translate(request, STATUS_LABELS[item.review_status]),
    }
