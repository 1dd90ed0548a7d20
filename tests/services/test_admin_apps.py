"""Applications from the console and API: the role table, the shared checks, both databases."""

from __future__ import annotations

import pytest

from quivive.composition import Services
from quivive.domain.clients import GrantType
from quivive.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from quivive.services.admin import AdminActor
from quivive.services.mfa import Origin
from quivive.services.oidc_clients import ClientChanges, NewClient
from support.quivive import RecordingAudit

ADMIN = AdminActor("root", frozenset({"admin"}), 1, Origin("10.1.1.1", "browser", "req"))
AUDITOR = AdminActor("reader", frozenset({"auditor"}), 2)
HELPDESK = AdminActor("desk", frozenset({"helpdesk"}), 3)
APP = NewClient("Labo", redirect_uris=("https://labo.hopital.example/cb",))


def test_an_edit_goes_through_the_registration_checks(
    services: Services, audit: RecordingAudit
) -> None:
    apps = services.apps
    client, secret = apps.create_client(ADMIN, APP)
    assert secret is not None
    logout = "https://labo.hopital.example/bye"

    changed = apps.update_client(
        ADMIN,
        client.client_id,
        ClientChanges(
            name="Laboratoire",
            grant_types=("authorization_code",),
            backchannel_logout_uri=logout,
            scopes=("openid", "healthcare"),
        ),
    )
    again = apps.update_client(ADMIN, client.client_id, ClientChanges(backchannel_logout_uri=""))

    stored = apps.client(AUDITOR, client.client_id)
    assert stored == again
    assert (stored.name, stored.grant_types, stored.scopes) == (
        "Laboratoire",
        (GrantType.AUTHORIZATION_CODE,),
        ("openid", "healthcare"),
    )
    assert changed.backchannel_logout_uri == logout
    assert stored.backchannel_logout_uri is None
    assert stored.secret_hash == client.secret_hash  # an edit never touches the secret
    event = next(e for e in audit.events if e.action == "client.updated")
    assert (event.actor, event.source_address, event.request_id) == ("root", "10.1.1.1", "req")
    with pytest.raises(ValidationError) as refused:
        apps.update_client(ADMIN, client.client_id, ClientChanges(redirect_uris=()))
    assert refused.value.details["field"] == "redirect_uri"
    with pytest.raises(ValidationError):
        apps.update_client(ADMIN, client.client_id, ClientChanges(grant_types=("implicit",)))
    with pytest.raises(NotFoundError):
        apps.update_client(ADMIN, "nope", ClientChanges(name="x"))


def test_names_are_unique(services: Services) -> None:
    services.apps.create_client(ADMIN, APP)
    other, _ = services.apps.create_client(ADMIN, NewClient("Autre", APP.redirect_uris))

    with pytest.raises(ConflictError):
        services.apps.create_client(ADMIN, APP)
    with pytest.raises(ConflictError):
        services.apps.update_client(ADMIN, other.client_id, ClientChanges(name="Labo"))


@pytest.mark.parametrize(
    ("actor", "reads"), [(AUDITOR, True), (HELPDESK, False)], ids=["auditor", "helpdesk"]
)
def test_only_admins_change_applications(
    services: Services, audit: RecordingAudit, actor: AdminActor, reads: bool
) -> None:
    client, _ = services.apps.create_client(ADMIN, APP)
    changes = [
        lambda: services.apps.create_client(actor, NewClient("X", APP.redirect_uris)),
        lambda: services.apps.update_client(actor, client.client_id, ClientChanges(name="Y")),
        lambda: services.apps.rotate_secret(actor, client.client_id),
        lambda: services.apps.remove_client(actor, client.client_id),
        lambda: services.apps.add_rule(actor, {"host": "a.example"}),
        lambda: services.apps.remove_rule(actor, 1),
    ]
    for change in changes:
        with pytest.raises(PermissionDenied):
            change()
    if reads:
        assert services.apps.clients(actor) == [client]
        assert services.apps.rules(actor) == []
    else:
        with pytest.raises(PermissionDenied):
            services.apps.clients(actor)
        with pytest.raises(PermissionDenied):
            services.apps.rules(actor)

    refused = [e for e in audit.events if e.action == "admin.forbidden"]
    assert len(refused) == len(changes) + (0 if reads else 2)
    assert {e.actor for e in refused} == {actor.name}
    assert services.apps.client(ADMIN, client.client_id) == client
