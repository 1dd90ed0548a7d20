"""Texts of the admin console, marked for translation (French in locales/fr)."""

from __future__ import annotations

from quivive.web.i18n import N_

PASSKEY_REQUIRED = N_(
    "The administration console needs a sign-in with a passkey (or a security key), which a "
    "fake site cannot steal. Add one on your account page, sign out, then sign in with it."
)
NO_ROLE = N_("Your account has no administration role.")
FORBIDDEN = N_("Your administration role does not allow this action. The attempt was recorded.")
RECOVERY_ACTIVE = N_(
    "Recovery access: the passkey requirement is lifted for you until %(until)s. "
    "Add a passkey on your account page now."
)

NOTICES = {
    "created": N_("The user was created."),
    "updated": N_("The changes were saved."),
    "disabled": N_("The account is disabled and its sessions have ended."),
    "enabled": N_("The account is enabled."),
    "factors_reset": N_(
        "The sign-in methods were removed and the sessions ended; the user will have to enrol a "
        "second factor at next sign-in, before anything else."
    ),
    "session_revoked": N_("The session was ended."),
    "sessions_revoked": N_("All the user's sessions were ended."),
    "throttle_cleared": N_("The failed sign-in counters were cleared."),
    "confirm_required": N_("Tick the confirmation box to do this."),
    "reason_required": N_("Give a reason."),
    "not_found": N_("Nothing to do: it no longer exists."),
    "self": N_("You cannot do this to your own account."),
    "invalid": N_("A value was refused: check the fields and try again."),
    "policy_saved": N_("The rule is saved and applies at once on every server."),
    "setting_saved": N_(
        "The setting is saved: new sessions and sign-ins follow it at once here, and within 30 "
        "seconds on the other servers. The change is in the audit trail."
    ),
    "setting_reset": N_("The setting follows the configuration again."),
}

STATUS_LABELS = {"active": N_("active"), "disabled": N_("disabled")}
FACTOR_FILTERS = {
    "none": N_("password only"),
    "any": N_("with a second factor"),
    "passkey": N_("with a passkey"),
}
