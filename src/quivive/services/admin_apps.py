"""The console's and API's operations on applications: OIDC clients and forward-auth gate rules.

Each checks the actor's role first (``AdminService.authorize``: a refusal is audited as
``admin.forbidden``), then calls the service the CLI uses too (``ClientRegistry``,
``GateRuleService``), so validation is the same from every door. Changes are audited there, with
the administrator as actor and the request's origin.
"""

from __future__ import annotations

from collections.abc import Mapping

from quivive.domain.admin_roles import Action
from quivive.domain.clients import Client
from quivive.services.admin import AdminActor, AdminService
from quivive.services.gate_rules import GateRuleService, RuleInForce
from quivive.services.oidc_clients import ClientChanges, ClientRegistry, NewClient


class AdminAppsService:
    def __init__(
        self, admin: AdminService, clients: ClientRegistry, rules: GateRuleService
    ) -> None:
        self._admin = admin
        self._clients = clients
        self._rules = rules

    # --- OIDC clients ---------------------------------------------------------------------------

    def clients(self, actor: AdminActor) -> list[Client]:
        self._admin.authorize(actor, Action.VIEW_APPS)
        return self._clients.list()

    def client(self, actor: AdminActor, client_id: str) -> Client:
        self._admin.authorize(actor, Action.VIEW_APPS)
        return self._clients.existing(client_id)

    def create_client(self, actor: AdminActor, new: NewClient) -> tuple[Client, str | None]:
        """The new client and its secret, which is never shown again."""
        self._admin.authorize(actor, Action.MANAGE_APPS, new.name[:256])
        return self._clients.register(new, actor=actor.name, origin=actor.origin)

    def update_client(self, actor: AdminActor, client_id: str, changes: ClientChanges) -> Client:
        self._admin.authorize(actor, Action.MANAGE_APPS, client_id[:256])
        return self._clients.update(client_id, changes, actor=actor.name, origin=actor.origin)

    def rotate_secret(self, actor: AdminActor, client_id: str) -> tuple[Client, str]:
        self._admin.authorize(actor, Action.MANAGE_APPS, client_id[:256])
        client = self._clients.existing(client_id)
        return self._clients.rotate_secret(client.client_id, actor=actor.name, origin=actor.origin)

    def remove_client(self, actor: AdminActor, client_id: str) -> Client:
        self._admin.authorize(actor, Action.MANAGE_APPS, client_id[:256])
        client = self._clients.existing(client_id)
        return self._clients.remove(client.client_id, actor=actor.name, origin=actor.origin)

    # --- forward-auth gate rules ----------------------------------------------------------------

    def rules(self, actor: AdminActor) -> list[RuleInForce]:
        self._admin.authorize(actor, Action.VIEW_APPS)
        return self._rules.in_force()

    def rule(self, actor: AdminActor, rule_id: int) -> RuleInForce:
        self._admin.authorize(actor, Action.VIEW_APPS)
        return self._rules.get(rule_id)

    def add_rule(self, actor: AdminActor, entry: Mapping[str, object]) -> RuleInForce:
        self._admin.authorize(actor, Action.MANAGE_APPS, str(entry.get("host", ""))[:256])
        return self._rules.add(entry, actor=actor.name, origin=actor.origin)

    def update_rule(
        self, actor: AdminActor, rule_id: int, entry: Mapping[str, object]
    ) -> RuleInForce:
        self._admin.authorize(actor, Action.MANAGE_APPS, f"gate_rule:{rule_id}")
        return self._rules.update(rule_id, entry, actor=actor.name, origin=actor.origin)

    def remove_rule(self, actor: AdminActor, rule_id: int) -> None:
        self._admin.authorize(actor, Action.MANAGE_APPS, f"gate_rule:{rule_id}")
        self._rules.remove(rule_id, actor=actor.name, origin=actor.origin)
