"""Texts of the forward-auth gate's pages, marked for translation (French in locales/fr)."""

from __future__ import annotations

from quivive.domain.gate import Reason
from quivive.web.i18n import N_

DENIED_TITLE = N_("Access refused")
ADDRESS_LABEL = N_("Address requested:")
SIGN_OUT_HINT = N_("To use another account, sign out first.")

REASONS: dict[Reason, str] = {
    Reason.NONE: N_("You may not open this page."),
    Reason.UNKNOWN_HOST: N_(
        "This address is not protected by any access rule, so it is refused. "
        "Please tell your IT department."
    ),
    Reason.MISSING_ROLE: N_(
        "Your account does not have a role that may open this application. "
        "If you need it for your work, ask your IT department."
    ),
    Reason.OUTSIDE_NETWORKS: N_(
        "This application can only be opened from the establishment's networks."
    ),
    Reason.NOT_SIGNED_IN: N_("Please sign in first."),
    Reason.LEVEL_TOO_LOW: N_(
        "This application needs a stronger sign-in than your account can give "
        "(for example a security key). Ask your IT department."
    ),
    Reason.SIGN_IN_UNFINISHED: N_("Please finish signing in first."),
    Reason.EMERGENCY_REFUSED: N_(
        "This application does not accept emergency access. Sign in with your second factor "
        "as soon as you have it again, or ask a colleague."
    ),
    Reason.UNTRUSTED_CALLER: N_("This address is for the reverse proxy only."),
    Reason.BAD_REQUEST: N_(
        "The reverse proxy did not say which address was requested. Please tell your IT department."
    ),
    Reason.RETURN_URL_REFUSED: N_(
        "The return address is not one of the establishment's applications, so it is refused."
    ),
}
