"""Texts of the console's applications and gate rules pages (French in locales/fr).

A refusal is explained by the field it concerns, in plain words; the service's own (English,
technical) reason follows in brackets for whoever needs the detail.
"""

from __future__ import annotations

from quivive.web.i18n import N_

NOTICES = {
    "created": N_("The application is registered."),
    "updated": N_("The changes were saved."),
    "removed": N_("The application was removed: its tokens no longer work."),
    "rule_created": N_("The rule is saved and applies at once on every server."),
    "rule_updated": N_("The rule is saved and applies at once on every server."),
    "rule_removed": N_(
        "The rule was removed. If the configuration file has a rule for the same host and path, "
        "that one applies again."
    ),
    "confirm_required": N_("Tick the confirmation box to do this."),
    "not_found": N_("Nothing to do: it no longer exists."),
}

SECRET_ONCE = N_(
    "Copy the secret now and store it in the application's configuration: it is shown only on "
    "this page and can never be displayed again. If it is lost, rotate it."
)

CLIENT_FIELDS = {
    "name": N_("Give the application a name of 1 to 200 characters."),
    "redirect_uri": N_(
        "Each redirect address must be a complete address starting with https:// (http:// only "
        "for localhost), without spaces or #fragment. Signing in from a browser needs at least "
        "one."
    ),
    "post_logout_redirect_uri": N_(
        "Each address after sign-out must be a complete address starting with https:// (http:// "
        "only for localhost), without spaces or #fragment."
    ),
    "backchannel_logout_uri": N_(
        "The sign-out notification address must be a complete address starting with https://."
    ),
    "grant_types": N_(
        "Choose the ways of signing in among those offered; an application without a secret "
        "cannot use client credentials."
    ),
    "scopes": N_("Choose the scopes among those offered."),
    "auth_method": N_("Choose how the application proves itself among the methods offered."),
    "signing_alg": N_("Choose RS256 or ES256 for the ID token signature."),
    "jwks": N_(
        'private_key_jwt needs the application\'s public keys, as JWKS JSON: {"keys": [...]}.'
    ),
    "secret": N_("This application has no secret (it is public or signs with its own key)."),
}
CLIENT_NAME_TAKEN = N_("Another application already has this name: choose another one.")

RULE_FIELDS = {
    "host": N_(
        "The host must be a domain name such as dpi.hopital.example, or *.hopital.example for "
        "every sub-domain."
    ),
    "path_prefix": N_("The path must start with / (for example /admin)."),
    "roles": N_("Roles are single words separated by spaces or commas."),
    "min_aal": N_(
        "The level must be 1 (password), 2 (two factors) or 3 (security key or passkey)."
    ),
    "networks": N_(
        "Networks are address ranges such as 10.0.0.0/8 or 192.168.1.0/24, separated by spaces "
        "or commas."
    ),
    "networks_min_aal": N_(
        "The level inside the networks must be 1, 2 or 3, and needs the networks to be listed."
    ),
    "deny_outside_networks": N_(
        "Refusing access from outside needs the establishment's networks to be listed."
    ),
    "bypass": N_("Each public path must start with / (for example /health)."),
}
RULE_TAKEN = N_("A rule for this host and path already exists: edit that one instead.")
INVALID = N_("A value was refused: check the fields and try again.")
